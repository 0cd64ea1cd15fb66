package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
	"github.com/smp/delivery/internal/untrusted"
)

func init() { register(newStatusCmd) }

func newStatusCmd(a *App) *cobra.Command {
	var rf readFlags
	var local string
	var live bool
	var e engineFlags
	cmd := &cobra.Command{
		Use:   "status --gitops URL|PATH [--local .smp]",
		Short: "Show what runs where: every service in every environment, from the GitOps repository",
		Long: `status prints the service × environment matrix of the GitOps repository's
HEAD: the image tag and digest of each environment file, when and by whom it
was deployed (the deploy, promote or rollback commit's trailers), the source
commit it was built from, and whether automated deploys are held. In an
environment with signedApprovals it also says whether the approval of the
running tag is signed by a key delivery.yaml lists for its approver, and by
which key (approvalSignature in JSON). In an environment with
approvalMaxAge it lists the approvals not used yet, until when each counts,
and which have expired (approvals in JSON): an expired one lets no deploy or
promote through until it is given again.

A tag marked * was edited outside smpctl: the file's digest is not the one
the last smpctl commit wrote; DEPLOYED then names the last commit that
touched the file. Exit 1 when an environment file is not valid YAML.

With --local DIR (a running smpctl local up), it also shows what the local
runtime runs: per environment the synced revision and sync status, per
service the health, the active and preview versions of a blue/green pair, and
their URLs.

With --live (and --kubeconfig/--context) it also shows what the cluster runs:
each Argo CD Application's sync status and health, and for blue/green
services the Rollout's phase (paused when it waits for promotion) and the
digests on its active and preview ReplicaSets; a service whose git digest is
neither active nor on the preview is marked.`,
		Example: `  smpctl status --gitops ../smp-gitops
  smpctl status --gitops ../smp-gitops --live --context prod-cluster
  smpctl status --gitops https://github.com/smp/smp-gitops.git -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := rf.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			st, err := r.Status(cmd.Context())
			if err != nil {
				return err
			}
			if st.Approvals, err = r.ApprovalAges(cmd.Context(), st, a.Now()); err != nil {
				return err
			}
			if live {
				if local != "" {
					return fault.Invalidf("--live reads a cluster, --local the local runtime: give one")
				}
				return statusWithCluster(cmd, a, st, &e)
			}
			if local != "" {
				return statusWithLocal(cmd, a, st, local)
			}
			if err := a.Render(st, func(w io.Writer) error { return writeStatus(w, st) }); err != nil {
				return err
			}
			return statusErrors(st)
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&local, "local", "", "folder of a running local environment (smpctl local up) to show its runtime too")
	cmd.Flags().BoolVar(&live, "live", false, "also show what the cluster runs: each Argo CD Application's sync and health, each blue/green Rollout's phase and active/preview digests (--kubeconfig/--context)")
	cmd.Flags().StringVar(&e.kubeconfig, "kubeconfig", "", "with --live: kubeconfig of the cluster (default: KUBECONFIG, then ~/.kube/config)")
	cmd.Flags().StringVar(&e.context, "context", "", "with --live: kubeconfig context (default: its current context)")
	return cmd
}

// liveService is one service in one environment as the cluster runs it.
type liveService struct {
	Environment string              `json:"environment"`
	Service     string              `json:"service"`
	App         *kube.AppStatus     `json:"application,omitempty"`
	Rollout     *kube.RolloutStatus `json:"rollout,omitempty"`
	// Drift is true when git's digest is neither active nor on the preview.
	Drift bool   `json:"drift"`
	Error string `json:"error,omitempty"`
}

// phase is the Rollout's phase, "(paused)" added while it waits for
// promotion.
func (ls liveService) phase() string {
	if ls.Rollout == nil {
		return ""
	}
	if ls.Rollout.Paused {
		return ls.Rollout.Phase + " (paused)"
	}
	return ls.Rollout.Phase
}

// statusWithCluster renders the GitOps matrix followed by what the cluster runs (JSON:
// {"gitops": ..., "live": [...]}).
func statusWithCluster(cmd *cobra.Command, a *App, st *history.Status, e *engineFlags) error {
	k, err := e.kube(a)
	if err != nil {
		return err
	}
	out, err := clusterLive(cmd.Context(), k, st)
	if err != nil {
		return err
	}
	v := map[string]any{"gitops": st, "live": out}
	if err := a.Render(v, func(w io.Writer) error {
		if err := writeStatus(w, st); err != nil {
			return err
		}
		fmt.Fprintln(w, "\ncluster:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tENV\tSYNC\tHEALTH\tROLLOUT\tACTIVE\tPREVIEW")
		for _, ls := range out {
			syncS, health := "(no Application)", "-"
			if ls.App != nil {
				syncS, health = ls.App.Sync, ls.App.Health
			}
			phase, active, preview := "-", "-", "-"
			if ls.Rollout != nil {
				phase = ls.phase()
				if ls.Rollout.Active != nil {
					active = history.ShortDigest(ls.Rollout.Active.Digest)
				}
				if ls.Rollout.Preview != nil {
					preview = history.ShortDigest(ls.Rollout.Preview.Digest)
				}
			}
			if ls.Error != "" {
				phase = ls.Error
			}
			if ls.Drift {
				active += " (git asks for another digest)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ls.Service, ls.Environment, syncS, health, phase, active, preview)
		}
		return tw.Flush()
	}); err != nil {
		return err
	}
	return statusErrors(st)
}

// clusterLive reads, for each service git deploys to an environment, its
// Argo CD Application and, for blue/green services, its Rollout: what
// status --live and the dashboard's --live show.
func clusterLive(ctx context.Context, k *kube.Client, st *history.Status) ([]liveService, error) {
	var out []liveService
	for _, env := range st.Environments {
		apps, err := k.Apps(ctx, env)
		if err != nil {
			return nil, err
		}
		byService := map[string]kube.AppStatus{}
		for _, ap := range apps {
			byService[ap.Service] = ap
		}
		// One list of the environment's Rollouts, read only where git
		// deploys a blue/green service.
		var rollouts map[string]kube.RolloutStatus
		for _, row := range st.Services {
			c, ok := st.Cell(row.Name, env)
			if !ok || !c.Present {
				continue
			}
			ls := liveService{Environment: env, Service: row.Name}
			if ap, ok := byService[row.Name]; ok {
				ls.App = &ap
			}
			if c.Strategy == "blueGreen" {
				if rollouts == nil {
					if rollouts, err = k.Rollouts(ctx, env); err != nil {
						return nil, err
					}
				}
				if ro, ok := rollouts[row.Name]; ok {
					ls.Rollout = &ro
					ls.Drift = c.Digest != "" && !runs(ro, c.Digest)
				} else {
					ls.Error = "no Rollout " + kube.Namespace(env) + "/" + row.Name
				}
			}
			out = append(out, ls)
		}
	}
	return out, nil
}

// runs reports whether digest is the Rollout's active or preview version.
func runs(ro kube.RolloutStatus, digest string) bool {
	return (ro.Active != nil && ro.Active.Digest == digest) || (ro.Preview != nil && ro.Preview.Digest == digest)
}

// statusWithLocal renders the GitOps matrix followed by the local runtime's
// view (JSON: {"gitops": ..., "runtime": ...}).
func statusWithLocal(cmd *cobra.Command, a *App, st *history.Status, dir string) error {
	cl, _, err := daemon.Connect(dir)
	if err != nil {
		return err
	}
	rep, err := cl.Status(cmd.Context())
	if err != nil {
		return err
	}
	v := map[string]any{"gitops": st, "runtime": rep.Runtime}
	if err := a.Render(v, func(w io.Writer) error {
		if err := writeStatus(w, st); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nlocal runtime (%s, head %s):\n", dir, shortSHA(rep.Runtime.Head))
		return daemon.WriteEnvText(w, rep.Runtime.Envs...)
	}); err != nil {
		return err
	}
	return statusErrors(st)
}

func writeStatus(w io.Writer, st *history.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENV\tTAG\tDIGEST\tCHART\tDEPLOYED\tBY\tSOURCE\tHELD")
	drift := false
	for _, row := range st.Services {
		for _, c := range row.Environments {
			tag := c.Tag
			switch {
			case !c.Present:
				tag = "(none)"
			case c.Error != "":
				tag = "(invalid YAML)"
			case tag == "":
				tag = "(not deployed)"
			}
			if c.Drift {
				tag += "*"
				drift = true
			}
			held := "-"
			if c.Held {
				held = "held"
				if c.Hold != nil && c.Hold.By != "" {
					held += " by " + c.Hold.By
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Name, c.Environment, tag,
				orDash(history.ShortDigest(c.Digest)), orDash(c.ChartVersion), fmtTime(c.DeployedAt),
				orDash(c.DeployedBy), shortSHA(c.SourceCommit), held)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if drift {
		if _, err := fmt.Fprintln(w, "* edited outside smpctl: the image is not the one the last smpctl commit wrote"); err != nil {
			return err
		}
	}
	if err := writeApprovalSignatures(w, st); err != nil {
		return err
	}
	if err := writeApprovalAges(w, st.Approvals); err != nil {
		return err
	}
	return writeQueue(w, st.Queue)
}

// writeApprovalAges lists, for environments with approvalMaxAge, the
// approvals not used yet: until when each counts, or that it has expired
// and must be given again.
func writeApprovalAges(w io.Writer, ages []history.ApprovalAge) error {
	for _, a := range ages {
		by := ""
		if a.ApprovedBy != "" {
			by = " by " + untrusted.Name(a.ApprovedBy)
		}
		line := fmt.Sprintf("approval of %s %s in %s%s (approved %s): ", a.Service, a.Version, a.Environment, by, a.ApprovedAt.UTC().Format(time.RFC3339))
		if a.Expired {
			line += fmt.Sprintf("EXPIRED at %s: approve it again (`smpctl approve --env %s --service %s --version %s`)", a.ExpiresAt.UTC().Format(time.RFC3339), a.Environment, a.Service, a.Version)
		} else {
			line += "counts until " + a.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// writeApprovalSignatures lists, for environments with signedApprovals,
// whether the approval of each running tag is signed and by which key.
func writeApprovalSignatures(w io.Writer, st *history.Status) error {
	for _, row := range st.Services {
		for _, c := range row.Environments {
			s := c.ApprovalSignature
			if s == nil {
				continue
			}
			line := fmt.Sprintf("approval of %s %s in %s: ", row.Name, c.Tag, c.Environment)
			if s.Signed {
				line += fmt.Sprintf("signed by %s (%s)", untrusted.Name(s.By), s.Key)
			} else {
				line += "NOT signed by a listed key: " + untrusted.Text(s.Problem)
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// statusErrors fails the command (after printing) when a file is broken:
// Argo CD cannot render it either.
func statusErrors(st *history.Status) error {
	for _, row := range st.Services {
		for _, c := range row.Environments {
			if c.Error != "" {
				return fault.Refusedf("environments/%s/%s.yaml is not valid YAML (%s): fix it with a commit", c.Environment, c.Service, c.Error)
			}
		}
	}
	return nil
}
