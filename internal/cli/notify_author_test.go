package cli

import (
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/notify/notifycontract"
)

// TestTheNotificationRecordIsCommittedAsTheGivenAuthor: the author a person
// names (SMP_GIT_AUTHOR_*, the --git-author-* flags) is the author of every
// commit the command makes — the hold and the record of its notification
// that could not be sent — not delivery.yaml's identity for the second.
func TestTheNotificationRecordIsCommittedAsTheGivenAuthor(t *testing.T) {
	t.Parallel()
	slack := notifycontract.NewSlack(t)
	gh := notifycontract.NewGitHub(t)
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml":                    strings.Replace(notifyDelivery, "%API%", gh.APIURL(), 1),
		"environments/prod/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.2.0\n  digest: sha256:" + strings.Repeat("a", 64) + "\n",
	})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir(), "SLACK_WEBHOOK_PROD": slack.WebhookURL(),
		"SMP_GIT_AUTHOR_NAME": "Oncall Person", "SMP_GIT_AUTHOR_EMAIL": "oncall@smp.example"}
	slack.Script(notifycontract.SlackRevoked)
	if code, _, stderr := smpctl(t, env, "hold", "--env", "prod", "--service", "order-svc", "--by", "oncall", "--reason", "5xx spike"); code != 0 || !strings.Contains(stderr, "notify: recorded") {
		t.Fatalf("hold with Slack refusing: exit %d\n%s", code, stderr)
	}
	log := gitcmdtest.Git(t, bare, "log", "-2", "--format=%s | %an <%ae> | %cn <%ce>", "main")
	for _, l := range strings.Split(log, "\n") {
		if !strings.HasSuffix(l, "| Oncall Person <oncall@smp.example> | Oncall Person <oncall@smp.example>") {
			t.Errorf("commit not by the given author: %s", l)
		}
	}
	if !strings.Contains(log, "notify(prod): order-svc hold not sent") {
		t.Errorf("the last two commits are not the hold and its notification record:\n%s", log)
	}
}
