package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/verify/gate"
	"github.com/smp/delivery/internal/verify/watch"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(a *App) *cobra.Command {
	var (
		o  gate.Options
		wo watchOptions
	)
	cmd := &cobra.Command{
		Use:   "verify --prometheus URL --service SVC --env ENV [--window 5m] [--for 10m --gitops REPO]",
		Short: "The post-deploy metric gate: error rate > 2% or p95 > 2x the baseline fails; --for watches and acts",
		Long: `verify asks Prometheus how the newest version of SVC in ENV behaves over
--window, against its baseline (the version that ran before it): an error
rate above 2% (5xx of API routes) or a p95 latency above twice the
baseline's (and at least --min-latency-delta more) fails, and so does a
version with no traffic to judge. Exit 1
when the gate fails. Series are selected by their env, service and version
labels. (Image signatures are checked by 'smpctl image verify'.)

With --for DURATION, verify watches the version ENV runs in the GitOps
repository (--gitops) for that long, running the gate every --every, and
acts when it fails (--failure-limit evaluations in a row, each with
traffic) as delivery.yaml's onGateFailure for ENV says. The DURATION
counts from the first evaluation with traffic: a blue/green release is
waited for until it is promoted, up to --wait:

  rollback (default)  in a blue/green environment, abort the Rollout if the
                      release still waits for promotion; then commit
                      rollback(ENV) to the previous image with a hold, the
                      gate's figures in Gate-* trailers
  hold                commit a hold, the figures in its trailers
  notify              only the notifications

With --sync, a rollback the watch writes is applied at once where the
service runs, the local runtime (--dir) or a cluster (--kubeconfig/
--context), as rollback --sync does: prod syncs manually, and without it
the commit waits for someone to sync. The engine is reached before the
watch starts.

and then sends the notifications delivery.yaml configures (a rollback in
prod opens the incident) and exits 1. A watch that cannot judge — Prometheus
unreachable, or no traffic, for longer than the gate's window — rolls
nothing back: it says "unknown", notifies gate-failure (recorded in git
first, so a re-run unknown about the same release does not notify again),
and exits 1 for a person to decide. A watch that passes exits 0. Running it again after an
interruption writes nothing twice (the commit's Change-Id is derived from
ENV, SVC, the judged digest and the action).

A watch that passes, where the next environment asks a soak (soak: in
delivery.yaml), records the soak it saw; promote needs one at least that
long, and a longer watch later extends a shorter record. --for soak
watches exactly as long as that soak (10m when none is asked).`,
		Example: `  smpctl verify --prometheus http://prometheus:9090 --env prod --service order-svc
  smpctl verify --prometheus http://prometheus:9090 --env prod --service order-svc \
    --for 10m --gitops https://github.com/smp/smp-gitops.git --run "$RUN_URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			o.Log = a.Log
			if (wo.every != 0 || wo.wait != 0 || wo.failureLimit != 0 || cmd.Flags().Changed("migrations") || wo.sync || cmd.Flags().Changed("sync-timeout")) && !wo.watchFor.set() {
				return fault.Invalidf("--every, --wait, --failure-limit, --migrations, --sync and --sync-timeout go with --for DURATION: the watch")
			}
			if cmd.Flags().Changed("sync-timeout") && !wo.sync {
				return fault.Invalidf("--sync-timeout is how long --sync waits for the rollback: add --sync, or drop --sync-timeout")
			}
			if wo.watchFor.set() {
				return a.verifyWatch(cmd, o, &wo)
			}
			res, err := gate.Verify(cmd.Context(), o)
			if err != nil && !errors.Is(err, gate.ErrGateFailed) {
				return err
			}
			if rerr := a.Render(res, res.WriteText); rerr != nil {
				return rerr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Prometheus, "prometheus", "", "Prometheus base URL (required)")
	f.StringVar(&o.Service, "service", "", "service name (required)")
	f.StringVar(&o.Env, "env", "", "environment name (required)")
	f.DurationVar(&o.Window, "window", 0, "window of the rates and quantiles (default 5m)")
	f.StringVar(&o.Version, "version", "", "version to judge (default: the newest seen; with --for, the one ENV runs in the GitOps repository)")
	f.StringVar(&o.Baseline, "baseline", "", "baseline version (default: the one before --version)")
	f.DurationVar(&o.Timeout, "query-timeout", 0, "how long each Prometheus query may take before the gate gives up on it, exit 1 (default 10s)")
	inputFlag(cmd, "Timeout", "query-timeout")
	f.IntVar(&o.Attempts, "query-attempts", 0, "how many times a query that timed out or failed to connect is asked before the gate gives up, exit 1 (default 3)")
	inputFlag(cmd, "Attempts", "query-attempts")
	f.DurationVar(&o.MinLatencyDelta, "min-latency-delta", 0, "smallest p95 increase that fails the gate, below which 2x is noise (default 25ms)")
	f.Var(&wo.watchFor, "for", "watch the release this long, acting on a failed gate as delivery.yaml's onGateFailure says (needs --gitops); \"soak\": as long as the soak the next environment asks (delivery.yaml), else "+defaultWatchFor.String())
	f.DurationVar(&wo.every, "every", 0, "with --for: time between evaluations (default a fifth of --window, at most --window)")
	f.DurationVar(&wo.wait, "wait", 0, "with --for: how long to wait for the release's first traffic before the watch starts counting (a blue/green preview before its promotion, an environment still syncing); default --for")
	f.IntVar(&wo.failureLimit, "failure-limit", 0, "with --for: failed evaluations in a row that fail the watch (default 1)")
	f.StringVar(&wo.migrations, "migrations", MigrationsFromImage, "with --for: check the rollback against the running version's migrations — \"image\", what smpctl build recorded on the image, a directory, or \"none\" (no check); a rollback that would leave a contract migration applied, or that the check cannot judge, becomes a hold")
	addWriteFlags(cmd, &wo.write, "with --for: who acts on a failed gate, recorded as Deployed-By and the hold's by (default smpctl-gate)")
	f.BoolVar(&wo.sync, "sync", false, "with --for: when the watch writes a rollback, apply it on the local runtime (--dir) or the cluster (--kubeconfig/--context) and wait until the previous version is active, promoting it if it waits on the preview (prod syncs manually)")
	f.DurationVar(&wo.syncTimeout, "sync-timeout", 10*time.Minute, "with --sync: how long to wait for the rollback before exit 1 with what is left to do")
	wo.engine.add(cmd)
	for _, n := range []string{"prometheus", "service", "env"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// watchOptions are verify's --for flags.
type watchOptions struct {
	watchFor     watchDuration
	every, wait  time.Duration
	failureLimit int
	migrations   string
	write        writeOptions
	engine       engineFlags
	// sync applies a rollback the watch writes on the engine (view) and
	// waits until the previous version is active (bringActive).
	sync        bool
	syncTimeout time.Duration
	view        rolloutView
}

// defaultWatchFor is how long --for soak watches when the next
// environment asks no soak: the reusable CD's watch before it could say
// soak.
const defaultWatchFor = 10 * time.Minute

// watchDuration is --for: a duration, or "soak", which is known only once
// delivery.yaml is read (for).
type watchDuration struct {
	d    time.Duration
	soak bool
}

func (w *watchDuration) Set(s string) error {
	if s == "soak" {
		w.d, w.soak = 0, true
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("give a duration (30m) or soak (the next environment's soak): %w", err)
	}
	w.d, w.soak = d, false
	return nil
}

func (w *watchDuration) String() string {
	if w.soak {
		return "soak"
	}
	return w.d.String()
}

func (w *watchDuration) Type() string { return "duration|soak" }

// set says whether --for was given: the watch, not the one-off gate.
func (w *watchDuration) set() bool { return w.soak || w.d != 0 }

// verifyResult is what verify --for prints.
type verifyResult struct {
	Watch watch.Report `json:"watch"`
	// Action is what was done about a failed or unknown gate: rollback,
	// hold, notify, or empty.
	Action string `json:"action,omitempty"`
	// Abort says what became of the Rollout's abort, if one was tried.
	Abort string `json:"abort,omitempty"`
	// Written is the commit the action made.
	Written *write.Outcome `json:"written,omitempty"`
	// Schema says what the schema check of a rollback found, or that
	// nothing was checked.
	Schema string `json:"schema,omitempty"`
	// Synced, with --sync, says how the rollback became active.
	Synced string `json:"synced,omitempty"`
	// Left says what a person still has to do.
	Left string `json:"left,omitempty"`
}

func (r verifyResult) WriteText(w io.Writer) error {
	if err := r.Watch.WriteText(w); err != nil {
		return err
	}
	if r.Abort != "" {
		fmt.Fprintf(w, "abort: %s\n", r.Abort)
	}
	if r.Written != nil {
		short := r.Written.Commit
		if len(short) > 12 {
			short = short[:12]
		}
		if r.Written.AlreadyDone {
			fmt.Fprintf(w, "%s: %s\n", r.Action, r.Written.Message)
		} else {
			fmt.Fprintf(w, "%s: %s (committed %s and pushed)\n", r.Action, r.Written.Message, short)
		}
	}
	if r.Schema != "" {
		fmt.Fprintln(w, r.Schema)
	}
	if r.Synced != "" {
		fmt.Fprintf(w, "sync: %s\n", r.Synced)
	}
	if r.Left != "" {
		fmt.Fprintf(w, "left: %s\n", r.Left)
	}
	return nil
}
