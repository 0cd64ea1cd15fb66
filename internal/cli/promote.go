package cli

import (
	"github.com/spf13/cobra"

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
			repo, err := o.open(a)
			if err != nil {
				return err
			}
			out, err := write.Promote(cmd.Context(), repo, write.PromoteRequest{Common: o.common(a), Service: svc, From: from, To: to, ApprovedBy: approvedBy, OverrideFreeze: reason})
			if err != nil {
				return err
			}
			return a.finishWrite(cmd.Context(), repo, &o, out, "")
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
