package outbox_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/statefile"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/notify"
	"github.com/smp/delivery/internal/notify/notifycontract"
	"github.com/smp/delivery/internal/notify/outbox"
)

// fixture is a real smp-gitops remote and a Notifier whose Slack target is
// the webhook's recorded contract.
type fixture struct {
	bare  string
	slack *notifycontract.Slack
	n     *notify.Notifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{bare: gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nidentity: {name: smp-deploy, email: deploy@smp.vn}\nenvironments:\n  - {name: prod, sync: manual, trigger: release, approval: none}\nservices:\n  - name: order-svc\n",
	}), slack: notifycontract.NewSlack(t)}
	cfg, err := delivery.Parse([]byte("version: 2\nnotifications:\n  slack:\n    - webhookEnv: SLACK_WEBHOOK_PROD\n      environments: [prod]\n"))
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) (string, bool) { return f.slack.WebhookURL(), name == "SLACK_WEBHOOK_PROD" }
	f.n = notify.New(cfg.Notifications, lookup, notify.WithBackoff(time.Millisecond))
	return f
}

// repo opens the remote as a separate smpctl process would.
func (f *fixture) repo(t *testing.T) *gitops.Repo {
	t.Helper()
	r, err := write.Open(gitops.Remote{URL: f.bare}, gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"}, gitops.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) outbox(t *testing.T) statefile.Outbox {
	t.Helper()
	var ob statefile.Outbox
	err := f.repo(t).Read(context.Background(), func(_ context.Context, tr *gitops.Tree) error {
		p := statefile.NotificationsPath("prod", "order-svc")
		if !tr.Exists(p) {
			return nil
		}
		b, err := tr.ReadFile(p)
		if err != nil {
			return err
		}
		ob, err = statefile.DecodeOutbox(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

const commit = "0123456789abcdef0123456789abcdef01234567"

var rollback = notify.Event{
	Kind: notify.Rollback, Env: "prod", Service: "order-svc", Version: "3.3.0", Digest: "sha256:" + strings.Repeat("a", 64),
	PreviousVersion: "3.3.1", By: "oncall", Reason: "5xx spike", Time: time.Date(2026, 12, 4, 2, 10, 0, 0, time.UTC),
}

// failOnce sends the rollback while the channel is archived, and records
// the failure.
func (f *fixture) failOnce(t *testing.T) {
	t.Helper()
	f.slack.Script(notifycontract.SlackArchived)
	rep := f.n.Notify(context.Background(), rollback)
	if len(rep.Failed()) != 1 {
		t.Fatalf("report %v, want slack[0] failed", rep)
	}
	res, err := outbox.Record(context.Background(), f.repo(t), commit, rollback, rep)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	if res.Commit == "" {
		t.Fatal("record committed nothing")
	}
}

func TestAFailedNotificationIsRecordedResentOnceAndNeverAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.failOnce(t)

	if who := strings.TrimSpace(gitcmdtest.Git(t, f.bare, "log", "-1", "--format=%an <%ae>", "main")); who != "smp-deploy <deploy@smp.vn>" {
		t.Errorf("the record is committed by %s, want delivery.yaml's identity", who)
	}
	ob := f.outbox(t)
	if len(ob.Deliveries) != 1 {
		t.Fatalf("outbox %+v, want one delivery", ob)
	}
	d := ob.Deliveries[0]
	if d.State != statefile.DeliveryFailed || d.Sender != "slack[0]" || d.Key != outbox.Key(commit, "slack[0]") || !strings.Contains(d.Error, "channel_is_archived") || d.Event.Reason != "5xx spike" || !d.FailedAt.Equal(rollback.Time) {
		t.Errorf("recorded %+v, want slack[0] failed with Slack's answer, the event and its time", d)
	}
	if strings.Contains(d.Error, notifycontract.SlackWebhookPath) {
		t.Errorf("the recorded error shows the webhook's secret: %s", d.Error)
	}

	now := func() time.Time { return rollback.Time.Add(time.Hour) }
	got, err := outbox.Retry(context.Background(), f.repo(t), f.n, outbox.RetryOptions{By: "oncall", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Result.OK || got[0].Key != d.Key {
		t.Fatalf("retry = %+v, want slack[0] sent", got)
	}
	if hits := f.slack.Hits(); hits != 2 {
		t.Errorf("Slack got %d posts, want 2 (the failed one, the resend)", hits)
	}
	d = f.outbox(t).Deliveries[0]
	if d.State != statefile.DeliveryDelivered || d.DeliveredBy != "oncall" || d.DeliveredAt == nil || d.Error != "" || d.Claim != "" {
		t.Errorf("after the resend %+v, want delivered by oncall", d)
	}

	// A second retry, and the same failure recorded again (the command run
	// again), send nothing more.
	if got, err := outbox.Retry(context.Background(), f.repo(t), f.n, outbox.RetryOptions{By: "oncall", Now: now}); err != nil || len(got) != 0 {
		t.Errorf("a second retry = %+v, %v; want nothing to resend", got, err)
	}
	rep := notify.Report{Kind: rollback.Kind, Env: "prod", Service: "order-svc", Results: []notify.Result{{Sender: "slack[0]", Attempts: 1, Error: "again"}}}
	if _, err := outbox.Record(context.Background(), f.repo(t), commit, rollback, rep); !errors.Is(err, gitops.ErrNoChange) {
		t.Errorf("recording a delivered notification's failure again: %v, want nothing to commit", err)
	}
	if got, err := outbox.Retry(context.Background(), f.repo(t), f.n, outbox.RetryOptions{By: "oncall", Now: now}); err != nil || len(got) != 0 {
		t.Errorf("a retry after the same failure was recorded again = %+v, %v; want nothing to resend", got, err)
	}
	if hits := f.slack.Hits(); hits != 2 {
		t.Errorf("Slack got %d posts, want still 2", hits)
	}
}

func TestTwoRetriesAtOnceSendOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.failOnce(t)
	repos := []*gitops.Repo{f.repo(t), f.repo(t)}
	var (
		wg   sync.WaitGroup
		sent [2]int
		errs [2]error
	)
	for i, r := range repos {
		wg.Go(func() {
			got, err := outbox.Retry(context.Background(), r, f.n, outbox.RetryOptions{By: []string{"alice", "bob"}[i]})
			for _, g := range got {
				if g.Result.OK {
					sent[i]++
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("retries: %v, %v", errs[0], errs[1])
	}
	if sent[0]+sent[1] != 1 || f.slack.Hits() != 2 {
		t.Errorf("the retries sent %v, Slack got %d posts; want one resend in all (2 posts)", sent, f.slack.Hits())
	}
}

func TestAResendThatFailsStaysToResendAndAnAbandonedClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.failOnce(t)
	start := rollback.Time.Add(time.Hour)

	f.slack.Script(notifycontract.SlackRevoked)
	got, err := outbox.Retry(context.Background(), f.repo(t), f.n, outbox.RetryOptions{By: "oncall", Now: func() time.Time { return start }})
	if err != nil || len(got) != 1 || got[0].Result.OK {
		t.Fatalf("retry = %+v, %v; want slack[0] failed again", got, err)
	}
	d := f.outbox(t).Deliveries[0]
	if d.State != statefile.DeliveryFailed || !strings.Contains(d.Error, "no_service") || d.Attempts != 2 {
		t.Errorf("after a failed resend %+v, want failed with the new answer, 2 attempts", d)
	}

	// A resend that died after its claim: the claim holds for ClaimTTL,
	// then another resend takes the delivery over.
	claimOnly(t, f, start)
	if got, err := outbox.Retry(context.Background(), f.repo(t), f.n, outbox.RetryOptions{By: "bob", Now: func() time.Time { return start.Add(time.Minute) }}); err != nil || len(got) != 0 {
		t.Errorf("a retry while another's claim holds = %+v, %v; want nothing", got, err)
	}
	got, err = outbox.Retry(context.Background(), f.repo(t), f.n, outbox.RetryOptions{By: "bob", Now: func() time.Time { return start.Add(outbox.DefaultClaimTTL + time.Minute) }})
	if err != nil || len(got) != 1 || !got[0].Result.OK {
		t.Errorf("a retry after the claim expired = %+v, %v; want slack[0] sent", got, err)
	}
}

// claimOnly claims the outbox's deliveries as a resend that dies at once:
// its Resender never returns, so it never records an outcome.
func claimOnly(t *testing.T, f *fixture, at time.Time) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := outbox.Retry(ctx, f.repo(t), dying{cancel}, outbox.RetryOptions{By: "alice", Now: func() time.Time { return at }})
	if err == nil {
		t.Fatal("the dying resend recorded its outcome")
	}
	if d := f.outbox(t).Deliveries[0]; d.State != statefile.DeliverySending || d.ClaimedBy != "alice" {
		t.Fatalf("after the dying resend %+v, want claimed by alice", d)
	}
}

// dying is a resend whose process ends while it sends: the context of
// everything after is cancelled.
type dying struct{ cancel context.CancelFunc }

func (d dying) Resend(_ context.Context, _ notify.Event, sender string) notify.Result {
	d.cancel()
	return notify.Result{Sender: sender, Error: "killed"}
}

// TestAnAnnouncedEventIsRecordedOnceAndNotResent: Announce records an event
// no other commit records (the gate watch's notify-only verdict) under its
// change id; announcing the same change again finds it and writes nothing,
// so its caller sends nothing; and Retry does not take the record for a
// delivery to resend.
func TestAnAnnouncedEventIsRecordedOnceAndNotResent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	gateFailure := rollback
	gateFailure.Kind = notify.GateFailure
	const id = "gate-notify-prod-order-svc-aaaaaaaaaaaaaaaa"
	res, err := outbox.Announce(ctx, f.repo(t), id, gateFailure)
	if err != nil {
		t.Fatal(err)
	}
	if msg := gitcmdtest.Git(t, f.bare, "log", "-1", "--format=%B", res.Commit); !strings.Contains(msg, "Change-Id: "+id) || !strings.Contains(msg, "notify(prod): order-svc gate-failure 3.3.0") {
		t.Errorf("the record's commit:\n%s", msg)
	}
	if ob := f.outbox(t); len(ob.Sent) != 1 || ob.Sent[0].ChangeID != id || len(ob.Deliveries) != 0 {
		t.Fatalf("the outbox after Announce: %+v; want one sent record, no delivery", ob)
	}
	head := gitcmdtest.Git(t, f.bare, "rev-parse", "main")
	_, err = outbox.Announce(ctx, f.repo(t), id, gateFailure)
	var applied *gitops.AlreadyAppliedError
	if !errors.As(err, &applied) || applied.Commit != res.Commit {
		t.Fatalf("the second Announce of %s: %v; want it already applied as %.12s", id, err, res.Commit)
	}
	if got := gitcmdtest.Git(t, f.bare, "rev-parse", "main"); got != head {
		t.Error("the second Announce wrote to the branch")
	}
	if resent, err := outbox.Retry(ctx, f.repo(t), f.n, outbox.RetryOptions{By: "oncall"}); err != nil || len(resent) != 0 {
		t.Fatalf("Retry after Announce resent %v (%v); want nothing", resent, err)
	}
	if n := len(f.slack.Requests()); n != 0 {
		t.Errorf("Slack got %d message(s) from Announce and Retry, want none (the caller sends)", n)
	}
}
