package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/write"
)

func init() { register(newPromoteCmd) }

func newPromoteCmd(a *App) *cobra.Command {
	var (
		o                              writeOptions
		svc, from, to, approvedBy, why string
		override                       bool
	)
	cmd := &cobra.Command{
		Use:   "promote --gitops URL|PATH --service SVC --from ENV --to ENV",
		Short: "Copy the exact image and chart version of one environment to the next",
		Long: `promote copies image.repository, image.tag, image.digest and chart.version of
SVC from --from to --to and commits "promote(TO): SVC → TAG" with Promoted-From
and the build's Source-Commit and Source-Time. --to must be the environment
right after --from in delivery.yaml unless it sets allowSkip. Environments
gated by approval or release-manager need a recorded approval of that version
and digest (smpctl approve); a release manager may not deploy what they
approved. Freezes and holds refuse as for deploy (exit 1). An environment
with soak: D takes only a version recorded to have soaked D in --from
(smpctl verify --for, smpctl soak record): otherwise exit 1, saying how long it
ran there and how long it still needs (docs/soak.md).`,
		Example: `  smpctl promote --gitops ../smp-gitops --service order-svc --from staging --to prod --by trung`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reason, err := overrideFreeze(override, why)
			if err != nil {
				return err
			}
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.Promote(cmd.Context(), repo, write.PromoteRequest{Common: o.common(a), Service: svc, From: from, To: to, ApprovedBy: approvedBy, OverrideFreeze: reason})
			if err != nil {
				return err
			}
			if err := a.finishWrite(cmd.Context(), repo, &o, out, ""); err != nil {
				return err
			}
			a.drainAfterPromote(cmd, repo, &o, from, svc)
			return nil
		},
	}
	addWriteFlags(cmd, &o, "who promotes (Deployed-By); must differ from the release manager who approved")
	f := cmd.Flags()
	f.StringVar(&svc, "service", "", "service, as named in delivery.yaml")
	f.StringVar(&from, "from", "", "environment to copy from")
	f.StringVar(&to, "to", "", "environment to copy to")
	f.StringVar(&approvedBy, "approved-by", "", "who approved; must match the recorded approval")
	f.BoolVar(&override, "override-freeze", false, "promote during a freeze window (needs --reason)")
	f.StringVar(&why, "reason", "", "why the freeze is overridden (recorded as Override-Freeze)")
	for _, n := range []string{"service", "from", "to"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// drainBehind is drainAfterPromote for a deploy into env (the reusable CD
// ships releases to staging and prod with deploy): what queued in the
// environment before env, behind the version that soaked there, goes in
// once that version moved on. Nothing queued there is nothing said.
func (a *App) drainBehind(cmd *cobra.Command, repo *gitops.Repo, o *writeOptions, out write.Outcome) {
	env, svc, cfg := out.Environment, out.Service, out.Config
	if cfg == nil {
		var err error
		if cfg, err = write.ReadConfig(cmd.Context(), repo); err != nil {
			fmt.Fprintf(a.Stderr, "queue: delivery.yaml could not be read again (%v): the deploy stands; run smpctl soak drain --service %s for the environment before %s\n", err, svc, env)
			return
		}
	}
	// Only an environment with a soak makes the one before it queue.
	if e, i, ok := cfg.Env(env); ok && i > 0 && e.Soak > 0 {
		a.drainAfterPromote(cmd, repo, o, cfg.Environments[i-1].Name, svc)
	}
}

// drainAfterPromote deploys what queued in from behind the version just
// promoted out of it (soak.md): its soak has ended, so the newest queued
// build goes in now rather than waiting for someone to run soak drain.
// The promotion stands whatever happens; a drain that cannot land says so
// and what to run.
func (a *App) drainAfterPromote(cmd *cobra.Command, repo *gitops.Repo, o *writeOptions, from, svc string) {
	out, err := write.DrainQueue(cmd.Context(), repo, write.DrainRequest{Common: o.common(a), Env: from, Service: svc})
	switch {
	case err != nil:
		fmt.Fprintf(a.Stderr, "queue: the deploy queued in %s was not deployed: %v; the promotion stands: run smpctl soak drain --env %s --service %s when that is fixed\n", from, err, from, svc)
	case !out.AlreadyDone:
		fmt.Fprintf(a.Stderr, "queue: %s (queued in %s behind the soak that just ended)\n", out.Message, from)
		// A deploy like any other: who hears of deploys to from hears of it.
		a.sendNotifications(cmd.Context(), repo, o, out, "")
	}
}
