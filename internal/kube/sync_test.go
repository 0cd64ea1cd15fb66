package kube

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestSyncOperationCarriesTheApplicationsSyncOptionsAndRetry(t *testing.T) {
	t.Parallel()
	retry := map[string]any{"limit": int64(3), "backoff": map[string]any{"duration": "10s", "factor": int64(2), "maxDuration": "3m"}}
	for _, tc := range []struct {
		name       string
		syncPolicy map[string]any
		wantOpts   []any
		wantRetry  map[string]any
	}{
		{
			name:       "the scaffold's options and retry are copied, as argocd app sync does",
			syncPolicy: map[string]any{"syncOptions": []any{"CreateNamespace=true", "RespectIgnoreDifferences=true", "PruneLast=true"}, "retry": retry},
			wantOpts:   []any{"CreateNamespace=true", "RespectIgnoreDifferences=true", "PruneLast=true"},
			wantRetry:  retry,
		},
		{
			name:      "an Application without a sync policy gets three tries and no options",
			wantRetry: map[string]any{"limit": int64(3)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
			if tc.syncPolicy != nil {
				app.Object["spec"].(map[string]any)["syncPolicy"] = tc.syncPolicy
			}
			op := syncOperation(app, "alice")
			if got := op["initiatedBy"]; !reflect.DeepEqual(got, map[string]any{"username": "alice"}) {
				t.Errorf("initiatedBy = %v", got)
			}
			sync := op["sync"].(map[string]any)
			var gotOpts []any
			if o, ok := sync["syncOptions"].([]string); ok {
				for _, s := range o {
					gotOpts = append(gotOpts, s)
				}
			}
			if !reflect.DeepEqual(gotOpts, tc.wantOpts) {
				t.Errorf("syncOptions = %v, want %v", gotOpts, tc.wantOpts)
			}
			if !reflect.DeepEqual(op["retry"], tc.wantRetry) {
				t.Errorf("retry = %v, want %v", op["retry"], tc.wantRetry)
			}
			if _, ok := sync["syncStrategy"].(map[string]any)["hook"]; !ok {
				t.Errorf("syncStrategy = %v, want the hook strategy", sync["syncStrategy"])
			}
		})
	}
}

// A sync that does not end must say where it is stuck: the Application's status as Argo CD
// v3 writes it (a stuck preview's Rollout, a chart the repository server cannot pull).
func TestStuckSyncNamesTheResourcesThatAreNotHealthy(t *testing.T) {
	t.Parallel()
	app := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "prod-order-svc"},
		"status": map[string]any{
			"sync":   map[string]any{"status": "Synced", "revision": "abc"},
			"health": map[string]any{"status": "Progressing"},
			"conditions": []any{
				map[string]any{"type": "ComparisonError", "message": "chart order-svc:9.9.9 not found"},
			},
			"resources": []any{
				map[string]any{"kind": "Service", "namespace": "smp-prod", "name": "order-svc", "health": map[string]any{"status": "Healthy"}},
				map[string]any{"kind": "ConfigMap", "namespace": "smp-prod", "name": "order-svc"},
				map[string]any{"kind": "Rollout", "namespace": "smp-prod", "name": "order-svc",
					"health": map[string]any{"status": "Progressing", "message": "active service cutover pending"}},
			},
			"operationState": map[string]any{"phase": "Succeeded", "message": "successfully synced", "startedAt": "2026-12-04T10:00:00Z"},
		},
	}}
	a := appStatus(app)
	want := []string{"Rollout smp-prod/order-svc: Progressing: active service cutover pending"}
	if !reflect.DeepEqual(a.Unhealthy, want) {
		t.Fatalf("Unhealthy = %q, want %q", a.Unhealthy, want)
	}
	if a.Done() {
		t.Fatal("a Progressing Application is not done")
	}
	if want := []objectRef{{"Rollout", "smp-prod", "order-svc"}}; !reflect.DeepEqual(a.workloads, want) {
		t.Errorf("workloads = %v, want %v: the ones read from the cluster when the sync does not end", a.workloads, want)
	}
	msg := stuck([]AppStatus{a, {Name: "prod-other", Sync: "Synced", Health: "Healthy"}})
	for _, part := range []string{
		"prod-order-svc is Synced, Progressing (operation Succeeded: successfully synced)",
		"; ComparisonError: chart order-svc:9.9.9 not found",
		"; Rollout smp-prod/order-svc: Progressing: active service cutover pending",
		"The previous version keeps serving",
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("stuck message lacks %q:\n%s", part, msg)
		}
	}
	if strings.Contains(msg, "prod-other") {
		t.Errorf("stuck message names a done Application:\n%s", msg)
	}
}
