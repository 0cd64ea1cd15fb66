package cli

import (
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/local/daemon"
)

func init() { register(newSyncCmd) }

func newSyncCmd(a *App) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "sync ENV",
		Short: "Sync an environment of the local runtime to the head of smp-gitops (argocd app sync)",
		Long: `sync applies what the smp-gitops repository's head asks for in ENV and waits:
pull, migrate, start, wait ready, then shift traffic (rolling) or put the new
version on the preview URL (blue/green). Staging and prod sync only this way;
dev also syncs by itself. Exit 1 when a service did not sync (the previous
version keeps serving; the output says why).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := delivery.CheckName("environment", args[0]); err != nil {
				return err
			}
			cl, _, err := daemon.Connect(dir)
			if err != nil {
				return err
			}
			es, err := cl.Sync(c.Context(), args[0])
			if err != nil && !errors.Is(err, daemon.ErrSyncFailed) {
				return err
			}
			// A service that did not sync still has a status to show.
			if rerr := a.Render(es, func(w io.Writer) error { return daemon.WriteEnvText(w, es) }); rerr != nil {
				return rerr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".smp", "folder of the local environment (smpctl local up)")
	return cmd
}
