package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/gitops/write"
)

func init() { register(newSoakCmd) }

func newSoakCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "soak record|drain|status",
		Short: "Record that a version soaked, and see or deploy what is queued behind a soak",
		Long: `An environment with soak: D in delivery.yaml takes only a version that ran D
in the environment before it with its metric gate passing, recorded in
state/soaks/ENV/SVC/VERSION.yaml (smpctl verify --for records it; soak record
records a watch by hand). While a version soaks, an automated deploy to its
environment (smpctl deploy --queue-if-soaking) is queued in
state/queue/ENV/SVC.yaml instead of restarting the clock; soak drain deploys
the newest queued one once the soak ended. docs/soak.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSoakRecordCmd(a), newSoakDrainCmd(a), newSoakStatusCmd(a))
	return cmd
}

func newSoakRecordCmd(a *App) *cobra.Command {
	var (
		o                                       writeOptions
		env, svc, version, digest, since, until string
		gate                                    string
	)
	cmd := &cobra.Command{
		Use:   "record --gitops URL|PATH --env ENV --service SVC --version TAG [--since TIME] [--until TIME]",
		Short: "Record that the version an environment runs soaked there with its gate passing",
		Long: `soak record writes state/soaks/ENV/SVC/VERSION.yaml and commits
"soak(ENV): SVC VERSION soaked DURATION". VERSION must be what ENV runs. The
window defaults to from its deploy to ENV until now; recording a window no
longer than the one recorded exits 0 without a commit.`,
		Example: `  smpctl soak record --gitops ../smp-gitops --env staging --service order-svc --version 3.3.0 \
    --since 2026-11-25T10:00:00Z --until 2026-11-25T10:30:00Z --gate 'error rate 0.2%, p95 180ms' --by oncall`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := write.SoakRequest{Common: o.common(a), Env: env, Service: svc, Version: version, Digest: digest, Gate: gate}
			var err error
			if req.Since, err = flagTime("--since", since); err != nil {
				return err
			}
			if req.Until, err = flagTime("--until", until); err != nil {
				return err
			}
			if err := req.Validate(); err != nil {
				return err
			}
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.RecordSoak(cmd.Context(), repo, req)
			if err != nil {
				return err
			}
			return renderOutcome(a, out)
		},
	}
	addWriteFlags(cmd, &o, "who watched (Deployed-By)")
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "environment the version soaked in")
	f.StringVar(&svc, "service", "", "service, as named in delivery.yaml")
	f.StringVar(&version, "version", "", "image tag that soaked: the one ENV runs")
	f.StringVar(&digest, "digest", "", "digest that soaked (default: the one ENV runs; another is refused)")
	f.StringVar(&since, "since", "", "RFC 3339 start of the window the gate passed (default: the version's deploy to ENV)")
	f.StringVar(&until, "until", "", "RFC 3339 end of the window (default: now)")
	f.StringVar(&gate, "gate", "", "the gate's figures, kept in the record")
	for _, n := range []string{"env", "service", "version"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newSoakDrainCmd(a *App) *cobra.Command {
	var (
		o        writeOptions
		env, svc string
	)
	cmd := &cobra.Command{
		Use:   "drain --gitops URL|PATH --env ENV --service SVC",
		Short: "Deploy the newest deploy queued behind a soak, once the soak ended",
		Long: `soak drain deploys state/queue/ENV/SVC.yaml with every check of a deploy
