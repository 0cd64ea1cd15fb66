// Package outbox keeps the notifications that could not be sent where
// everyone who looks at the pipeline sees them: in the GitOps repository,
// as state/notifications/<env>/<service>.yaml (statefile.Outbox), which the
// dashboard reads with everything else. An on-call engineer who opens it
// after a night's prod rollback reads "Slack: 403" on the service's cell,
// not a line that scrolled by in a CI log.
//
// A notification sent at once is not written anywhere: the repository gets
// a commit only when a send failed (Record) and when one is resent (Retry).
//
// Retry sends each failed notification at most once, whoever runs it and
// however many run it at once. Every delivery has a dedupe key (the event's
// GitOps commit and the target): a resend first claims what it will send in
// one commit — the push is a compare-and-swap on the branch, so of two
// resends only one claims a delivery — then sends, then records what was
// delivered, which is never sent again. A resend that dies between its
// claim and its record leaves the claim; after ClaimTTL another resend may
// take it over, and may then send a message the dead one had sent.
package outbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/statefile"
	"github.com/smp/delivery/internal/notify"
)

// Action is the Action trailer of the commits this package writes, so the
// history reader tells them from hand edits and the service's timeline
// lists them.
const Action = "notify"

// DefaultClaimTTL is how long a resend's claim holds: longer than a resend
// of one outbox takes (notify's time limit per delivery, and two pushes).
const DefaultClaimTTL = 10 * time.Minute

// keep is how long a delivered entry stays in its outbox, as the record that
// it was resent, before a later write drops it.
const keep = 30 * 24 * time.Hour

// Key is the dedupe key of the notification of the event written by the
// GitOps commit to the sender.
func Key(commit, sender string) string {
	sum := sha256.Sum256([]byte(commit + "\x00" + sender))
	return hex.EncodeToString(sum[:8])
}

// Record writes every failed result of rep, for the event e written by
// the GitOps commit, into the outbox of e's environment and service, and
// commits `notify(<env>): <service> <kind> not sent to <senders>`. A
// delivery already there (the same key: the command was run again) keeps
// its state and, unless it was delivered since, gets the new error. Nothing failed: nothing is written,
// and the error is gitops.ErrNoChange.
func Record(ctx context.Context, repo *gitops.Repo, commit string, e notify.Event, rep notify.Report) (gitops.Result, error) {
	failed := rep.Failed()
	if len(failed) == 0 {
		return gitops.Result{}, fmt.Errorf("record the notifications of %.12s: %w", commit, gitops.ErrNoChange)
	}
	if err := checkCell(e.Env, e.Service); err != nil {
		return gitops.Result{}, err
	}
	var names []string
	for _, f := range failed {
		names = append(names, f.Sender)
	}
	return repo.Apply(ctx, func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		ob, err := read(t, e.Env, e.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		for _, f := range failed {
			d := statefile.Delivery{
				Key: Key(commit, f.Sender), Commit: commit, Sender: f.Sender, State: statefile.DeliveryFailed,
				Attempts: f.Attempts, Error: f.Error, FailedAt: e.Time.UTC(), Event: toFile(e),
			}
			if i := slices.IndexFunc(ob.Deliveries, func(x statefile.Delivery) bool { return x.Key == d.Key }); i >= 0 {
				if x := &ob.Deliveries[i]; x.State != statefile.DeliveryDelivered {
					x.Error, x.Attempts = d.Error, x.Attempts+d.Attempts
				}
				continue
			}
			ob.Deliveries = append(ob.Deliveries, d)
		}
		if err := write(t, e.Env, e.Service, ob, e.Time); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{
			Subject:  fmt.Sprintf("notify(%s): %s %s not sent to %s", e.Env, e.Service, e.Kind, strings.Join(names, ", ")),
			Trailers: trailers(e.Env, e.Service, e.By),
			Identity: identity(t),
		}, nil
	})
}

// Announce records e in its outbox's Sent list, before e is sent, in one
// commit whose Change-Id is changeID: for an event no other commit records
// (the gate watch's notify-only verdict), this is what keeps a re-run from
// sending it again. The second Announce of changeID finds that commit and
// returns *gitops.AlreadyAppliedError: its caller sends nothing. The record
// precedes the send, so the message goes out at most once, as Retry's do: a
// run that dies between the commit and the send sends nothing, and neither
// does its re-run. The returned commit is the event's: what fails to send is
// recorded against it (Record) and resent by Retry.
func Announce(ctx context.Context, repo *gitops.Repo, changeID string, e notify.Event) (gitops.Result, error) {
	if err := checkCell(e.Env, e.Service); err != nil {
		return gitops.Result{}, err
	}
	return repo.Apply(ctx, func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		ob, err := read(t, e.Env, e.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		ob.Sent = append(ob.Sent, statefile.Sent{ChangeID: changeID, SentAt: e.Time.UTC(), Event: toFile(e)})
		if err := write(t, e.Env, e.Service, ob, e.Time); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{
			ChangeID: changeID,
			Subject:  fmt.Sprintf("notify(%s): %s %s %s, sent once", e.Env, e.Service, e.Kind, e.Version),
			Trailers: trailers(e.Env, e.Service, e.By),
			Identity: identity(t),
		}, nil
	})
}

