package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
)

func init() { register(newRolloutCmd) }

func newRolloutCmd(a *App) *cobra.Command {
	var e engineFlags
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Promote, abort or show a blue/green rollout (kubectl argo rollouts promote|abort|status)",
		Long: `rollout acts on the local runtime (default) or, with --kubeconfig/--context
(or --engine kubernetes), on the Argo Rollouts Rollout SERVICE in namespace
smp-ENV: promote clears its pause conditions and abort sets status.abort,
the same changes the kubectl argo rollouts plugin makes.

promote is refused (exit 1) when nothing waits for promotion. abort applies
only to an update waiting for promotion: the preview goes and active never
changed. After a promotion there is nothing to abort (Argo Rollouts leaves
the Rollout on the new version): abort is refused (exit 1), and the way back
is "smpctl rollback", which switches back at once while the previous version
still runs (scaleDownDelaySeconds).`,
	}
	e.add(cmd)
	// checkArgs checks ENV and SERVICE and connects to the cluster, if any.
	checkArgs := func(args []string) (*kube.Client, error) {
		for i, what := range []string{"environment", "service"} {
			if err := delivery.CheckName(what, args[i]); err != nil {
				return nil, err
			}
		}
		return e.cluster(a)
	}
	action := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use: name + " ENV SERVICE", Short: short, Args: cobra.ExactArgs(2),
			RunE: func(c *cobra.Command, args []string) error {
				k, err := checkArgs(args)
				if err != nil {
					return err
				}
				if k != nil {
					if name == "promote" {
						err = k.Promote(c.Context(), args[0], args[1])
					} else {
						err = k.Abort(c.Context(), args[0], args[1])
					}
					if err != nil {
						return err
					}
				} else {
					cl, _, err := daemon.Connect(e.dir)
					if err != nil {
						return err
					}
					if err := cl.Rollout(c.Context(), args[0], args[1], name); err != nil {
						return err
					}
				}
				res := map[string]string{"environment": args[0], "service": args[1], "action": name, "status": "done"}
				return a.Render(res, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "%s %s/%s: done\n", name, args[0], args[1])
					return err
				})
			},
		}
	}
	status := &cobra.Command{
		Use: "status ENV SERVICE", Short: "Show a Rollout on a cluster: phase, active and preview versions (needs --kubeconfig/--context)", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			k, err := checkArgs(args)
			if err != nil {
				return err
			}
			if k == nil {
				return fault.Invalidf("rollout status reads a cluster: give --kubeconfig or --context (the local runtime's rollouts are in smpctl local status)")
			}
			st, err := k.Rollout(c.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.Render(st, func(w io.Writer) error { return writeRolloutText(w, st) })
		},
	}
	cmd.AddCommand(
		action("promote", "Swap a blue/green pair: the preview version becomes active; the old one stays up scaleDownDelaySeconds"),
		action("abort", "Stop an update waiting for promotion: the preview goes, active never changed (after a promotion there is nothing to abort: smpctl rollback)"),
		status,
	)
	return cmd
}

func writeRolloutText(w io.Writer, st kube.RolloutStatus) error {
	fmt.Fprintf(w, "%s/%s  %s", st.Namespace, st.Name, st.Phase)
	if st.Paused {
		fmt.Fprint(w, " (paused: waiting for promotion)")
	}
	if st.Aborted {
		fmt.Fprint(w, " (aborted)")
	}
	fmt.Fprintln(w)
	for _, r := range []struct {
		what string
		rs   *kube.ReplicaSet
	}{{"active", st.Active}, {"preview", st.Preview}} {
		if r.rs != nil {
			fmt.Fprintf(w, "  %-8s %s  %d/%d ready  (%s)\n", r.what, r.rs.Image, r.rs.Ready, r.rs.Replicas, r.rs.Hash)
		}
	}
	if st.Message != "" {
		fmt.Fprintf(w, "  %s\n", st.Message)
	}
	return nil
}