(freeze, hold, approval) and removes it in the same commit. While the version
ENV runs still soaks, or when nothing is queued, it exits 0 without a commit,
so running it again (a restarted watch) deploys nothing twice. A held service
is refused (exit 1) and its queue kept until the hold is released. Run it
after promoting the version that soaked: draining replaces it in ENV.`,
		Example: `  smpctl soak drain --gitops ../smp-gitops --env dev --service order-svc --by ci`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.DrainQueue(cmd.Context(), repo, write.DrainRequest{Common: o.common(a), Env: env, Service: svc})
			if err != nil {
				return err
			}
			return a.finishWrite(cmd.Context(), repo, &o, out, "")
		},
	}
	addWriteFlags(cmd, &o, "who drains (Dequeued-By)")
	cmd.Flags().StringVar(&env, "env", "", "environment")
	cmd.Flags().StringVar(&svc, "service", "", "service")
	for _, n := range []string{"env", "service"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newSoakStatusCmd(a *App) *cobra.Command {
	var (
		o        writeOptions
		env, svc string
	)
	cmd := &cobra.Command{
		Use:   "status --gitops URL|PATH --env ENV --service SVC",
		Short: "Show whether the version an environment runs soaks, what it soaked and what is queued",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			st, err := write.SoakStateOf(cmd.Context(), repo, env, svc, a.Now())
			if err != nil {
				return err
			}
			return a.Render(st, func(w io.Writer) error { return writeSoakState(w, st) })
		},
	}
	addWriteFlags(cmd, &o, "")
	cmd.Flags().StringVar(&env, "env", "", "environment")
	cmd.Flags().StringVar(&svc, "service", "", "service")
	for _, n := range []string{"env", "service"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func writeSoakState(w io.Writer, st write.SoakState) error {
	ew := &errWriter{w: w}
	deployed := "not deployed by smpctl"
	if !st.DeployedAt.IsZero() {
		deployed = "deployed " + st.DeployedAt.UTC().Format(time.RFC3339)
	}
	ew.printf("%s in %s runs %s (%s)\n", st.Service, st.Environment, orDash(st.Tag), deployed)
	if st.Need == 0 {
		next := "it is the last environment"
		if st.Next != "" {
			next = st.Next + " has no soak"
		}
		ew.printf("nothing soaks here: %s\n", next)
	} else {
		soaked := "none"
		if st.Soaked != nil {
			soaked = fmt.Sprintf("%s (%s to %s)", st.Soaked.Duration().Round(time.Second), st.Soaked.Since.UTC().Format(time.RFC3339), st.Soaked.Until.UTC().Format(time.RFC3339))
		}
		ew.printf("%s needs soak: %s; recorded: %s\n", st.Next, st.Need, soaked)
		switch {
		case st.Promoted:
			ew.printf("promoted to %s: automated deploys land\n", st.Next)
		case st.Held:
			ew.printf("held: automated deploys are refused until the hold is released\n")
		case st.Soaking:
			ew.printf("soaking: automated deploys are queued\n")
		default:
			ew.printf("not soaking: automated deploys land\n")
		}
	}
	if st.Queued != nil {
		q := st.Queued
		ew.printf("queued: %s (%s) at %s by %s\n", q.Tag, history.ShortDigest(q.Digest), q.QueuedAt.UTC().Format(time.RFC3339), orDash(q.By))
	} else {
		ew.printf("queued: none\n")
	}
	return ew.err
}

// writeQueue is status's section of the deploys queued behind a soak.
func writeQueue(w io.Writer, queue []history.QueuedDeploy) error {
	if len(queue) == 0 {
		return nil
	}
	ew := &errWriter{w: w}
	ew.printf("\nqueued behind a soak (smpctl soak drain deploys them when it ends):\n")
	for _, q := range queue {
		if q.Error != "" {
			ew.printf("  %s %s: state/queue/%s/%s.yaml is not a queued deploy (%s): fix or remove it with a commit\n", q.Service, q.Environment, q.Environment, q.Service, q.Error)
			continue
		}
		ew.printf("  %s %s %s (%s) behind %s, queued %s by %s\n", q.Service, q.Environment, q.Tag, history.ShortDigest(q.Digest),
			orDash(q.Behind), q.QueuedAt.UTC().Format(time.RFC3339), orDash(q.By))
	}
	return ew.err
}

// errWriter keeps the first write error, so a text renderer reads as a
// list of lines.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// flagTime parses an optional RFC 3339 flag.
func flagTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fault.Invalidf("%s %q: give an RFC 3339 time such as 2026-11-25T09:30:00Z", name, v)
	}
	return t, nil
}
