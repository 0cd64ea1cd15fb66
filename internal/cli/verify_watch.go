package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
	"github.com/smp/delivery/internal/notify"
	"github.com/smp/delivery/internal/notify/outbox"
	"github.com/smp/delivery/internal/verify/gate"
	"github.com/smp/delivery/internal/verify/watch"
)

// nextSoak is the environment after env and the soak it requires of
// versions that ran in env, if it requires one.
func nextSoak(cfg *delivery.Config, env string) (next string, soak time.Duration, ok bool) {
	_, i, found := cfg.Env(env)
	if !found || i+1 >= len(cfg.Environments) || cfg.Environments[i+1].Soak == 0 {
		return "", 0, false
	}
	return cfg.Environments[i+1].Name, cfg.Environments[i+1].Soak.D(), true
}

// recordSoak records a passed watch as the soak of the version env runs
// (package write's RecordSoak: promote to the next environment needs it).
// Its Change-Id is derived from the release and the length of the watch,
// so a re-run of the same watch writes it once, and a longer watch of the
// same release (its soak was too short) still extends the record;
// RecordSoak itself never replaces a record with a shorter one.
func (a *App) recordSoak(ctx context.Context, repo *gitops.Repo, wo *watchOptions, o gate.Options, running envfile.File, rep watch.Report, watchFor, need time.Duration) (write.Outcome, error) {
	common := wo.write.common(a)
	common.By = wo.actor()
	if common.ChangeID == "" {
		common.ChangeID = gateChangeID(o.Env, o.Service, running.Image.Digest, "soak") + "-" + watchFor.String()
	}
	gateLine := ""
	if rep.Last != nil {
		gateLine = strings.Join(checkDetails(rep.Last.Result), "; ")
	}
	out, err := write.RecordSoak(ctx, repo, write.SoakRequest{Common: common, Env: o.Env, Service: o.Service,
		Version: running.Image.Tag, Digest: running.Image.Digest, Since: rep.Since, Until: rep.Until, Gate: gateLine})
	if err != nil {
		return out, fmt.Errorf("the gate passed, but its soak could not be recorded (promote needs %s of it): %w", need, err)
	}
	return out, nil
}

// gateActor is who a gate's rollback or hold is by when --by is not given.
const gateActor = "smpctl-gate"

// actor is who the watch acts as: --by (or its environment variable),
// else gateActor. Commits, holds and the Argo CD sync of a rollback all
// name the same one.
func (wo *watchOptions) actor() string {
	if wo.write.by != "" {
		return wo.write.by
	}
	return gateActor
}

