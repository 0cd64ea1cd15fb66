//go:build integration

package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// Regenerate on a real API server, with the test as the ApplicationSet
// controller, one that loses the refresh the way the real one did in make
// test: an earlier request's reconcile, which read git before the commit,
// is under way when the refresh comes, and removes the annotation when it
// ends. Argo CD's own webhook sets "true", which changes nothing when
// "true" is already there: no event, and the earlier reconcile's removal
// wins. Regenerate's refresh must be a change (the earlier removal
// conflicts), and a refresh that is lost all the same is asked again until
// the Application pins the chart.
func regenerateOutlastsAControllerThatLosesTheRefresh(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	k := argoClient(ctx, t, c)
	sets := k.dyn.Resource(ApplicationSetResource).Namespace(k.ArgoNamespace)
	apps := k.dyn.Resource(ApplicationResource).Namespace(k.ArgoNamespace)
	// A request from an earlier push, whose reconcile is under way.
	set := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
		"metadata": map[string]any{"name": "smp-dev", "annotations": map[string]any{refreshAnnotation: "true"}},
		"spec": map[string]any{
			"generators": []any{map[string]any{"list": map[string]any{"elements": []any{}}}},
			"template": map[string]any{
				"metadata": map[string]any{"name": "{{service}}"},
				"spec":     generatedSpec("1.0.0"),
			},
		},
	}}
	if _, err := sets.Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": AppName("dev", "order-svc")},
		"spec":     generatedSpec("1.0.0"),
	}}
	if _, err := apps.Create(ctx, app, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The earlier reconcile began before the refresh: it holds this copy.
	stale, err := sets.Get(ctx, "smp-dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The test's side stops when Regenerate gives up.
	gctx, gcancel := context.WithCancel(ctx)
	defer gcancel()
	done := make(chan error, 1)
	var steps []string
	go func() {
		ctx := gctx
		done <- func() error {
			// The refresh must be an event: the object changes.
			if err := waitFor(ctx, sets, "smp-dev", "the refresh to change the ApplicationSet", func(u *unstructured.Unstructured) bool {
				return u.GetResourceVersion() != stale.GetResourceVersion()
			}); err != nil {
				return err
			}
			// The earlier reconcile ends and removes the annotation with the copy it read.
			unstructured.RemoveNestedField(stale.Object, "metadata", "annotations", refreshAnnotation)
			if _, err := sets.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
				return fmt.Errorf("the earlier reconcile's removal of the annotation: got %w, want a conflict", err)
			}
			steps = append(steps, "the earlier reconcile's removal conflicted")
			// The next reconcile is lost all the same (it read an older commit): it
			// removes the annotation and leaves the Application alone.
			cur, err := sets.Get(ctx, "smp-dev", metav1.GetOptions{})
			if err != nil {
				return err
			}
			lost := cur.GetAnnotations()[refreshAnnotation]
			unstructured.RemoveNestedField(cur.Object, "metadata", "annotations", refreshAnnotation)
			if _, err := sets.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
			steps = append(steps, "a reconcile lost the refresh")
			// Regenerate asks again.
			if err := waitFor(ctx, sets, "smp-dev", "a second refresh", func(u *unstructured.Unstructured) bool {
				v, ok := u.GetAnnotations()[refreshAnnotation]
				return ok && v != lost
			}); err != nil {
				return err
			}
			steps = append(steps, "asked again")
			cur, err = apps.Get(ctx, AppName("dev", "order-svc"), metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Object["spec"] = generatedSpec("2.0.0")
			if _, err := apps.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
			steps = append(steps, "generated with chart 2.0.0")
			return nil
		}()
	}()

	began := time.Now()
	err = k.Regenerate(ctx, "dev", "order-svc", "2.0.0", time.Until(deadline(ctx)))
	if err != nil {
		gcancel()
	}
	if cerr := <-done; cerr != nil {
		t.Fatalf("the controller's side: %v (steps %v)", cerr, steps)
	}
	if err != nil {
		t.Fatalf("Regenerate: %v (steps %v)", err, steps)
	}
	t.Logf("Regenerate returned after %s: %v", time.Since(began).Round(time.Millisecond), steps)
	got, err := apps.Get(ctx, AppName("dev", "order-svc"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if PinnedChart(got) != "2.0.0" || got.GetAnnotations()["argocd.argoproj.io/refresh"] != "normal" {
		t.Errorf("after Regenerate the Application pins %q with annotations %v, want 2.0.0 and a refresh", PinnedChart(got), got.GetAnnotations())
	}

	t.Run("an Application that is never regenerated is named with the chart it pins", func(t *testing.T) {
		err := k.Regenerate(ctx, "dev", "order-svc", "3.0.0", 2*time.Second)
		if err == nil {
			t.Fatal("Regenerate to a chart no reconcile writes returned nil")
		}
		for _, want := range []string{"smp-dev", AppName("dev", "order-svc"), "3.0.0", `it pins "2.0.0"`, "ApplicationSet controller's log"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Regenerate's error\n%v\nwant %q", err, want)
			}
		}
	})

	// An environment file without chart.version gives no chart to wait
	// for: Regenerate waits for the generation itself, as sync does, or it
	// would sync the values the Application held before the commit.
	t.Run("with no chart to wait for, the generation is waited for", func(t *testing.T) {
		err := k.Regenerate(ctx, "dev", "order-svc", "", time.Second)
		checkNotGenerated(t, err, "smp-dev", "has not generated its Applications within 1s", "argocd-applicationset-controller")
		// The refresh an earlier Regenerate asked of the Application, taken off to see the next one.
		if _, err := apps.Patch(ctx, AppName("dev", "order-svc"), types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":null}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		gen := controller(ctx, sets, "smp-dev", generatedAnswer(ctx, sets))
		err = k.Regenerate(ctx, "dev", "order-svc", "", time.Until(deadline(ctx)))
		if cerr := <-gen; cerr != nil {
			t.Fatalf("the controller's side: %v", cerr)
		}
		if err != nil {
			t.Fatalf("Regenerate once the controller generated: %v", err)
		}
		got, err := apps.Get(ctx, AppName("dev", "order-svc"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetAnnotations()["argocd.argoproj.io/refresh"] != "normal" {
			t.Errorf("after Regenerate the Application has annotations %v, want a refresh", got.GetAnnotations())
		}
	})
}

// argoClient is a client of c with Argo CD's namespace made (kubecluster's
// WithArgoCDCRDs makes it too; a cluster without it is the same test).
func argoClient(ctx context.Context, t *testing.T, c *kubecluster.Cluster) *Client {
	t.Helper()
	k, err := New(c.RESTConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: k.ArgoNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return k
}

func generatedSpec(chart string) map[string]any {
	return map[string]any{
		"project":     "default",
		"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": Namespace("dev")},
		"sources": []any{
			map[string]any{"repoURL": "ghcr.io/smp/charts", "chart": "order-svc", "targetRevision": chart},
		},
	}
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Hour)
	}
	return d
}
