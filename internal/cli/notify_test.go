package cli

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/notify/notifycontract"
)

const notifyDelivery = `apiVersion: delivery.smp.vn/v1
kind: Delivery
version: 2
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: prod, sync: manual, trigger: release, approval: none}
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
notifications:
  slack:
    - webhookEnv: SLACK_WEBHOOK_PROD
      environments: [prod]
  incidents:
    github: {repository: smp/incidents, tokenEnv: INCIDENTS_TOKEN, apiURL: %API%}
`

// TestARollbackInProdOpensAnIncidentAndTellsSlack: the seed's playbook
// ("always notify in #prod-alerts, create an incident ticket") done by
// smpctl itself, against the recorded contracts of Slack's incoming
// webhooks and GitHub's create-issue API; and a Slack that cannot be
// reached never fails the rollback.
func TestARollbackInProdOpensAnIncidentAndTellsSlack(t *testing.T) {
	t.Parallel()
	slack := notifycontract.NewSlack(t)
	gh := notifycontract.NewGitHub(t)
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": strings.Replace(notifyDelivery, "%API%", gh.APIURL(), 1)})
	env := map[string]string{
		"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir(),
		"SLACK_WEBHOOK_PROD": slack.WebhookURL(), "INCIDENTS_TOKEN": "test-token-not-a-secret",
	}
	for i, tag := range []string{"3.2.0", "3.3.0"} {
		d := strings.Repeat(string(rune('a'+i)), 64)
		if code, _, stderr := smpctl(t, env, "deploy", "--env", "prod", "--service", "order-svc", "--by", "ci",
			"--image", "ghcr.io/smp/order-svc:"+tag+"@sha256:"+d, "--source-time", "2026-12-01T10:0"+string(rune('0'+i))+":00Z"); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", tag, code, stderr)
		}
	}
	if n := len(slack.Requests()); n != 2 {
		t.Errorf("%d Slack messages for two prod deploys, want 2", n)
	}
	code, stdout, stderr := smpctl(t, env, "rollback", "--env", "prod", "--service", "order-svc", "--by", "oncall", "--reason", "5xx spike", "--migrations", "none")
	if code != 0 || !strings.Contains(stdout, "→ 3.2.0") {
		t.Fatalf("rollback: exit %d\n%s%s", code, stdout, stderr)
	}
	if len(gh.Requests()) != 1 {
		t.Fatalf("%d incident issues opened, want 1\n%s", len(gh.Requests()), stderr)
	}
	issue := string(gh.Requests()[0].Raw)
	for _, want := range []string{"order-svc", "prod", "3.2.0", "oncall", "5xx spike", "sha256:" + strings.Repeat("b", 64)} {
		if !strings.Contains(issue, want) {
			t.Errorf("the incident issue lacks %q:\n%s", want, issue)
		}
	}
	msgs := slack.Requests()
	if len(msgs) != 3 || !strings.Contains(string(msgs[2].Raw), "/smp/incidents/issues/") {
		t.Errorf("the rollback's Slack message does not link the incident:\n%v", msgs)
	}
	if !strings.Contains(stderr, "notify: github") || strings.Contains(stderr, "test-token-not-a-secret") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// Slack unreachable: the hold still lands, the failure is said once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/services/T000/B000/XXXX"
	ln.Close()
	env["SLACK_WEBHOOK_PROD"] = closed
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	code, _, stderr = smpctl(t, env, "hold", "release", "--env", "prod", "--service", "order-svc", "--by", "oncall")
	if code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr = smpctl(t, env, "hold", "--env", "prod", "--service", "order-svc", "--by", "oncall", "--reason", "db maintenance")
	if code != 0 {
		t.Fatalf("hold with Slack down: exit %d\n%s", code, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") == before {
		t.Error("the hold did not land")
	}
	if n := strings.Count(stderr, "not sent"); n != 1 || strings.Contains(stderr, closed) {
		t.Errorf("want the Slack failure said once, without the webhook URL:\n%s", stderr)
	}
}

