package kube

import (
	"reflect"
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
