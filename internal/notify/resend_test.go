package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/notify"
)

func TestResendSendsToTheNamedSenderOnly(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	n := s.notifier(t)

	r := n.Resend(context.Background(), event(notify.Rollback, "prod"), "github")
	if !r.OK || !strings.Contains(r.Link, "/smp/incidents/issues/") || len(s.github.Requests()) != 1 {
		t.Fatalf("resend to github = %+v, want the incident opened", r)
	}
	if len(s.slack.Requests())+len(s.pd.Requests())+len(s.grafana.Requests()) != 0 {
		t.Error("resending to github sent to other targets too")
	}
	if r := n.Resend(context.Background(), event(notify.Deploy, "prod"), "grafana"); !r.OK || len(s.grafana.Requests()) != 1 {
		t.Errorf("resend to grafana = %+v", r)
	}

	// dev's deploys go to slack[1], not slack[0]: delivery.yaml no longer
	// routes it there, so nothing is sent and the result says so.
	r = n.Resend(context.Background(), event(notify.Deploy, "dev"), "slack[0]")
	if r.OK || !strings.Contains(r.Error, "slack[0] is not configured for deploy in dev any more") || len(s.slack.Requests()) != 0 {
		t.Errorf("resend to a target no longer configured = %+v", r)
	}
}
