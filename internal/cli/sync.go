package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
)

func init() { register(newSyncCmd) }

func newSyncCmd(a *App) *cobra.Command {
	var (
		e       engineFlags
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sync ENV",
		Short: "Sync an environment to the head of smp-gitops and wait (argocd app sync), on the local runtime or a cluster",
		Long: `sync applies what the smp-gitops repository's head asks for in ENV and waits.

On the local runtime (default): pull, migrate, start, wait ready, then shift
traffic (rolling) or put the new version on the preview URL (blue/green).

On a cluster (--kubeconfig/--context, or --engine kubernetes): first the
ApplicationSet smp-ENV regenerates ENV's Applications from the head of
smp-gitops (what GitHub's push webhook asks of Argo CD), and sync waits for
its controller's answer; when it cannot (smp-gitops unreachable from Argo
CD, a file it cannot read, the controller not running), sync exits 1 with
the controller's own words and syncs nothing: the Applications would
otherwise sync what git said before. Then every Argo CD Application of ENV
(label smp.vn/environment=ENV in namespace argocd) gets a sync operation,
as "argocd app sync" does, and sync waits until each is
Synced and Healthy, or Suspended (a blue/green Rollout paused for promotion),
printing each change of state on standard error. After --timeout (10m) it
stops waiting and says where each Application is stuck (a condition, a
resource that is not Healthy: a preview whose pods never get ready, a chart
the repository server cannot pull).

Staging and prod sync only this way; dev also syncs by itself. Exit 1 when a
service did not sync (the previous version keeps serving; the output says
why).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := delivery.CheckName("environment", args[0]); err != nil {
				return err
			}
			k, err := e.cluster(a)
			if err != nil {
				return err
			}
			if k != nil {
				apps, err := k.Sync(c.Context(), args[0], kube.SyncOptions{By: a.Getenv("USER"), Progress: a.Stderr, Timeout: timeout})
				if rerr := a.Render(apps, func(w io.Writer) error { return writeAppsText(w, apps) }); rerr != nil {
					return rerr
				}
				return err
			}
			cl, _, err := daemon.Connect(e.dir)
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
	e.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "on a cluster, how long to wait for Synced and Healthy before exit 1 with where each Application is stuck (0: no limit); Argo CD's sync goes on")
	return cmd
}

func writeAppsText(w io.Writer, apps []kube.AppStatus) error {
	for _, ap := range apps {
		fmt.Fprintf(w, "%-32s %-10s %-11s %s\n", ap.Name, ap.Sync, ap.Health, ap.Revision)
		for _, c := range append(ap.Conditions, ap.Unhealthy...) {
			fmt.Fprintf(w, "  %s\n", c)
		}
		if ap.Failed() {
			fmt.Fprintf(w, "  %s: %s\n", ap.Operation, ap.Message)
		}
	}
	return nil
}