// verifyWatch is verify --for: watch the version the GitOps repository
// says ENV runs, and act on a failed gate as delivery.yaml says.
func (a *App) verifyWatch(cmd *cobra.Command, o gate.Options, wo *watchOptions) error {
	ctx := cmd.Context()
	if _, err := wo.engine.kubernetes(); err != nil {
		return err
	}
	if wo.write.gitops == "" {
		return fault.Invalidf("--for acts on a failed gate as delivery.yaml's onGateFailure says: give the GitOps repository with --gitops (or SMP_GITOPS)")
	}
	repo, err := wo.write.open(cmd.Context(), a)
	if err != nil {
		return err
	}
	cfg, err := write.ReadConfig(ctx, repo)
	if err != nil {
		return err
	}
	env, _, ok := cfg.Env(o.Env)
	if !ok {
		return fault.Invalidf("--env %s: no such environment in %s (environments: %s)", o.Env, delivery.FileName, strings.Join(cfg.EnvNames(), ", "))
	}
	if _, ok := cfg.Service(o.Service); !ok {
		return fault.Invalidf("--service %s: no such service in %s: add it with smpctl gitops add-service", o.Service, delivery.FileName)
	}
	if wo.migrations != MigrationsNone {
		// Bad input is said now, not after a watch of ten minutes.
		if _, err := a.schemaCheck(wo.migrations, false, "", nil); err != nil {
			return err
		}
	}
	running, err := write.Running(ctx, repo, o.Env, o.Service)
	if err != nil {
		return err
	}
	if running.Image.Tag == "" || running.Image.Digest == "" {
		return fault.Invalidf("%s runs nothing in %s (environments/%s/%s.yaml pins no image): deploy it before watching it", o.Service, o.Env, o.Env, o.Service)
	}
	if wo.sync {
		// Said now, not after a watch of ten minutes: the engine that
		// would apply the rollback is unreachable.
		if wo.view, err = a.rolloutOn(ctx, &wo.engine, o.Env, o.Service, wo.actor()); err != nil {
			return fmt.Errorf("--sync: reach the engine that applies a rollback: %w", err)
		}
	}
	if o.Version == "" {
		o.Version = running.Image.Tag
	}
	window := o.Window
	if window == 0 {
		window = 5 * time.Minute
	}
	next, soak, soaks := nextSoak(cfg, o.Env)
	watchFor, why := wo.watchFor.d, ""
	switch {
	case wo.watchFor.soak && soaks:
		watchFor, why = soak, ", the soak "+next+" asks"
	case wo.watchFor.soak:
		watchFor, why = defaultWatchFor, ": no environment after "+o.Env+" asks a soak"
	}
	fmt.Fprintf(a.Stderr, "watching %s %s in %s for %s%s (gate every %s, over %s; on failure: %s)\n",
		o.Service, o.Version, o.Env, watchFor, why, everyOr(wo.every, window), window, env.GateActionFor())
	rep, werr := watch.Watch(ctx, watch.Options{
		For: watchFor, Wait: wo.wait, Every: wo.every, Window: window, FailureLimit: wo.failureLimit,
		Evaluate: func(ctx context.Context, now time.Time) (gate.Result, error) {
			oo := o
			oo.At = now
			return gate.Verify(ctx, oo)
		},
		Progress: func(e watch.Evaluation) { a.progressLine(e) },
	})
	res := verifyResult{Watch: rep}
	switch {
	case werr == nil:
		if soaks {
			out, err := a.recordSoak(ctx, repo, wo, o, running, rep, watchFor, soak)
			if err != nil {
				return err
			}
			res.Action, res.Written = "soak", &out
			// A watch shorter than the soak is recorded all the same (a
			// longer one later extends it), and says what promote needs.
			st, err := write.SoakStateOf(ctx, repo, o.Env, o.Service, a.Now())
			switch {
			case err != nil:
				res.Left = "read back the soak recorded: " + err.Error()
			case !st.Done:
				recorded := time.Duration(0)
				if st.Soaked != nil {
					recorded = st.Soaked.Duration()
				}
				res.Left = fmt.Sprintf("%s needs soak: %s in %s, and %s of it is recorded: promote refuses %s until a watch of at least %s passes (smpctl verify --for soak)",
					next, soak, o.Env, recorded.Round(time.Second), o.Version, soak)
			}
		}
		return a.Render(res, res.WriteText)
	case errors.Is(werr, watch.ErrFailed):
		res, err = a.actOnFailedGate(ctx, repo, wo, env, running, rep)
		if rerr := a.Render(res, res.WriteText); rerr != nil {
			return rerr
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s %s in %s: %s (%s)", gate.ErrGateFailed, o.Service, o.Version, o.Env, res.Action, rep.Reason)
	case errors.Is(werr, watch.ErrUnknown):
		ev := a.gateEvent(wo, o.Env, o.Service, running, rep, notify.GateFailure, "gate unknown: "+rep.Reason+"; nothing rolled back: a person decides")
		res.Left = "a person decides: look at the service's dashboards, then roll back (smpctl rollback) or watch again (smpctl verify --for)"
		// The verdict is recorded before it is sent, as a notify-only
		// failure is: a re-run of the job that is unknown again about the
		// same release finds the record and does not page anyone twice.
		changeID := wo.write.common(a).ChangeID
		if changeID == "" {
			changeID = gateChangeID(o.Env, o.Service, running.Image.Digest, "unknown")
		}
		out, err := announceGate(ctx, repo, changeID, ev)
		res.Action = out.Action
		switch {
		case err != nil:
			res.Left = joinLeft(res.Left, "the notification is sent without its record in git ("+err.Error()+"): a re-run sends it again")
			a.notify(ctx, repo, nil, "", ev)
		case out.AlreadyDone:
			res.Written = &out
		default:
			res.Written = &out
			a.notify(ctx, repo, out.Config, out.Commit, ev)
		}
		if rerr := a.Render(res, res.WriteText); rerr != nil {
			return rerr
		}
		return werr
	default:
		return werr // interrupted, or bad options: nothing was done
	}
}

func everyOr(every, window time.Duration) time.Duration {
	if every != 0 {
		return every
	}
	return min(max(window/5, time.Second), window)
}

// progressLine says one evaluation on standard error as it happens.
func (a *App) progressLine(e watch.Evaluation) {
	what := e.Error
	if e.Outcome != watch.NoData {
		what = strings.Join(checkDetails(e.Result), "; ")
	}
	fmt.Fprintf(a.Stderr, "%s %-7s %s\n", e.At.UTC().Format(time.TimeOnly), e.Outcome, what)
}

func checkDetails(r gate.Result) []string {
	var s []string
	for _, c := range r.Checks {
		s = append(s, c.Name+": "+c.Detail)
	}
	return s
}

// actOnFailedGate does what env's onGateFailure says about a failed watch,
// then notifies. An abort that fails does not stop the rollback commit: git
// is how the previous version comes back; what is left is said.
func (a *App) actOnFailedGate(ctx context.Context, repo *gitops.Repo, wo *watchOptions, env delivery.Environment, running envfile.File, rep watch.Report) (verifyResult, error) {
	res := verifyResult{Watch: rep, Action: string(env.GateActionFor())}
	judged := rep.Last.Result
	reason := "metric gate failed for " + judged.Version + ": " + watch.FailedChecks(judged)
	common := wo.write.common(a)
	common.By = wo.actor()
	if common.ChangeID == "" {
		common.ChangeID = gateChangeID(env.Name, judged.Service, running.Image.Digest, res.Action)
	}
	trailers := gateTrailers(rep)
	var (
		out write.Outcome
		err error
	)
	ev := a.gateEvent(wo, env.Name, judged.Service, running, rep, notify.GateFailure, reason)
	switch env.GateActionFor() {
	case delivery.GateRollback:
		if running.Strategy.Name == "blueGreen" {
			res.Abort, res.Left = a.abortRollout(ctx, &wo.engine, env.Name, judged.Service)
		}
		req := write.RollbackRequest{Common: common, Env: env.Name, Service: judged.Service, Reason: reason, Trailers: trailers, ByGate: true}
		if wo.migrations == MigrationsNone {
			res.Schema = notCheckedNone
		} else {
			say := func(s string) { res.Schema = strings.TrimPrefix(res.Schema+"\n"+s, "\n") }
			if req.Check, err = a.schemaCheck(wo.migrations, false, wo.engine.localMirror(wo.sync), say); err != nil {
				return res, err
			}
		}
		out, err = write.Rollback(ctx, repo, req)
		var undecided schemaUndecided
		if errors.Is(err, errSchemaRefused) || errors.As(err, &undecided) {
			// Refused: the previous image cannot run on the schema this
			// release migrated to, and rolling back would break prod a
			// second time. Undecided: nothing says it can. Either way the
			// release is held, so no automated deploy lands on it, and a
			// person is told what to do.
			res.Action = string(delivery.GateHold)
			if undecided.err == nil {
				res.Left = "the rollback was refused: " + err.Error()
				reason += "; rollback refused: a contract migration would stay applied (roll forward, or migrate down then roll back)"
			} else {
				res.Left = fmt.Sprintf("the rollback was not written: the schema check could not decide whether the previous image runs on the schema %s applied (%v). "+
					"%s keeps running, held. A person must either make the check work (the registry, the database in SMP_DATABASE_DSN, a dirty schema_migrations) and run the watch again, "+
					"or decide: roll forward, or, knowing the schema allows it, smpctl rollback --env %s --service %s --migrations none; "+
					"then smpctl hold release --env %s --service %s",
					judged.Version, undecided.err, judged.Version, env.Name, judged.Service, env.Name, judged.Service)
				reason += "; rollback not written: the schema check could not decide (" + undecided.err.Error() + "): a person decides"
			}
			common.ChangeID = gateChangeID(env.Name, judged.Service, running.Image.Digest, res.Action)
			out, err = write.PlaceHold(ctx, repo, write.HoldRequest{Common: common, Env: env.Name, Service: judged.Service, Reason: reason, Trailers: trailers, ByGate: true})
			if err == nil {
				ev.Kind = notify.Hold
				ev.Reason = reason
			}
			break
		}
		if err == nil {
			ev = outcomeEvent(a, &wo.write, out, reason)
			ev.By = common.By
		}
	case delivery.GateHold:
		out, err = write.PlaceHold(ctx, repo, write.HoldRequest{Common: common, Env: env.Name, Service: judged.Service, Reason: reason, Trailers: trailers, ByGate: true})
		if err == nil {
			ev.Kind = notify.Hold
		}
	case delivery.GateNotify:
		// Nothing else records this verdict in git: without the record,
		// every re-run of the CI job would post it again.
		out, err = announceGate(ctx, repo, common.ChangeID, ev)
	}
	ev.Gate, ev.GateFailed = notifyGate(judged), true
	if err != nil {
		left := "nothing was written: roll back by hand (smpctl rollback --env " + env.Name + " --service " + judged.Service + ")"
		if env.GateActionFor() == delivery.GateNotify {
			left = "the notification is sent without its record in git: a re-run sends it again"
		}
		res.Left = joinLeft(res.Left, left)
		a.notify(ctx, repo, nil, "", a.gateEvent(wo, env.Name, judged.Service, running, rep, notify.GateFailure, reason+"; the "+res.Action+" failed: "+err.Error()))
		return res, fmt.Errorf("the gate failed and its %s could not be written: %w", res.Action, err)
	}
	if out.Action != "" {
		res.Written = &out
	}
	if !out.AlreadyDone {
		a.notify(ctx, repo, out.Config, out.Commit, ev)
	}
	// With --sync the rollback is applied after the notifications, which
	// must not wait for it. A sync that fails or times out is left to a
	// person, with the command that finishes it: a new watch would read
	// the restored version from git and watch that, not apply this one.
	if wo.view != nil && res.Action == string(delivery.GateRollback) {
		how, err := a.applyRollback(ctx, repo, wo.view, out, wo.syncTimeout)
		if err != nil {
			res.Left = joinLeft(res.Left, err.Error())
		} else {
			res.Synced = how
		}
	}
	return res, nil
}

// joinLeft adds more to what is left to do.
func joinLeft(left, more string) string {
	if left == "" {
		return more
	}
	return left + "; " + more
}

// announceGate records the notify-only verdict ev in the GitOps repository
// before it is sent (outbox.Announce), under changeID: a re-run of the same
// watch finds it, AlreadyDone, and sends nothing.
func announceGate(ctx context.Context, repo *gitops.Repo, changeID string, ev notify.Event) (write.Outcome, error) {
	out := write.Outcome{Action: string(delivery.GateNotify), Environment: ev.Env, Service: ev.Service}
	res, err := outbox.Announce(ctx, repo, changeID, ev)
	var applied *gitops.AlreadyAppliedError
	switch {
	case errors.As(err, &applied):
		out.AlreadyDone, out.Commit = true, applied.Commit
		out.Message = fmt.Sprintf("change %s already notified as %.12s (%s); not sent again", applied.ChangeID, applied.Commit, applied.Subject)
	case err != nil:
		return out, fmt.Errorf("record the notification in %s: %w", repo, err)
	default:
		out.Commit, out.Attempts, out.Message = res.Commit, res.Attempts, res.Subject
	}
	return out, nil
}

// gateEvent is a notification of the gate's verdict.
func (a *App) gateEvent(wo *watchOptions, env, svc string, running envfile.File, rep watch.Report, kind notify.Kind, reason string) notify.Event {
	ev := notify.Event{Kind: kind, Env: env, Service: svc, Version: running.Image.Tag, Digest: running.Image.Digest,
		By: wo.actor(), RunURL: wo.write.run, Reason: reason, Time: a.Now()}
	if rep.Last != nil {
		ev.Gate = notifyGate(rep.Last.Result)
	}
	return ev
}

func notifyGate(r gate.Result) *notify.Gate {
	g := &notify.Gate{ErrorRate: r.ErrorRate, P95: seconds(r.P95), BaselineP95: seconds(r.BaselineP95), Requests: int(r.Requests)}
	for _, c := range r.Checks {
		switch c.Name {
		case "error rate":
			g.ErrorRateLimit = c.Limit
		case "p95 latency":
			g.P95Limit = seconds(c.Limit)
		}
	}
	return g
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// abortRollout aborts env/svc's Rollout on the engine the flags name. A
// Rollout with nothing to abort (already promoted) is no failure: the
// rollback commit switches active back while the previous ReplicaSet still
// runs (scaleDownDelaySeconds). It returns what happened and, when the
// abort failed, what is left to do.
func (a *App) abortRollout(ctx context.Context, e *engineFlags, env, svc string) (done, left string) {
	k, err := e.cluster(a)
	if err == nil {
		if k != nil {
			err = k.Abort(ctx, env, svc, a.Stderr)
		} else {
			var cl *daemon.Client
			if cl, _, err = daemon.Connect(e.dir); err == nil {
				err = cl.Rollout(ctx, env, svc, "abort")
			}
		}
	}
	var de *daemon.Error
	switch {
	case err == nil:
		return "aborted: the preview is gone, active never changed", ""
	case errors.Is(err, kube.ErrNothingToAbort), errors.As(err, &de) && de.Conflict:
		return "nothing to abort (the release was already promoted): the rollback commit switches active back", ""
	default:
		return "failed: " + err.Error() + "; the rollback is written anyway",
			fmt.Sprintf("check the Rollout (smpctl rollout status %s %s) and abort it if it still shows the bad preview", env, svc)
	}
}

// gateChangeID names the action a failed gate takes on one release, so a
// watch run again (a re-run CI job, a restarted watch) writes it once.
func gateChangeID(env, svc, digest, action string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 16 {
		d = d[:16]
	}
	return "gate-" + action + "-" + env + "-" + svc + "-" + d
}

// gateTrailers records the gate's figures in the commit.
func gateTrailers(rep watch.Report) []gitops.Trailer {
	r := rep.Last.Result
	return []gitops.Trailer{
		{Key: "Gate-Verdict", Value: string(rep.Verdict)},
		{Key: "Gate-Version", Value: r.Version},
		{Key: "Gate-Baseline", Value: r.Baseline},
		{Key: "Gate-Window", Value: r.Window},
		{Key: "Gate-Requests", Value: strconv.FormatFloat(r.Requests, 'f', 0, 64)},
		{Key: "Gate-Error-Rate", Value: strconv.FormatFloat(r.ErrorRate, 'f', 4, 64)},
		{Key: "Gate-P95", Value: seconds(r.P95).Round(100 * time.Microsecond).String()},
		{Key: "Gate-Baseline-P95", Value: seconds(r.BaselineP95).Round(100 * time.Microsecond).String()},
		{Key: "Gate-Failed", Value: watch.FailedChecks(r)},
		{Key: "Gate-Watched", Value: rep.Until.Sub(rep.Since).Round(time.Second).String()},
	}
}
