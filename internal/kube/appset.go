package kube

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Regenerate makes env's Application of svc follow git now, as the push
// webhook GitHub sends to Argo CD does: it refreshes the ApplicationSet
// smp-ENV, whose git generator reads each environment file's
// chart.version into the Application, waits until the Application pins
// chart (when chart is not empty), then asks Argo CD to refresh the
// Application. Without it, a commit that changes chart.version (a rollback
// to a release built with another chart) is synced with the Application's
// old chart until the ApplicationSet controller next polls git (3 minutes
// by default). After timeout it fails with the chart the Application pins.
func (c *Client) Regenerate(ctx context.Context, env, svc, chart string, timeout time.Duration) error {
	set := "smp-" + env
	if err := c.RefreshApplicationSet(ctx, env); err != nil {
		return err
	}
	app := AppName(env, svc)
	if chart != "" {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			u, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).Get(ctx, app, metav1.GetOptions{})
			if err != nil && ctx.Err() == nil {
				return c.explain(err, "Application "+c.ArgoNamespace+"/"+app)
			}
			got := ""
			if err == nil {
				if got = PinnedChart(u); got == chart {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("ApplicationSet %s/%s did not regenerate %s with chart %s within %s (it pins %q): check the ApplicationSet controller's log and the ApplicationSet's conditions", c.ArgoNamespace, set, app, chart, timeout, got)
			case <-tick.C:
			}
		}
	}
	if _, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).Patch(ctx, app, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`), metav1.PatchOptions{}); err != nil {
		return c.explain(err, "refresh Application "+c.ArgoNamespace+"/"+app)
	}
	return nil
}

// RefreshApplicationSet asks the ApplicationSet controller to reconcile
// smp-ENV now, with the annotation Argo CD's webhook handler sets.
func (c *Client) RefreshApplicationSet(ctx context.Context, env string) error {
	refresh := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/application-set-refresh":"true"}}}`)
	set := "smp-" + env
	if _, err := c.dyn.Resource(ApplicationSetResource).Namespace(c.ArgoNamespace).Patch(ctx, set, types.MergePatchType, refresh, metav1.PatchOptions{}); err != nil {
		return c.explain(err, "refresh ApplicationSet "+c.ArgoNamespace+"/"+set)
	}
	return nil
}

// PinnedChart is the chart version the Application's first source (the
// chart; the second is smp-gitops' values) pins; "" when it has none.
func PinnedChart(u *unstructured.Unstructured) string {
	srcs, _, _ := unstructured.NestedSlice(u.Object, "spec", "sources")
	if len(srcs) == 0 {
		return ""
	}
	c, _ := srcs[0].(map[string]any)
	v, _ := c["targetRevision"].(string)
	return v
}
