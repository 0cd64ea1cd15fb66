package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
)

func init() { register(newMetricsCmd) }

func newMetricsCmd(a *App) *cobra.Command {
	var (
		rf    readFlags
		o     history.MetricsOptions
		until string
	)
	cmd := &cobra.Command{
		Use:   "metrics --gitops URL|PATH [--window 720h]",
		Short: "Delivery metrics per service and environment, from the GitOps repository's history alone",
		Long: `metrics computes, per environment and service over a window ending now
(or at --until):

  deploys / per day   deployment frequency: deploy and promote commits
  lead time           commit time of the deploy − Source-Time of the code (p50, p90)
  CFR                 change failure rate: rollbacks / deploys
  restore             time to restore: rollback commit − the deploy it undid (p50)

Rows with service "(all)" are the environment's totals.`,
		Example: `  smpctl metrics --gitops ../smp-gitops
  smpctl metrics --gitops ../smp-gitops --window 168h --env prod -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Until = a.Now()
			if until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return fault.Invalidf("invalid --until %q: give an RFC 3339 time such as 2026-11-25T00:00:00Z", until)
				}
				o.Until = t
			}
			if o.Window <= 0 {
				return fault.Invalidf("invalid --window %s: give a positive duration such as 720h", o.Window)
			}
			r, err := rf.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			m, err := r.Metrics(cmd.Context(), o)
			if err != nil {
				return err
			}
			return a.Render(m, func(w io.Writer) error { return writeMetrics(w, m) })
		},
	}
	rf.add(cmd)
	cmd.Flags().DurationVar(&o.Window, "window", history.DefaultWindow, "how far back to count")
	cmd.Flags().StringVar(&until, "until", "", "end of the window, RFC 3339 (default now)")
	cmd.Flags().StringVar(&o.Env, "env", "", "only this environment")
	cmd.Flags().StringVar(&o.Service, "service", "", "only this service")
	return cmd
}

func writeMetrics(w io.Writer, m *history.Metrics) error {
	fmt.Fprintf(w, "window %s: %s → %s\n", m.Window, m.From.UTC().Format(tableTime), m.Until.UTC().Format(tableTime))
	if len(m.Rows) == 0 {
		_, err := fmt.Fprintln(w, "no deploys, promotions or rollbacks in the window")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nENV\tSERVICE\tDEPLOYS\tPER DAY\tLEAD P50\tLEAD P90\tROLLBACKS\tCFR\tRESTORE P50")
	for _, r := range m.Rows {
		svc := r.Service
		if svc == "*" {
			svc = "(all)"
		}
		cfr := "-"
		if r.ChangeFailureRate != nil {
			cfr = fmt.Sprintf("%.0f%%", *r.ChangeFailureRate*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%s\t%s\t%d\t%s\t%s\n", r.Environment, svc, r.Deploys, r.PerDay,
			dur(r.LeadTime.Count, r.LeadTime.P50), dur(r.LeadTime.Count, r.LeadTime.P90), r.Rollbacks, cfr,
			dur(r.TimeToRestore.Count, r.TimeToRestore.P50))
	}
	return tw.Flush()
}

func dur(n int, secs float64) string {
	if n == 0 {
		return "-"
	}
	return (time.Duration(secs * float64(time.Second))).Round(time.Second).String()
}
