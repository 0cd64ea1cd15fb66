package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/verify/gate"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(a *App) *cobra.Command {
	var o gate.Options
	cmd := &cobra.Command{
		Use:   "verify --prometheus URL --service SVC --env ENV [--window 5m]",
		Short: "The post-deploy metric gate: error rate > 2% or p95 > 2x the baseline fails",
		Long: `verify asks Prometheus how the newest version of SVC in ENV behaves over
--window, against its baseline (the version that ran before it): an error
rate above 2% (5xx of API routes) or a p95 latency above twice the
baseline's (and at least --min-latency-delta more) fails, and so does a
version with no traffic to judge. Exit 1
when the gate fails. Series are selected by their env, service and version
labels. (Image signatures are checked by 'smpctl image verify'.)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
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
	f.StringVar(&o.Version, "version", "", "version to judge (default: the newest seen)")
	f.StringVar(&o.Baseline, "baseline", "", "baseline version (default: the one before --version)")
	f.DurationVar(&o.MinLatencyDelta, "min-latency-delta", 0, "smallest p95 increase that fails the gate, below which 2x is noise (default 25ms)")
	for _, n := range []string{"prometheus", "service", "env"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}
