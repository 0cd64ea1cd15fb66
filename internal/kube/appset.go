package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// RefreshEvery is how often WaitGenerated asks the ApplicationSet
// controller again while the Application is not what the caller waits for.
const RefreshEvery = 10 * time.Second

// Regenerate makes env's Application of svc follow git now, as the push
// webhook GitHub sends to Argo CD does: it refreshes the ApplicationSet
// smp-ENV, whose git generator reads each environment file's
// chart.version into the Application, waits until the Application pins
// chart (with chart empty, until the controller has generated the
// Applications, as Generate does), then asks Argo CD to refresh the
// Application. Without it, a commit that changes chart.version (a rollback
// to a release built with another chart) is synced with the Application's
// old chart until the ApplicationSet controller next polls git (3 minutes
// by default). After timeout it fails with the chart the Application pins.
func (c *Client) Regenerate(ctx context.Context, env, svc, chart string, timeout time.Duration) error {
	app := AppName(env, svc)
	// An Application that does not exist (a service or environment name
	// wrong, or Argo CD not installed) is named now, not after timeout.
	if _, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).Get(ctx, app, metav1.GetOptions{}); err != nil {
		return c.explain(err, "Application "+c.ArgoNamespace+"/"+app)
	}
	if chart == "" {
		// No chart to recognise the commit by: wait for the generation
		// itself, as Sync does, or the Application is synced with what
		// git said at its last generation.
		if _, err := c.Generate(ctx, env, timeout); err != nil {
			return err
		}
	} else {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := c.WaitGenerated(wctx, env, svc, func(u *unstructured.Unstructured) error {
			if got := PinnedChart(u); got != chart {
				return fmt.Errorf("it pins %q", got)
			}
			return nil
		})
		cancel()
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				// smp-gitops unreachable is the common cause: say so in the controller's words.
				if set, gerr := c.dyn.Resource(ApplicationSetResource).Namespace(c.ArgoNamespace).Get(ctx, "smp-"+env, metav1.GetOptions{}); gerr == nil && errorOccurred(set).failed() {
					return c.notGenerated(set, env, timeout)
				}
				return fmt.Errorf("ApplicationSet %s/smp-%s did not regenerate %s with chart %s within %s (%w): check the ApplicationSet controller's log and the ApplicationSet's conditions", c.ArgoNamespace, env, app, chart, timeout, err)
			}
			return err
		}
	}
	if _, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).Patch(ctx, app, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`), metav1.PatchOptions{}); err != nil {
		return c.explain(err, "refresh Application "+c.ArgoNamespace+"/"+app)
	}
	return nil
}

// WaitGenerated refreshes the ApplicationSet smp-ENV and waits until it has
// generated the Application of svc and the Application satisfies cond,
// refreshing it again every RefreshEvery until then: a refresh can be lost
// (see RefreshApplicationSet), and the controller itself only requeues an
// ApplicationSet 3 minutes after each reconcile. It returns the Application,
// or, when ctx ends, why the last look did not satisfy the wait.
func (c *Client) WaitGenerated(ctx context.Context, env, svc string, cond func(*unstructured.Unstructured) error) (*unstructured.Unstructured, error) {
	app := AppName(env, svc)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var asked time.Time
	var last error
	for {
		if time.Since(asked) >= RefreshEvery {
			asked = time.Now()
			if err := c.RefreshApplicationSet(ctx, env); err != nil {
				if ctx.Err() == nil {
					return nil, err
				}
			}
		}
		u, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).Get(ctx, app, metav1.GetOptions{})
		switch {
		case err == nil:
			cerr := cond(u)
			if cerr == nil {
				return u, nil
			}
			last = fmt.Errorf("the Application %s/%s: %w", c.ArgoNamespace, app, cerr)
		case ctx.Err() != nil:
			// A call cut short by the deadline says nothing: keep the last answer.
		case apierrors.IsNotFound(err):
			last = fmt.Errorf("the Application %s/%s is not generated yet", c.ArgoNamespace, app)
		default:
			return nil, c.explain(err, "Application "+c.ArgoNamespace+"/"+app)
		}
		select {
		case <-ctx.Done():
			if last == nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w; last: %w", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// refreshAnnotation is the refresh request Argo CD's webhook handler sets
// on an ApplicationSet. Its controller removes it at the end of a reconcile
// that generated the Applications, and keeps it when generation fails (it
// then says why in the condition ErrorOccurred and retries).
const refreshAnnotation = "argocd.argoproj.io/application-set-refresh"

// GenerateWait is how long Generate waits, by default, for the
// ApplicationSet controller to answer a refresh. One reconcile takes about
// a second on a quiet controller, and a generator that fails is answered
// at once (the condition changes); the wait only runs out when the
// controller does not run, so it leaves a loaded one room.
const GenerateWait = time.Minute

// staleErrorWait is how long Generate waits when the ApplicationSet already
// reported a failure before the refresh: a controller that fails the same
// way again does not touch the condition (same message), so nothing
// changes to wait for; a reconcile that succeeds removes the request well
// within it.
const staleErrorWait = 10 * time.Second

// genCondition is an ApplicationSet's ErrorOccurred condition.
type genCondition struct{ status, reason, message, since string }

func (g genCondition) failed() bool { return g.status == "True" }

func errorOccurred(u *unstructured.Unstructured) genCondition {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "ErrorOccurred" {
			continue
		}
		var g genCondition
		g.status, _ = m["status"].(string)
		g.reason, _ = m["reason"].(string)
		g.message, _ = m["message"].(string)
		g.since, _ = m["lastTransitionTime"].(string)
		return g
	}
	return genCondition{}
}

// Generate has the ApplicationSet smp-ENV generate env's Applications from
// the head of smp-gitops now, as GitHub's push webhook to Argo CD does, and
// waits until its controller has done so (the refresh request gone) or
// says why it cannot. Without it, a sync right after a commit syncs what
// the Applications held before the commit, and with smp-gitops unreachable
// it syncs what git said at the last generation, saying nothing of git.
//
// It returns ErrNotGenerated, with the controller's own words and what to
// do, when generation fails or the controller has not answered within wait;
// false without error when env has no ApplicationSet (Applications made
// some other way), which leaves the Applications to the caller as they are.
func (c *Client) Generate(ctx context.Context, env string, wait time.Duration) (bool, error) {
	set := "smp-" + env
	res := c.dyn.Resource(ApplicationSetResource).Namespace(c.ArgoNamespace)
	before, err := res.Get(ctx, set, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, c.explain(err, "read ApplicationSet "+c.ArgoNamespace+"/"+set)
	}
	was := errorOccurred(before)
	if was.failed() {
		wait = min(wait, staleErrorWait)
	}
	if err := c.RefreshApplicationSet(ctx, env); err != nil {
		return false, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := before
	for {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("waiting for ApplicationSet %s/%s to generate from smp-gitops: %w", c.ArgoNamespace, set, ctx.Err())
		case <-deadline.C:
			return false, c.notGenerated(last, env, wait)
		case <-tick.C:
		}
		u, err := res.Get(ctx, set, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return false, c.explain(err, "read ApplicationSet "+c.ArgoNamespace+"/"+set)
		}
		last = u
		// A reconcile that began before the request cannot remove it: its
		// update carries the resourceVersion it read and conflicts.
		if _, pending := u.GetAnnotations()[refreshAnnotation]; !pending {
			return true, nil
		}
		if now := errorOccurred(u); now.failed() && now != was {
			return false, c.notGenerated(u, env, wait)
		}
	}
}

// notGenerated says why the ApplicationSet u did not generate env's
// Applications, and what to do.
func (c *Client) notGenerated(u *unstructured.Unstructured, env string, waited time.Duration) error {
	set := c.ArgoNamespace + "/" + u.GetName()
	gens, _, _ := unstructured.NestedSlice(u.Object, "spec", "generators")
	repo := "smp-gitops"
	if len(gens) > 0 {
		g, _ := gens[0].(map[string]any)
		if url, _, _ := unstructured.NestedString(g, "git", "repoURL"); url != "" {
			repo = url
		}
	}
	if g := errorOccurred(u); g.failed() {
		return fmt.Errorf("%w: ApplicationSet %s in %s: %s (%s, since %s). Its Applications keep what it last generated, which may not be the head of %s: nothing was synced, the previous version keeps serving. Check that Argo CD reaches %s (`argocd repo get %s`, the repository's credentials in namespace %s), then run `smpctl sync %s` again",
			ErrNotGenerated, set, c.where, g.message, g.reason, g.since, repo, repo, repo, c.ArgoNamespace, env)
	}
	return fmt.Errorf("%w: ApplicationSet %s in %s has not generated its Applications within %s of the refresh (the request is still on it, no error reported): check that argocd-applicationset-controller runs (`kubectl -n %s get pods`) and its log; nothing was synced, the previous version keeps serving",
		ErrNotGenerated, set, c.where, waited, c.ArgoNamespace)
}

// RefreshApplicationSet asks the ApplicationSet controller to reconcile
// smp-ENV now, with the annotation Argo CD's webhook handler sets. The
// value is the time of the request, not the webhook's constant "true": the
// controller removes the annotation after a reconcile (with the
// resourceVersion it read when it began), so setting "true" while an earlier
// request's reconcile is under way changes nothing, raises no event, and
// that reconcile, which read git before the caller's commit, then removes
// the request. A new value is a change: the controller queues another
// reconcile, and the earlier one's removal conflicts. Seen in make test: a
// commit's chart version never reached the Application.
func (c *Client) RefreshApplicationSet(ctx context.Context, env string) error {
	refresh := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, refreshAnnotation, time.Now().UTC().Format(time.RFC3339Nano))
	set := "smp-" + env
	if _, err := c.dyn.Resource(ApplicationSetResource).Namespace(c.ArgoNamespace).Patch(ctx, set, types.MergePatchType, refresh, metav1.PatchOptions{}); err != nil {
		return c.explain(err, "refresh ApplicationSet "+c.ArgoNamespace+"/"+set)
	}
	return nil
}

// PinnedChart is the chart version the Application's first source (the
// chart, whose values are the environment file as the ApplicationSet read
// it) pins; "" when it has none.
func PinnedChart(u *unstructured.Unstructured) string {
	srcs, _, _ := unstructured.NestedSlice(u.Object, "spec", "sources")
	if len(srcs) == 0 {
		return ""
	}
	c, _ := srcs[0].(map[string]any)
	v, _ := c["targetRevision"].(string)
	return v
}

// ComparedWith reports whether Argo CD's last comparison of the Application
// (status.sync.comparedTo) rendered its chart with envFile's values: the
// ApplicationSets pass the environment file inline, as the generator read
// it, so an Application Synced with these values is Synced on the commit
// that holds this file (the Application records no commit of smp-gitops).
func ComparedWith(u *unstructured.Unstructured, envFile []byte) (bool, error) {
	srcs, _, _ := unstructured.NestedSlice(u.Object, "status", "sync", "comparedTo", "sources")
	if len(srcs) == 0 {
		return false, nil
	}
	c, _ := srcs[0].(map[string]any)
	inline, _, _ := unstructured.NestedString(c, "helm", "values")
	if inline == "" {
		return false, nil
	}
	var got, want any
	if err := yaml.Unmarshal([]byte(inline), &got); err != nil {
		return false, fmt.Errorf("helm.values of Application %s: %w", u.GetName(), err)
	}
	if err := yaml.Unmarshal(envFile, &want); err != nil {
		return false, fmt.Errorf("environment file: %w", err)
	}
	return reflect.DeepEqual(got, want), nil
}

// CheckSources checks what the ApplicationSet smp-ENV generated for svc:
// the chart alone, from chartRepo at chart, with the environment file the
// generator read from smp-gitops (repoURL) as its values, in the same read
// as the pin, and env's namespace as its destination.
func CheckSources(u *unstructured.Unstructured, env, svc, repoURL, chartRepo, chart string) error {
	srcs, _, _ := unstructured.NestedSlice(u.Object, "spec", "sources")
	if len(srcs) != 1 {
		return fmt.Errorf("%d sources, want the chart alone", len(srcs))
	}
	c, _ := srcs[0].(map[string]any)
	if c["repoURL"] != chartRepo || c["chart"] != svc || c["targetRevision"] != chart {
		return fmt.Errorf("chart source %v", c)
	}
	inline, _, _ := unstructured.NestedString(c, "helm", "values")
	var values struct {
		Chart struct {
			Version string `json:"version"`
		} `json:"chart"`
		Image map[string]any `json:"image"`
	}
	if err := json.Unmarshal([]byte(inline), &values); err != nil || values.Chart.Version != chart || values.Image == nil {
		return fmt.Errorf("helm.values %q: want environments/%s/%s.yaml as the generator read it from %s (chart.version %s, an image)", inline, env, svc, repoURL, chart)
	}
	if ns, _, _ := unstructured.NestedString(u.Object, "spec", "destination", "namespace"); ns != Namespace(env) {
		return fmt.Errorf("destination namespace %q", ns)
	}
	return nil
}
