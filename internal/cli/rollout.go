package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/local/daemon"
)

func init() { register(newRolloutCmd) }

func newRolloutCmd(a *App) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Promote or abort a blue/green rollout (kubectl argo rollouts promote|abort)",
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", ".smp", "folder of the local environment (smpctl local up)")
	action := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use: name + " ENV SERVICE", Short: short, Args: cobra.ExactArgs(2),
			RunE: func(c *cobra.Command, args []string) error {
				for i, what := range []string{"environment", "service"} {
					if err := delivery.CheckName(what, args[i]); err != nil {
						return err
					}
				}
				cl, _, err := daemon.Connect(dir)
				if err != nil {
					return err
				}
				if err := cl.Rollout(c.Context(), args[0], args[1], name); err != nil {
					return err
				}
				res := map[string]string{"environment": args[0], "service": args[1], "action": name, "status": "done"}
				return a.Render(res, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s %s/%s: done\n", name, args[0], args[1])
					return err
				})
			},
		}
	}
	cmd.AddCommand(
		action("promote", "Swap a blue/green pair: the preview version becomes active; the old one stays up scaleDownDelaySeconds"),
		action("abort", "Stop an update waiting for promotion: the preview goes, active never changed (after a promotion there is nothing to abort: smpctl rollback)"),
	)
	return cmd
}
