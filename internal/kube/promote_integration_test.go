//go:build integration

package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const (
	stableHash  = "5f6d7c8b9a"
	previewHash = "7b8c9d0e1f"
)

// The client on a real API server, with the test as the controllers that
// lose or hold up its requests, one cluster for all: promote (the Argo
// Rollouts controller), regenerate and generate (the ApplicationSet
// controller), sync (the application controller).
func TestClientOutlastsControllersThatLoseItsRequests(t *testing.T) {
	t.Parallel()
	c := kubecluster.Start(t, kubecluster.WithRolloutsCRDs(), kubecluster.WithArgoCDCRDs())
	for _, sub := range []struct {
		name string
		run  func(*testing.T, *kubecluster.Cluster)
	}{
		{"promote and abort", promoteAndAbortOutlastAControllerThatLosesThem},
		{"regenerate", regenerateOutlastsAControllerThatLosesTheRefresh},
		{"generate", generateWaitsForTheControllersAnswer},
		{"sync", syncWaitsForTheOperationInProgress},
	} {
		t.Run(sub.name, func(t *testing.T) {
			t.Parallel() // each on objects of its own
			sub.run(t, c)
		})
	}
}

// Promote and Abort on a real API server, with the test as the Argo
// Rollouts controller: one that loses the promotion or the abort the way
// the real one can (it writes an older copy back into its cache, so it
// undoes the change, or never sees it at all). Promote clears the pause
// again, Abort sets status.abort again, and both touch the Rollout until
// the controller acts; a controller that never acts is named in the error,
// with exit code 1.
func promoteAndAbortOutlastAControllerThatLosesThem(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	k, err := New(c.RESTConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	ns := Namespace("prod")
	if _, err := k.core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := k.dyn.Resource(RolloutResource).Namespace(ns)

	t.Run("the pause comes back, then the promotion goes unseen", func(t *testing.T) {
		pausedRollout(t, r, "order-svc")
		done := make(chan error, 1)
		var steps []string
		go func() {
			done <- func() error {
				// A status recomputed from the copy before the promotion.
				if err := waitFor(ctx, r, "order-svc", "the pause cleared", unpaused); err != nil {
					return err
				}
				if err := setStatus(ctx, r, "order-svc", pausedStatus()); err != nil {
					return err
				}
				steps = append(steps, "pause put back")
				// Then the promotion is lost in the cache: nothing happens
				// until the Rollout changes again.
				if err := waitFor(ctx, r, "order-svc", "the pause cleared again", unpaused); err != nil {
					return err
				}
				steps = append(steps, "cleared again")
				if err := waitFor(ctx, r, "order-svc", "a touch", func(u *unstructured.Unstructured) bool {
					return u.GetAnnotations()[PromotedAtAnnotation] != ""
				}); err != nil {
					return err
				}
				steps = append(steps, "touched")
				return setStatus(ctx, r, "order-svc", map[string]any{
					"phase": "Progressing", "stableRS": stableHash, "currentPodHash": previewHash,
					"blueGreen": map[string]any{"activeSelector": previewHash, "previewSelector": previewHash},
				})
			}()
		}()
		var progress strings.Builder
		if err := k.Promote(ctx, "prod", "order-svc", &progress); err != nil {
			t.Fatalf("Promote: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the controller played by the test: %v (steps %v)", err, steps)
		}
		if want := []string{"pause put back", "cleared again", "touched"}; fmt.Sprint(steps) != fmt.Sprint(want) {
			t.Errorf("the controller saw %v, want %v", steps, want)
		}
		for _, want := range []string{"promote smp-prod/order-svc: the Rollout is paused again (the controller acted on an older copy); promoting again",
			"promote smp-prod/order-svc: the Argo Rollouts controller has not acted after", "touching the Rollout (smp.vn/promoted-at)"} {
			if !strings.Contains(progress.String(), want) {
				t.Errorf("Promote said\n%s\nwant %q", progress.String(), want)
			}
		}
		st, err := k.Rollout(ctx, "prod", "order-svc")
		if err != nil {
			t.Fatal(err)
		}
		if st.Paused || st.Phase != "Progressing" {
			t.Errorf("after Promote the Rollout is %+v, want unpaused and Progressing", st)
		}
	})

	t.Run("the abort is undone, then goes unseen", func(t *testing.T) {
		pausedRollout(t, r, "partner-svc")
		done := make(chan error, 1)
		var steps []string
		go func() {
			done <- func() error {
				if err := waitFor(ctx, r, "partner-svc", "the abort", aborted); err != nil {
					return err
				}
				// A status written from the copy before the abort.
				if err := setStatus(ctx, r, "partner-svc", map[string]any{"abort": false}); err != nil {
					return err
				}
				steps = append(steps, "abort undone")
				if err := waitFor(ctx, r, "partner-svc", "the abort again", aborted); err != nil {
					return err
				}
				steps = append(steps, "aborted again")
				// Then the abort is lost in the cache until the Rollout changes again.
				if err := waitFor(ctx, r, "partner-svc", "a touch", func(u *unstructured.Unstructured) bool {
					return u.GetAnnotations()[AbortedAtAnnotation] != ""
				}); err != nil {
					return err
				}
				steps = append(steps, "touched")
				// What Argo Rollouts writes for an aborted update: no pause, Degraded.
				return setStatus(ctx, r, "partner-svc", map[string]any{
					"phase": "Degraded", "message": "RolloutAborted: Rollout aborted update to revision 2",
					"pauseConditions": nil, "controllerPause": false, "abortedAt": time.Now().UTC().Format(time.RFC3339),
				})
			}()
		}()
		var progress strings.Builder
		if err := k.Abort(ctx, "prod", "partner-svc", &progress); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("the controller played by the test: %v (steps %v)", err, steps)
		}
		if want := []string{"abort undone", "aborted again", "touched"}; fmt.Sprint(steps) != fmt.Sprint(want) {
			t.Errorf("the controller saw %v, want %v", steps, want)
		}
		for _, want := range []string{"abort smp-prod/partner-svc: status.abort is gone but the update still waits (the controller wrote an older copy); aborting again",
			"abort smp-prod/partner-svc: the Argo Rollouts controller has not acted after", "touching the Rollout (smp.vn/aborted-at)"} {
			if !strings.Contains(progress.String(), want) {
				t.Errorf("Abort said\n%s\nwant %q", progress.String(), want)
			}
		}
		st, err := k.Rollout(ctx, "prod", "partner-svc")
		if err != nil {
			t.Fatal(err)
		}
		if st.Paused || !st.Aborted || st.Phase != "Degraded" {
			t.Errorf("after Abort the Rollout is %+v, want aborted, unpaused and Degraded", st)
		}
	})

	// The controller never acts: no one plays it. Both are named, exit 1.
	for _, tc := range []struct {
		verb, svc, annotation string
		send                  func(w io.Writer) error
		unseen                error
		sent                  func(*unstructured.Unstructured) bool
	}{
		{"promote", "dispatch-engine", PromotedAtAnnotation,
			func(w io.Writer) error { return k.Promote(ctx, "prod", "dispatch-engine", w) }, ErrPromotionUnseen, unpaused},
		{"abort", "billing-svc", AbortedAtAnnotation,
			func(w io.Writer) error { return k.Abort(ctx, "prod", "billing-svc", w) }, ErrAbortUnseen, aborted},
	} {
		t.Run("a controller that never acts on the "+tc.verb+" is named", func(t *testing.T) {
			pausedRollout(t, r, tc.svc)
			k.promoteAck = 12 * time.Second
			defer func() { k.promoteAck = 0 }()
			var progress strings.Builder
			err := tc.send(&progress)
			if !errors.Is(err, tc.unseen) || !fault.IsRefused(err) {
				t.Fatalf("%s with no controller: %v, want %v (a refusal, exit 1)", tc.verb, err, tc.unseen)
			}
			for _, want := range []string{tc.verb + " smp-prod/" + tc.svc, "was sent, but after 12s", "phase Paused", "kubectl -n argo-rollouts get pods"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error says %q, want it to say %q", err, want)
				}
			}
			u, err := r.Get(ctx, tc.svc, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if u.GetAnnotations()[tc.annotation] == "" || !strings.Contains(progress.String(), "touching the Rollout") {
				t.Errorf("%s never touched the Rollout: annotations %v; it said\n%s", tc.verb, u.GetAnnotations(), progress.String())
			}
			if !tc.sent(u) {
				t.Errorf("the %s was not sent: status %v", tc.verb, u.Object["status"])
			}
		})
	}
}

