//go:build integration

package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// Generate on a real API server, with the test as the ApplicationSet
// controller, which answers a refresh as Argo CD v3.2's does: a reconcile
// that generated every Application removes the refresh annotation; one whose
// generator failed keeps it and sets the condition ErrorOccurred, and sets it
// again only when its message changes. The real controller's answer to
// smp-gitops unreachable is in the faults test (TestFaultsOnTheRealEngines…).
func generateWaitsForTheControllersAnswer(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	k := argoClient(ctx, t, c)
	sets := k.dyn.Resource(ApplicationSetResource).Namespace(k.ArgoNamespace)
	const repo = "https://127.0.0.1:1/smp-gitops.git"
	unreachable := "error generating params from git: rpc error: code = Internal desc = failed to list refs: Get \"" + repo + "/info/refs?service=git-upload-pack\": dial tcp 127.0.0.1:1: connect: connection refused"

	t.Run("no ApplicationSet: the Applications are left as they are", func(t *testing.T) {
		generated, err := k.Generate(ctx, "qa", time.Second)
		if err != nil || generated {
			t.Fatalf("Generate without an ApplicationSet: %v, %v; want false, nil", generated, err)
		}
	})

	if _, err := sets.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
		"metadata": map[string]any{"name": "smp-qa"},
		"spec": map[string]any{
			"generators": []any{map[string]any{"git": map[string]any{"repoURL": repo, "revision": "main", "files": []any{map[string]any{"path": "environments/qa/*.yaml"}}}}},
			"template": map[string]any{
				"metadata": map[string]any{"name": "{{service}}"},
				"spec":     generatedSpec("1.0.0"),
			},
		},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// generated: a reconcile that generated every Application answers the
	// refresh, and Generate returns true.
	generated := func(t *testing.T) {
		done := controller(ctx, sets, "smp-qa", generatedAnswer(ctx, sets))
		generated, err := k.Generate(ctx, "qa", time.Until(deadline(ctx)))
		if cerr := <-done; cerr != nil {
			t.Fatalf("the controller's side: %v", cerr)
		}
		if err != nil || !generated {
			t.Fatalf("Generate: %v, %v; want true, nil", generated, err)
		}
	}
	t.Run("the controller generates: true once the request is gone", generated)

	t.Run("the generator fails: refused with the controller's words and what to do", func(t *testing.T) {
		done := controller(ctx, sets, "smp-qa", func(u *unstructured.Unstructured) error {
			return setErrorOccurred(ctx, sets, u, unreachable)
		})
		// The answer ends the wait, not the deadline.
		began := time.Now()
		_, err := k.Generate(ctx, "qa", time.Until(deadline(ctx)))
		if cerr := <-done; cerr != nil {
			t.Fatalf("the controller's side: %v", cerr)
		}
		t.Logf("refused after %s", time.Since(began).Round(time.Millisecond))
		checkNotGenerated(t, err, "smp-qa", unreachable, "ApplicationGenerationFromParamsError", "argocd repo get "+repo, "smpctl sync qa")
	})

	t.Run("the same failure, reported before the refresh and again: refused after the short wait", func(t *testing.T) {
		// The controller fails the same way: the condition does not change.
		_, err := k.Generate(ctx, "qa", time.Second)
		checkNotGenerated(t, err, "smp-qa", unreachable, "smpctl sync qa")
	})

	t.Run("git is back: the reconcile removes the request, true despite the old condition", generated)

	t.Run("no controller answers: refused, naming the controller", func(t *testing.T) {
		u, err := sets.Get(ctx, "smp-qa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		unstructured.RemoveNestedField(u.Object, "status")
		if _, err := sets.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = k.Generate(ctx, "qa", time.Second)
		checkNotGenerated(t, err, "smp-qa", "has not generated its Applications within 1s", "argocd-applicationset-controller", "nothing was synced")
	})
}

// controller answers the next refresh of the ApplicationSet named set
// with answer, as the ApplicationSet controller's reconcile does.
func controller(ctx context.Context, sets dynamic.ResourceInterface, set string, answer func(*unstructured.Unstructured) error) <-chan error {
	done := make(chan error, 1)
	before, err := sets.Get(ctx, set, metav1.GetOptions{})
	if err != nil {
		done <- err
		return done
	}
	was := before.GetAnnotations()[refreshAnnotation]
	go func() {
		var asked *unstructured.Unstructured
		if err := waitFor(ctx, sets, set, "a refresh", func(u *unstructured.Unstructured) bool {
			v, ok := u.GetAnnotations()[refreshAnnotation]
			asked = u
			return ok && v != was
		}); err != nil {
			done <- err
			return
		}
		done <- answer(asked)
	}()
	return done
}

// generatedAnswer is a reconcile that generated every Application: it
// removes the refresh request.
func generatedAnswer(ctx context.Context, sets dynamic.ResourceInterface) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations", refreshAnnotation)
		_, err := sets.Update(ctx, u, metav1.UpdateOptions{})
		return err
	}
}

// setErrorOccurred sets the conditions Argo CD v3.2's controller sets when
// its generator fails (applicationset_controller.go,
// setApplicationSetStatusCondition).
func setErrorOccurred(ctx context.Context, sets dynamic.ResourceInterface, u *unstructured.Unstructured, msg string) error {
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ, status, reason string) any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "lastTransitionTime": now}
	}
	u.Object["status"] = map[string]any{"conditions": []any{
		cond("ErrorOccurred", "True", "ApplicationGenerationFromParamsError"),
		cond("ParametersGenerated", "False", "ErrorOccurred"),
		cond("ResourcesUpToDate", "False", "ApplicationGenerationFromParamsError"),
	}}
	_, err := sets.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}

func checkNotGenerated(t *testing.T, err error, set string, want ...string) {
	t.Helper()
	if !errors.Is(err, ErrNotGenerated) || !fault.IsRefused(err) {
		t.Fatalf("got %v; want ErrNotGenerated, a refusal (exit 1)", err)
	}
	for _, w := range append(want, "ApplicationSet argocd/"+set, "previous version keeps serving") {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error\n%v\nwant %q", err, w)
		}
	}
}
