package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
	"github.com/smp/delivery/internal/verify/smoke"
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
the same changes the kubectl argo rollouts plugin makes. On a cluster both
then wait (up to 2 min) until the Argo Rollouts controller has acted, saying
on stderr what they do meanwhile (send the change again when the controller
undid it, touch the Rollout when it has not seen it); a controller that
never acts is an exit 1 that says to check it runs.

promote is refused (exit 1) when nothing waits for promotion. abort applies
only to an update waiting for promotion: the preview goes and active never
changed. After a promotion there is nothing to abort (Argo Rollouts leaves
the Rollout on the new version): abort is refused (exit 1), and the way back
is "smpctl rollback", which switches back at once while the previous version
still runs (scaleDownDelaySeconds).

promote --smoke-url PREVIEW runs smpctl smoke's checks against the preview
first and refuses (exit 1, nothing changed) when they fail.`,
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
	var so smoke.Options
	var tokenFile string
	action := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use: name + " ENV SERVICE", Short: short, Args: cobra.ExactArgs(2),
			RunE: func(c *cobra.Command, args []string) error {
				k, err := checkArgs(args)
				if err != nil {
					return err
				}
				if name == "promote" && so.URL != "" {
					if err := smokePreview(c, a, so, tokenFile); err != nil {
						return err
					}
				}
				if k != nil {
					if name == "promote" {
						err = k.Promote(c.Context(), args[0], args[1], a.Stderr)
					} else {
						err = k.Abort(c.Context(), args[0], args[1], a.Stderr)
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
	promote := action("promote", "Swap a blue/green pair: the preview version becomes active; the old one stays up scaleDownDelaySeconds")
	promote.Flags().StringVar(&so.URL, "smoke-url", "", "smoke-test this preview URL first (smpctl smoke's checks) and refuse to promote (exit 1) when it fails")
	promote.Flags().StringVar(&tokenFile, "smoke-token-file", "", "with --smoke-url: file holding the JWT for the authenticated read")
	promote.Flags().StringVar(&so.ExpectVersion, "smoke-expect-version", "", "with --smoke-url: the version the preview must report on /health")
	promote.Flags().DurationVar(&so.Wait, "smoke-wait", 2*time.Minute, "with --smoke-url: how long to wait for --smoke-expect-version")
	cmd.AddCommand(
		promote,
		action("abort", "Stop an update waiting for promotion: the preview goes, active never changed (after a promotion there is nothing to abort: smpctl rollback)"),
		status,
	)
	return cmd
}

// smokePreview runs the smoke checks against the preview before a promotion: a preview that
// fails them is never promoted.
func smokePreview(c *cobra.Command, a *App, o smoke.Options, tokenFile string) error {
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fault.Invalidf("--smoke-token-file: %v", err)
		}
		o.Token = strings.TrimSpace(string(b))
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("--smoke-url: %w", err)
	}
	res, err := smoke.Run(c.Context(), o)
	if err != nil {
		_ = res.WriteText(a.Stderr)
		return fmt.Errorf("the preview %s failed its smoke test, not promoted (active is unchanged): %w", o.URL, err)
	}
	return nil
}

func writeRolloutText(w io.Writer, st kube.RolloutStatus) error {
	fmt.Fprintf(w, "%s/%s  %s", st.Namespace, st.Name, st.Phase)
	if st.Paused {
		fmt.Fprint(w, " (paused: waiting for promotion)")
	}
	switch {
	case st.Aborted && st.AbortedAt != "":
		fmt.Fprintf(w, " (aborted at %s)", st.AbortedAt)
	case st.Aborted:
		// status.abort is set, but the controller has not reconciled it yet.
		fmt.Fprint(w, " (abort sent, not yet acted on by the Argo Rollouts controller)")
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
