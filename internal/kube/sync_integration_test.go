//go:build integration

package kube

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// SyncApps on a real API server, with the test as Argo CD's application
// controller in an automated environment: an auto-sync is running when the
// sync is asked for (Sync has the ApplicationSet update the Application
// just before, which starts one). Argo CD runs one operation at a time, and
// an operation written over the running one is cleared when it ends and
// never runs: SyncApps must leave the running one alone, wait for it to
// end, then ask for its own, and return once its own has run. Seen on the
// real Argo CD: `smpctl sync dev` right after a deploy waited for an
// operation that never came (bench/kube).
func syncWaitsForTheOperationInProgress(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	k := argoClient(ctx, t, c)
	apps := k.dyn.Resource(ApplicationResource).Namespace(k.ArgoNamespace)
	const name = "smp-order-svc-qa"
	autoSync := map[string]any{"initiatedBy": map[string]any{"automated": true}, "sync": map[string]any{"revision": "1"}}
	if _, err := apps.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata":  map[string]any{"name": name},
		"spec":      generatedSpec("1.0.0"),
		"operation": autoSync,
		"status": map[string]any{
			"sync":           map[string]any{"status": "OutOfSync"},
			"health":         map[string]any{"status": "Healthy"},
			"operationState": map[string]any{"phase": "Running", "startedAt": "2026-12-07T04:00:00Z", "operation": autoSync},
		},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	var steps []string
	go func() {
		done <- func() error {
			// The auto-sync runs a while: SyncApps must not write over it.
			time.Sleep(time.Second)
			u, err := apps.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if by, _, _ := unstructured.NestedBool(u.Object, "operation", "initiatedBy", "automated"); !by {
				t.Errorf("while the auto-sync ran, the Application's operation became %v", u.Object["operation"])
			}
			// It ends: the controller clears the operation and records its end.
			if err := patchApp(ctx, apps, name, map[string]any{"operation": nil, "status": map[string]any{
				"sync":           map[string]any{"status": "Synced"},
				"operationState": map[string]any{"phase": "Succeeded", "startedAt": "2026-12-07T04:00:00Z", "finishedAt": "2026-12-07T04:00:03Z"},
			}}); err != nil {
				return err
			}
			steps = append(steps, "the auto-sync ended")
			// SyncApps asks for its own; the controller runs it.
			if err := waitFor(ctx, apps, name, "the sync asked for", func(u *unstructured.Unstructured) bool {
				user, _, _ := unstructured.NestedString(u.Object, "operation", "initiatedBy", "username")
				return user == "tester"
			}); err != nil {
				return err
			}
			steps = append(steps, "sync asked by tester")
			if err := patchApp(ctx, apps, name, map[string]any{"operation": nil, "status": map[string]any{
				"operationState": map[string]any{"phase": "Succeeded", "startedAt": "2026-12-07T04:00:05Z", "finishedAt": "2026-12-07T04:00:06Z"},
			}}); err != nil {
				return err
			}
			steps = append(steps, "it ran")
			return nil
		}()
	}()
	got, err := k.SyncApps(ctx, []string{name}, SyncOptions{By: "tester", Poll: 50 * time.Millisecond})
	if cerr := <-done; cerr != nil {
		t.Fatalf("the controller's side: %v (steps %v)", cerr, steps)
	}
	if err != nil {
		t.Fatalf("SyncApps: %v (steps %v)", err, steps)
	}
	if len(got) != 1 || got[0].OperationStarted != "2026-12-07T04:00:05Z" || !got[0].Done() {
		t.Errorf("SyncApps returned %+v, want its own operation (started 04:00:05) done (steps %v)", got, steps)
	}
}

func patchApp(ctx context.Context, apps dynamic.ResourceInterface, name string, patch map[string]any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = apps.Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{})
	return err
}
