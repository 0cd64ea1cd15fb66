package cli

import (
	"strings"
	"testing"

	"github.com/smp/delivery/internal/kube"
)

// rollout status says where a Rollout is as an on-call engineer needs it:
// waiting for promotion, aborted (and whether the controller has acted on
// the abort), and which version each Service sends traffic to.
func TestRolloutStatusText(t *testing.T) {
	active := &kube.ReplicaSet{Hash: "5f6d7c8b9a", Image: "ghcr.io/smp/order-svc:1.0.0@sha256:aa", Replicas: 2, Ready: 2}
	preview := &kube.ReplicaSet{Hash: "7b8c9d0e1f", Image: "ghcr.io/smp/order-svc:2.0.0@sha256:bb", Replicas: 2, Ready: 1}
	for _, tc := range []struct {
		name string
		st   kube.RolloutStatus
		want []string
	}{
		{"paused", kube.RolloutStatus{Namespace: "smp-prod", Name: "order-svc", Phase: "Paused", Paused: true, Active: active, Preview: preview},
			[]string{"smp-prod/order-svc  Paused (paused: waiting for promotion)\n",
				"  active   ghcr.io/smp/order-svc:1.0.0@sha256:aa  2/2 ready  (5f6d7c8b9a)\n",
				"  preview  ghcr.io/smp/order-svc:2.0.0@sha256:bb  1/2 ready  (7b8c9d0e1f)\n"}},
		{"aborted, acted on", kube.RolloutStatus{Namespace: "smp-prod", Name: "order-svc", Phase: "Degraded", Aborted: true, AbortedAt: "2026-12-07T15:20:00Z",
			Message: "RolloutAborted: Rollout aborted update to revision 2", Active: active},
			[]string{"smp-prod/order-svc  Degraded (aborted at 2026-12-07T15:20:00Z)\n", "  RolloutAborted: Rollout aborted update to revision 2\n"}},
		{"abort not acted on", kube.RolloutStatus{Namespace: "smp-prod", Name: "order-svc", Phase: "Paused", Paused: true, Aborted: true, Active: active, Preview: preview},
			[]string{"Paused (paused: waiting for promotion) (abort sent, not yet acted on by the Argo Rollouts controller)\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeRolloutText(&b, tc.st); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("rollout status printed\n%s\nwant it to contain %q", b.String(), w)
				}
			}
		})
	}
}
