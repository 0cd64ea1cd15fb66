package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/untrusted"
)

func init() { register(newHoldCmd) }

// newHoldCmd is `hold` (place a hold) with `hold release` and `hold list`.
func newHoldCmd(a *App) *cobra.Command {
	var (
		o             writeOptions
		env, svc, why string
	)
	cmd := &cobra.Command{
		Use:   "hold --gitops URL|PATH --env ENV --service SVC --by NAME [--reason TEXT]",
		Short: "Stop automated deploys of a service to an environment until released",
		Long: `hold writes state/holds/ENV/SVC.yaml (since, by, reason, digest) and commits
"hold(ENV): SVC". While it exists, deploy and promote of SVC to ENV exit 1
naming the hold. rollback places one automatically. Where ENV has
signedApprovals (delivery.yaml), placing or releasing a hold must be signed
(--signing-key) by a key delivery.yaml's signers lists for --by, or it is
refused (exit 1) before anything is written.`,
		Example: `  smpctl hold --gitops ../smp-gitops --env prod --service order-svc --by oncall --reason "investigating"
  smpctl hold release --gitops ../smp-gitops --env prod --service order-svc --by oncall
  smpctl hold list --gitops ../smp-gitops`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.PlaceHold(cmd.Context(), repo, write.HoldRequest{Common: o.common(a), Env: env, Service: svc, Reason: why})
			if err != nil {
				return err
			}
			return a.finishWrite(cmd.Context(), repo, &o, out, why)
		},
	}
	addWriteFlags(cmd, &o, "who places the hold")
	cmd.Flags().StringVar(&env, "env", "", "environment")
	cmd.Flags().StringVar(&svc, "service", "", "service")
	cmd.Flags().StringVar(&why, "reason", "", "why the service is held")
	for _, n := range []string{"env", "service", "by"} {
		_ = cmd.MarkFlagRequired(n)
	}
	cmd.AddCommand(newHoldReleaseCmd(a), newHoldListCmd(a))
	return cmd
}

func newHoldReleaseCmd(a *App) *cobra.Command {
	var (
		o        writeOptions
		env, svc string
	)
	cmd := &cobra.Command{
		Use:   "release --gitops URL|PATH --env ENV --service SVC",
		Short: "Release a hold: automated deploys resume",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.ReleaseHold(cmd.Context(), repo, write.HoldRequest{Common: o.common(a), Env: env, Service: svc})
			if err != nil {
				return err
			}
			return renderOutcome(a, out)
		},
	}
	addWriteFlags(cmd, &o, "who releases the hold")
	cmd.Flags().StringVar(&env, "env", "", "environment")
	cmd.Flags().StringVar(&svc, "service", "", "service")
	for _, n := range []string{"env", "service"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newHoldListCmd(a *App) *cobra.Command {
	var o writeOptions
	cmd := &cobra.Command{
		Use:   "list --gitops URL|PATH",
		Short: "List the holds in the GitOps repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			holds, err := write.ListHolds(cmd.Context(), repo)
			if err != nil {
				return err
			}
			if holds == nil {
				holds = []write.HeldService{}
			}
			return a.Render(holds, func(w io.Writer) error {
				if len(holds) == 0 {
					_, err := fmt.Fprintln(w, "no holds")
					return err
				}
				for _, h := range holds {
					fmt.Fprintf(w, "%-10s %-24s since %s by %s", h.Environment, h.Service, h.Since.Format(time.RFC3339), untrusted.Name(h.By))
					if h.Reason != "" {
						fmt.Fprintf(w, ": %s", untrusted.Text(h.Reason))
					}
					fmt.Fprintln(w)
				}
				return nil
			})
		},
	}
	addWriteFlags(cmd, &o, "")
	return cmd
}