// TestAPromotionToProdSaysWhoApprovedAndLinksItsCommit: the message of a
// promotion into a gated environment names the release manager who
// approved it (the commit's Approved-By) and links the smp-gitops commit
// that made it (notifications.commitURL) as its diff, checked on what
// Slack's webhook contract received; a deploy into an ungated environment
// names no approver; and a notification that could not be sent keeps its
// diff link for the resend.
func TestAPromotionToProdSaysWhoApprovedAndLinksItsCommit(t *testing.T) {
	t.Parallel()
	const commitURL = "https://git.example/smp/smp-gitops/commit/"
	slack := notifycontract.NewSlack(t)
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": `apiVersion: delivery.smp.vn/v1
kind: Delivery
version: 2
environments:
  - {name: staging, sync: manual, trigger: rc, approval: none}
  - {name: prod, sync: manual, trigger: release, approval: release-manager}
releaseManagers: [minh]
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
notifications:
  slack:
    - webhookEnv: SLACK_WEBHOOK
  commitURL: ` + commitURL + `{commit}
`})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir(), "SLACK_WEBHOOK": slack.WebhookURL()}
	run := func(args ...string) string {
		t.Helper()
		if code, _, stderr := smpctl(t, env, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
		return gitcmdtest.Git(t, bare, "rev-parse", "main")
	}
	deployed := run("deploy", "--env", "staging", "--service", "order-svc", "--by", "ci",
		"--image", "ghcr.io/smp/order-svc:3.3.0@sha256:"+strings.Repeat("b", 64))
	run("approve", "--env", "prod", "--service", "order-svc", "--version", "3.3.0", "--by", "minh")
	promoted := run("promote", "--service", "order-svc", "--from", "staging", "--to", "prod", "--by", "trung")

	msgs := slack.Requests()
	if len(msgs) != 2 {
		t.Fatalf("%d Slack messages for a deploy and a promotion, want 2", len(msgs))
	}
	checks := []struct {
		name, text, want string
		has              bool
	}{
		{"the deploy links its commit", slackText(msgs[0]), "<" + commitURL + deployed + "|diff>", true},
		{"the deploy to an ungated environment names no approver", slackText(msgs[0]), "approved by", false},
		{"the promotion links its commit", slackText(msgs[1]), "<" + commitURL + promoted + "|diff>", true},
		{"the promotion names who promoted and who approved", slackText(msgs[1]), "By trung, approved by minh", true},
	}
	for _, c := range checks {
		if strings.Contains(c.text, c.want) != c.has {
			t.Errorf("%s: want %q in it = %v:\n%s", c.name, c.want, c.has, c.text)
		}
	}

	// Slack refuses the hold's message: the record a resend reads keeps the link.
	slack.Script(notifycontract.SlackRevoked)
	run("hold", "--env", "prod", "--service", "order-svc", "--by", "oncall", "--reason", "5xx spike")
	held := gitcmdtest.Git(t, bare, "rev-parse", "main~1") // the hold; main is the record of its failed notification
	if rec := gitcmdtest.Git(t, bare, "show", "main:state/notifications/prod/order-svc.yaml"); !strings.Contains(rec, "diffURL: "+commitURL+held) {
		t.Errorf("the outbox does not keep the hold's diff link %s:\n%s", commitURL+held, rec)
	}
}

// slackText is what a Slack message shows: its blocks' mrkdwn texts.
func slackText(r notifycontract.Request) string {
	var b strings.Builder
	blocks, _ := r.Body["blocks"].([]any)
	for _, blk := range blocks {
		m, _ := blk.(map[string]any)
		if txt, ok := m["text"].(map[string]any); ok {
			fmt.Fprintln(&b, txt["text"])
		}
		els, _ := m["elements"].([]any)
		for _, e := range els {
			el, _ := e.(map[string]any)
			fmt.Fprintln(&b, el["text"])
		}
	}
	return b.String()
}
