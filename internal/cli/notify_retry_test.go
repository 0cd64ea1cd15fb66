package cli

import (
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/notify/notifycontract"
)

// TestANotificationThatFailedIsRecordedAndNotifyRetrySendsItOnce: a hold
// whose Slack message is refused (a revoked webhook) lands, the failure is
// committed to state/notifications for the dashboard, and `notify retry`
// with a working webhook sends it once: a second retry sends nothing.
func TestANotificationThatFailedIsRecordedAndNotifyRetrySendsItOnce(t *testing.T) {
	t.Parallel()
	slack := notifycontract.NewSlack(t)
	gh := notifycontract.NewGitHub(t)
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml":                    strings.Replace(notifyDelivery, "%API%", gh.APIURL(), 1),
		"environments/prod/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.2.0\n  digest: sha256:" + strings.Repeat("a", 64) + "\n",
	})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir(), "SLACK_WEBHOOK_PROD": slack.WebhookURL()}

	slack.Script(notifycontract.SlackRevoked)
	code, _, stderr := smpctl(t, env, "hold", "--env", "prod", "--service", "order-svc", "--by", "oncall", "--reason", "5xx spike")
	if code != 0 {
		t.Fatalf("hold with Slack refusing: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "notify: slack[0]: not sent") || !strings.Contains(stderr, "notify: recorded in state/notifications/prod/order-svc.yaml") ||
		!strings.Contains(stderr, "smpctl notify retry --gitops "+bare+" --env prod --service order-svc --by NAME") {
		t.Errorf("stderr does not say the failure was recorded and how to resend it:\n%s", stderr)
	}
	recorded := gitcmdtest.Git(t, bare, "show", "main:state/notifications/prod/order-svc.yaml")
	for _, want := range []string{"sender: slack[0]", "state: failed", "no_service", "kind: hold", "reason: 5xx spike"} {
		if !strings.Contains(recorded, want) {
			t.Errorf("the outbox lacks %q:\n%s", want, recorded)
		}
	}
	if subject := gitcmdtest.Git(t, bare, "log", "-1", "--format=%s", "main"); subject != "notify(prod): order-svc hold not sent to slack[0]" {
		t.Errorf("the record's commit is %q", subject)
	}

	code, stdout, stderr := smpctl(t, env, "notify", "retry", "--by", "oncall")
	if code != 0 || !strings.Contains(stdout, "notify: order-svc in prod, hold of ") || !strings.Contains(stdout, "slack[0]: resent") {
		t.Fatalf("notify retry: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := len(slack.Requests()); n != 2 {
		t.Errorf("Slack got %d messages, want 2: the refused one and the resent one", n)
	}
	if recorded := gitcmdtest.Git(t, bare, "show", "main:state/notifications/prod/order-svc.yaml"); !strings.Contains(recorded, "state: delivered") || !strings.Contains(recorded, "deliveredBy: oncall") {
		t.Errorf("the outbox after the resend:\n%s", recorded)
	}
	code, stdout, _ = smpctl(t, env, "notify", "retry", "--by", "oncall")
	if code != 0 || strings.TrimSpace(stdout) != "notify: nothing to resend" || len(slack.Requests()) != 2 {
		t.Errorf("a second retry: exit %d, %q, %d Slack messages; want nothing resent", code, stdout, len(slack.Requests()))
	}

	// A resend that fails again exits 1 and stays recorded. (Releasing a
	// hold is not notified.)
	if code, _, stderr := smpctl(t, env, "hold", "release", "--env", "prod", "--service", "order-svc", "--by", "oncall"); code != 0 {
		t.Fatal(stderr)
	}
	slack.Script(notifycontract.SlackRevoked)
	if code, _, stderr := smpctl(t, env, "hold", "--env", "prod", "--service", "order-svc", "--by", "oncall"); code != 0 || !strings.Contains(stderr, "notify: recorded") {
		t.Fatalf("hold again: exit %d\n%s", code, stderr)
	}
	slack.Script(notifycontract.SlackRevoked)
	code, stdout, stderr = smpctl(t, env, "notify", "retry", "--by", "oncall", "--env", "prod")
	if code != 1 || !strings.Contains(stdout, "still not sent") || !strings.Contains(stderr, "1 notification(s) still not sent") {
		t.Errorf("a failing resend: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := smpctl(t, env, "notify", "retry", "--by", "oncall", "--env", "../prod"); code != 2 || !strings.Contains(stderr, `--env "../prod"`) {
		t.Errorf("a bad --env: exit %d\n%s", code, stderr)
	}
}
