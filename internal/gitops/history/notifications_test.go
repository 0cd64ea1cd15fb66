package history

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/statefile"
)

func TestNotificationsListsWhatWasNotSentNewestFirstAndAnUnreadableOutbox(t *testing.T) {
	t.Parallel()
	f := story(t)
	f.write("state/notifications/prod/order-svc.yaml", `deliveries:
  - key: k1
    commit: `+strings.Repeat("1", 40)+`
    sender: slack[0]
    state: failed
    attempts: 3
    error: "slack[0]: 403 invalid_token"
    failedAt: 2026-11-03T02:10:00Z
    event: {kind: rollback, version: 3.2.0, by: oncall, time: 2026-11-03T02:10:00Z}
  - key: k2
    commit: `+strings.Repeat("2", 40)+`
    sender: grafana
    state: delivered
    attempts: 2
    failedAt: 2026-11-02T09:00:00Z
    deliveredBy: oncall
    event: {kind: deploy, version: 3.3.0, time: 2026-11-02T09:00:00Z}
`)
	f.write("state/notifications/dev/partner-svc.yaml", "deliveries: [not yaml\n")
	f.write("state/notifications/prod/.gitkeep", "")
	f.commit(t0.Add(40*time.Hour), "notifications by hand")

	got, err := f.open(t).Notifications(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("notifications = %+v, want the two of order-svc in prod and the unreadable outbox", got)
	}
	if n := got[0]; n.Environment != "prod" || n.Service != "order-svc" || n.Sender != "slack[0]" || !n.Pending() || n.Event.Kind != "rollback" || !n.FailedAt.Equal(time.Date(2026, 11, 3, 2, 10, 0, 0, time.UTC)) {
		t.Errorf("first = %+v, want the newest failure: order-svc's rollback in prod, Slack", n)
	}
	if n := got[1]; n.Sender != "grafana" || n.Pending() || n.State != statefile.DeliveryDelivered {
		t.Errorf("second = %+v, want the grafana one, delivered since", n)
	}
	if n := got[2]; n.Environment != "dev" || n.Service != "partner-svc" || !n.Pending() || !strings.Contains(n.Unreadable, "state/notifications/dev/partner-svc.yaml is not valid YAML") {
		t.Errorf("third = %+v, want the unreadable outbox, pending, saying which file", n)
	}
}