// pausedRollout creates a blue/green Rollout name paused before promotion,
// as the controller leaves it: preview on previewHash, active on stableHash.
func pausedRollout(t *testing.T, r dynamic.ResourceInterface, name string) {
	t.Helper()
	ctx := testctx.New(t)
	labels := map[string]any{"app": name}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": name, "image": "ghcr.io/smp/" + name + ":1.0.0"}}},
			},
			"strategy": map[string]any{"blueGreen": map[string]any{
				"activeService": name, "previewService": name + "-preview", "autoPromotionEnabled": false,
			}},
		},
	}}
	if _, err := r.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := setStatus(ctx, r, name, pausedStatus()); err != nil {
		t.Fatal(err)
	}
}

func pausedStatus() map[string]any {
	return map[string]any{
		"phase": "Paused", "stableRS": stableHash, "currentPodHash": previewHash, "controllerPause": true,
		"pauseConditions": []any{map[string]any{"reason": "BlueGreenPause", "startTime": time.Now().UTC().Format(time.RFC3339)}},
		"blueGreen":       map[string]any{"activeSelector": stableHash, "previewSelector": previewHash},
	}
}

// setStatus merges status into the Rollout's, as the controller does
// (a merge patch of the status subresource, without a resourceVersion).
func setStatus(ctx context.Context, r dynamic.ResourceInterface, name string, status map[string]any) error {
	b, err := (&unstructured.Unstructured{Object: map[string]any{"status": status}}).MarshalJSON()
	if err != nil {
		return err
	}
	_, err = r.Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{}, "status")
	return err
}

func aborted(u *unstructured.Unstructured) bool {
	a, _, _ := unstructured.NestedBool(u.Object, "status", "abort")
	return a
}

func unpaused(u *unstructured.Unstructured) bool {
	p, _, _ := unstructured.NestedSlice(u.Object, "status", "pauseConditions")
	return len(p) == 0
}

// waitFor polls the object name until cond holds or ctx ends.
func waitFor(ctx context.Context, r dynamic.ResourceInterface, name, what string, cond func(*unstructured.Unstructured) bool) error {
	for {
		u, err := r.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if cond(u) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