// Resender sends one event to one named sender; *notify.Notifier is one.
type Resender interface {
	Resend(ctx context.Context, e notify.Event, sender string) notify.Result
}

var _ Resender = (*notify.Notifier)(nil)

// RetryOptions choose what Retry resends.
type RetryOptions struct {
	// Env and Service, when set, resend only their outboxes.
	Env, Service string
	// By is who resends, recorded with the claim and the delivery.
	By string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ClaimTTL; default DefaultClaimTTL.
	ClaimTTL time.Duration
}

// Retried is what Retry did with one delivery.
type Retried struct {
	Env     string        `json:"environment"`
	Service string        `json:"service"`
	Kind    string        `json:"kind"`
	Commit  string        `json:"commit"`
	Key     string        `json:"key"`
	Result  notify.Result `json:"result"`
}

// ErrRecord is Retry's error when it sent but could not record what it
// sent: those deliveries stay claimed until ClaimTTL has passed.
var ErrRecord = errors.New("resent, but the outcome is not recorded in the GitOps repository")

// Retry resends every failed delivery of the outboxes o selects, at most
// once each (see the package doc), and records the outcomes. It returns
// what it resent; nothing to resend is an empty list, not an error.
func Retry(ctx context.Context, repo *gitops.Repo, r Resender, o RetryOptions) ([]Retried, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.By == "" {
		return nil, fmt.Errorf("resend notifications: no name to record the resend under: give who resends (--by)")
	}
	claim := newClaim()
	var claimed []Retried
	var events []notify.Event
	_, err := repo.Apply(ctx, func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		claimed, events = nil, nil // a fresh attempt on a new head
		now := o.Now().UTC()
		cells, err := cells(t, o.Env, o.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		for _, c := range cells {
			ob, err := read(t, c.env, c.svc)
			if err != nil {
				return gitops.Commit{}, err
			}
			took := false
			for i := range ob.Deliveries {
				d := &ob.Deliveries[i]
				due := d.State == statefile.DeliveryFailed ||
					(d.State == statefile.DeliverySending && d.ClaimedAt != nil && now.Sub(*d.ClaimedAt) > o.ClaimTTL)
				if !due {
					continue
				}
				d.State, d.Claim, d.ClaimedBy, d.ClaimedAt = statefile.DeliverySending, claim, o.By, &now
				claimed = append(claimed, Retried{Env: c.env, Service: c.svc, Kind: d.Event.Kind, Commit: d.Commit, Key: d.Key, Result: notify.Result{Sender: d.Sender}})
				events = append(events, fromFile(c.env, c.svc, d.Event))
				took = true
			}
			if took {
				if err := write(t, c.env, c.svc, ob, now); err != nil {
					return gitops.Commit{}, err
				}
			}
		}
		if len(claimed) == 0 {
			return gitops.Commit{}, gitops.ErrNoChange
		}
		return gitops.Commit{
			Subject:  fmt.Sprintf("notify: %s resends %d notification(s)", o.By, len(claimed)),
			Trailers: []gitops.Trailer{{Key: "Action", Value: Action}, {Key: "Deployed-By", Value: o.By}},
			Identity: identity(t),
		}, nil
	})
	if errors.Is(err, gitops.ErrNoChange) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim the notifications to resend in %s: %w", repo, err)
	}
	for i := range claimed {
		claimed[i].Result = r.Resend(ctx, events[i], claimed[i].Result.Sender)
	}
	_, err = repo.Apply(ctx, func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		now := o.Now().UTC()
		touched := map[[2]string]*statefile.Outbox{}
		for _, c := range claimed {
			k := [2]string{c.Env, c.Service}
			if touched[k] == nil {
				ob, err := read(t, c.Env, c.Service)
				if err != nil {
					return gitops.Commit{}, err
				}
				touched[k] = &ob
			}
			ob := touched[k]
			i := slices.IndexFunc(ob.Deliveries, func(x statefile.Delivery) bool { return x.Key == c.Key && x.Claim == claim })
			if i < 0 {
				continue // taken over after our claim expired: the newer resend records it
			}
			d := &ob.Deliveries[i]
			d.Attempts += c.Result.Attempts
			if c.Result.OK {
				d.State, d.Error, d.DeliveredAt, d.DeliveredBy, d.Link = statefile.DeliveryDelivered, "", &now, o.By, c.Result.Link
			} else {
				d.State, d.Error = statefile.DeliveryFailed, c.Result.Error
			}
			d.Claim, d.ClaimedBy, d.ClaimedAt = "", "", nil
		}
		for k, ob := range touched {
			if err := write(t, k[0], k[1], *ob, now); err != nil {
				return gitops.Commit{}, err
			}
		}
		sent := 0
		for _, c := range claimed {
			if c.Result.OK {
				sent++
			}
		}
		return gitops.Commit{
			Subject:  fmt.Sprintf("notify: %s resent %d of %d notification(s)", o.By, sent, len(claimed)),
			Trailers: []gitops.Trailer{{Key: "Action", Value: Action}, {Key: "Deployed-By", Value: o.By}},
			Identity: identity(t),
		}, nil
	})
	if err != nil && !errors.Is(err, gitops.ErrNoChange) {
		return claimed, fmt.Errorf("%w (%s): %w; they stay claimed for %s, after which smpctl notify retry takes them up again and may send what was sent twice: check the channels first", ErrRecord, repo, err, o.ClaimTTL)
	}
	return claimed, nil
}

