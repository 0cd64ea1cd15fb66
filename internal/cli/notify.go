package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/notify"
)

// notifyTimeout bounds the notifications of one write; they run after the
// commit has landed and never change the command's outcome.
const notifyTimeout = 30 * time.Second

// finishWrite sends the notifications delivery.yaml configures for what a
// write did (deploy, promote, rollback, hold), says once on standard error
// what was sent and what failed with what to do, and then prints the
// outcome. A notification that cannot be sent never fails the command: the
// change is in git.
func (a *App) finishWrite(ctx context.Context, repo *gitops.Repo, o *writeOptions, out write.Outcome, reason string) error {
	if !out.AlreadyDone && out.Commit != "" {
		a.sendNotifications(ctx, repo, o, out, reason)
	}
	return renderOutcome(a, out)
}

func (a *App) sendNotifications(ctx context.Context, repo *gitops.Repo, o *writeOptions, out write.Outcome, reason string) {
	a.notify(ctx, repo, out.Config, out.Commit, outcomeEvent(a, o, out, reason))
}

// outcomeEvent is the event a write's outcome notifies.
func outcomeEvent(a *App, o *writeOptions, out write.Outcome, reason string) notify.Event {
	ev := notify.Event{
		Kind: notify.Kind(out.Action), Env: out.Environment, Service: out.Service,
		By: o.by, ApprovedBy: out.ApprovedBy, RunURL: o.run, Reason: reason, Time: a.Now(), PreviousDigest: out.Previous, PreviousVersion: out.PreviousTag,
	}
	if out.Image != nil {
		ev.Version, ev.Digest = out.Image.Tag, out.Image.Digest
	}
	return ev
}

// notify sends ev where delivery.yaml's notifications route it, and says
// on standard error what was sent and what failed. What failed is recorded
// for the dashboard and notify retry when ev is about commit (an event
// without one, an unknown gate, is only said). cfg is delivery.yaml as the
// write left it (write.Outcome.Config); nil reads it from the remote. It
// never fails.
func (a *App) notify(ctx context.Context, repo *gitops.Repo, cfg *delivery.Config, commit string, ev notify.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if cfg == nil {
		var err error
		if cfg, err = write.ReadConfig(ctx, repo); err != nil {
			fmt.Fprintf(a.Stderr, "notify: not sent: %v; the %s still stands\n", err, ev.Kind)
			return
		}
	}
	if cfg.Notifications == nil {
		return
	}
	if ev.DiffURL == "" && ev.Kind != notify.GateFailure {
		// The commit is the change a deploy, promotion, rollback or hold
		// made. A gate failure's commit only records the verdict (what
		// runs did not change), so it links none.
		ev.DiffURL = cfg.Notifications.CommitLink(commit)
	}
	lookup := func(name string) (string, bool) {
		v := a.Getenv(name)
		return v, v != ""
	}
	rep := notify.New(cfg.Notifications, lookup, notify.WithLogger(a.Log)).Notify(ctx, ev)
	if len(rep.Results) > 0 {
		fmt.Fprintln(a.Stderr, rep.String())
	}
	if commit != "" {
		a.recordUndelivered(ctx, repo, commit, ev, rep)
	}
}