type cell struct{ env, svc string }

// cells lists the outboxes under state/notifications, only env's and
// svc's when set.
func cells(t *gitops.Tree, env, svc string) ([]cell, error) {
	envs, err := t.List(statefile.NotificationsDir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", statefile.NotificationsDir, err)
	}
	var out []cell
	for _, e := range envs {
		if (env != "" && e != env) || !delivery.ValidName(e) {
			continue
		}
		files, err := t.List(statefile.NotificationsDir + "/" + e)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", statefile.NotificationsDir, e, err)
		}
		for _, f := range files {
			s, ok := strings.CutSuffix(f, ".yaml")
			if !ok || !delivery.ValidName(s) || (svc != "" && s != svc) {
				continue
			}
			out = append(out, cell{e, s})
		}
	}
	return out, nil
}

func read(t *gitops.Tree, env, svc string) (statefile.Outbox, error) {
	p := statefile.NotificationsPath(env, svc)
	if !t.Exists(p) {
		return statefile.Outbox{}, nil
	}
	b, err := t.ReadFile(p)
	if err != nil {
		return statefile.Outbox{}, fmt.Errorf("read %s: %w", p, err)
	}
	ob, err := statefile.DecodeOutbox(b)
	if err != nil {
		return ob, fmt.Errorf("read %s: %w: fix or remove the file with a commit (it lists notifications to resend)", p, err)
	}
	return ob, nil
}

// write stores ob, dropping deliveries delivered, and notifications sent,
// more than keep before now; an outbox left empty is removed.
func write(t *gitops.Tree, env, svc string, ob statefile.Outbox, now time.Time) error {
	p := statefile.NotificationsPath(env, svc)
	ob.Deliveries = slices.DeleteFunc(ob.Deliveries, func(d statefile.Delivery) bool {
		return d.State == statefile.DeliveryDelivered && d.DeliveredAt != nil && now.Sub(*d.DeliveredAt) > keep
	})
	ob.Sent = slices.DeleteFunc(ob.Sent, func(s statefile.Sent) bool { return now.Sub(s.SentAt) > keep })
	if len(ob.Deliveries) == 0 && len(ob.Sent) == 0 {
		if t.Exists(p) {
			return t.Remove(p)
		}
		return nil
	}
	b, err := statefile.EncodeOutbox(ob)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p, err)
	}
	return t.WriteFile(p, b)
}

// identity is the commit identity delivery.yaml names, as smpctl's writes
// use; zero (the Repo's own) when it names none or cannot be read, since
// recording a failure must not fail on the configuration.
func identity(t *gitops.Tree) gitops.Identity {
	b, err := t.ReadFile(delivery.FileName)
	if err != nil {
		return gitops.Identity{}
	}
	cfg, err := delivery.Parse(b)
	if err != nil {
		return gitops.Identity{}
	}
	return gitops.Identity{Name: cfg.Identity.Name, Email: cfg.Identity.Email}
}

func trailers(env, svc, by string) []gitops.Trailer {
	return []gitops.Trailer{{Key: "Action", Value: Action}, {Key: "Environment", Value: env}, {Key: "Service", Value: svc}, {Key: "Deployed-By", Value: by}}
}

func checkCell(env, svc string) error {
	if !delivery.ValidName(env) || !delivery.ValidName(svc) {
		return fmt.Errorf("record the notifications of %q in %q: not an environment and service name smp-gitops has", svc, env)
	}
	return nil
}

func newClaim() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func toFile(e notify.Event) statefile.NotificationEvent {
	return statefile.NotificationEvent{
		Kind: string(e.Kind), Version: e.Version, Digest: e.Digest, PreviousVersion: e.PreviousVersion, PreviousDigest: e.PreviousDigest,
		By: e.By, ApprovedBy: e.ApprovedBy, Reason: e.Reason, DiffURL: e.DiffURL, RunURL: e.RunURL, IncidentURL: e.IncidentURL, GateFailed: e.GateFailed, Time: e.Time.UTC(),
	}
}

func fromFile(env, svc string, f statefile.NotificationEvent) notify.Event {
	return notify.Event{
		Kind: notify.Kind(f.Kind), Env: env, Service: svc, Version: f.Version, Digest: f.Digest, PreviousVersion: f.PreviousVersion, PreviousDigest: f.PreviousDigest,
		By: f.By, ApprovedBy: f.ApprovedBy, Reason: f.Reason, DiffURL: f.DiffURL, RunURL: f.RunURL, IncidentURL: f.IncidentURL, GateFailed: f.GateFailed, Time: f.Time,
	}
}
