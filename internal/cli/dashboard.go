package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/cluster"
	"github.com/smp/delivery/internal/local/daemon"
)

func init() { register(newDashboardCmd) }

func newDashboardCmd(a *App) *cobra.Command {
	var (
		rf     readFlags
		listen string
		o      dashboard.Options
		live   bool
		local  string
		e      engineFlags
	)
	cmd := &cobra.Command{
		Use:   "dashboard --gitops URL|PATH [--listen 127.0.0.1:8088]",
		Short: "Serve a read-only web page of what runs where, what waits for approval, and each service's history",
		Long: `dashboard serves, until interrupted, web pages read from the GitOps
repository: the environment × service matrix (version, digest, age, who
deployed and approved it, holds) with the active freezes and the queue of
versions waiting at an approval gate; and per service the timeline of
deploys, promotions, rollbacks, approvals and holds, the diff between two
environments and the delivery metrics. The pages update themselves when the
repository's head moves (checked every --poll; a URL is fetched each time).
With --live (and --kubeconfig/--context), each cell of the matrix also shows
what the cluster runs, read at every poll as status --live reads it: the
Argo CD Application's sync and health, a blue/green Rollout's phase and its
active and preview digests, and "runs …, not git's" where git's digest is
neither; a cluster that cannot be read is said above the matrix, which
keeps git's side.
With --local DIR, the cells show what the local runtime started there
(smpctl local up) runs, in the same words; the local environment's own
dashboard (smpctl local status prints its URL) already does.
With --prometheus, a service page also shows the metric gate's figures (API
requests, error rate, p95 over --gate-window) of the version each
environment runs, with the queries smpctl verify uses.

It only reads: it answers GET and HEAD, and has nothing that writes. It
listens on loopback unless --listen says otherwise, and has no login: put
it behind one before listening elsewhere. Everything the page loads is
embedded in smpctl.`,
		Example: `  smpctl dashboard --gitops ../smp-gitops
  smpctl dashboard --gitops https://github.com/smp/smp-gitops.git --listen 127.0.0.1:9000 \
      --commit-url 'https://github.com/smp/smp-gitops/commit/{commit}'
  smpctl dashboard --gitops ../smp-gitops --live --context prod-cluster
  smpctl dashboard --gitops .smp/gitops.git --local .smp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rf.gitops == "" {
				return fault.Invalidf("missing --gitops: give the GitOps repository's path or URL, e.g. --gitops ../smp-gitops")
			}
			o.Now, o.Log = a.Now, a.Log
			switch {
			case live && local != "":
				return fault.Invalidf("--live reads a cluster, --local the local runtime: give one")
			case local != "":
				if e.kubeconfig != "" || e.context != "" {
					return fault.Invalidf("--kubeconfig and --context say which cluster --live reads: with --local, drop them")
				}
				cl, _, err := daemon.Connect(local)
				if err != nil {
					return err
				}
				o.Live, o.LiveWhere = localLive(cl), "the local runtime ("+local+")"
			case live:
				k, err := e.kube(a)
				if err != nil {
					return err
				}
				o.Live, o.LiveWhere = dashboardLive(k), "the cluster ("+k.Where()+")"
			case e.kubeconfig != "" || e.context != "":
				return fault.Invalidf("--kubeconfig and --context say which cluster --live reads: add --live, or drop them")
			}
			d, err := dashboard.New(func(ctx context.Context) (*history.Repo, error) { return rf.open(ctx, a) }, o)
			if err != nil {
				return err
			}
			ln, err := (&net.ListenConfig{}).Listen(cmd.Context(), "tcp", listen)
			if err != nil {
				return fault.Invalidf("--listen %s: %v: give a free host:port, e.g. 127.0.0.1:8088", listen, errors.Unwrap(err))
			}
			if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
				a.Log.Warn("the dashboard has no login and listens beyond this machine", "listen", ln.Addr().String())
			}
			// The first read before the URL is given: a person who opens it
			// gets a page rendered from what was read (the first paint
			// budget), not one that waits for the read. A read that fails
			// is shown on the page, with why.
			if _, err := d.Refresh(cmd.Context()); err != nil {
				if cmd.Context().Err() != nil {
					return cmd.Context().Err()
				}
				a.Log.Warn("dashboard: the first read failed; the page says why and the poller tries again", "err", err)
			}
			fmt.Fprintf(a.Stdout, "smpctl dashboard: http://%s/ (read-only, from %s; interrupt to stop)\n", ln.Addr(), rf.gitops)
			return dashboard.Serve(cmd.Context(), ln, d)
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "host:port to serve on (port 0 picks a free one)")
	cmd.Flags().StringVar(&o.CommitURL, "commit-url", "", "link for a GitOps commit, {commit} standing for its hash, e.g. https://github.com/smp/smp-gitops/commit/{commit} (default: delivery.yaml's notifications.commitURL)")
	cmd.Flags().StringVar(&o.Prometheus, "prometheus", "", "Prometheus base URL (as for verify): show the gate's figures of what each environment runs on the service pages")
	cmd.Flags().DurationVar(&o.GateWindow, "gate-window", 5*time.Minute, "window of those figures (10s to 24h), as verify --window")
	cmd.Flags().BoolVar(&live, "live", false, "also show what the cluster runs in each cell: the Argo CD Application's sync and health, a blue/green Rollout's phase and active/preview digests (--kubeconfig/--context)")
	cmd.Flags().StringVar(&local, "local", "", "folder of a running local environment (smpctl local up): show what its runtime runs in each cell, as --live does for a cluster")
	cmd.Flags().StringVar(&e.kubeconfig, "kubeconfig", "", "with --live: kubeconfig of the cluster (default: KUBECONFIG, then ~/.kube/config)")
	cmd.Flags().StringVar(&e.context, "context", "", "with --live: kubeconfig context (default: its current context)")
	cmd.Flags().DurationVar(&o.Poll, "poll", dashboard.DefaultPoll, "how often to check the GitOps repository for a new head (a URL is fetched)")
	return cmd
}

// liveReadTimeout bounds one poll's read of the cluster: an API server that
// does not answer must not stop the page from following git.
const liveReadTimeout = 10 * time.Second

// localLive is the dashboard's LiveReader on a running local environment:
// its GET /status, bounded as a cluster's read is.
func localLive(cl *daemon.Client) dashboard.LiveReader {
	return daemon.LiveReader(func(ctx context.Context) (cluster.Status, error) {
		ctx, cancel := context.WithTimeout(ctx, liveReadTimeout)
		defer cancel()
		rep, err := cl.Status(ctx)
		return rep.Runtime, err
	})
}

// dashboardLive is the dashboard's LiveReader on the cluster k: what
// status --live reads (clusterLive), cell by cell.
func dashboardLive(k *kube.Client) dashboard.LiveReader {
	return func(ctx context.Context, st *history.Status) ([]dashboard.LiveCell, error) {
		ctx, cancel := context.WithTimeout(ctx, liveReadTimeout)
		defer cancel()
		live, err := clusterLive(ctx, k, st)
		if err != nil {
			return nil, err
		}
		out := make([]dashboard.LiveCell, 0, len(live))
		for _, ls := range live {
			c := dashboard.LiveCell{Environment: ls.Environment, Service: ls.Service, Drift: ls.Drift, Problem: ls.Error, Rollout: ls.phase()}
			if ls.App != nil {
				c.Sync, c.Health = ls.App.Sync, ls.App.Health
			}
			if ls.Rollout != nil {
				if ls.Rollout.Active != nil {
					c.Active = ls.Rollout.Active.Digest
				}
				if ls.Rollout.Preview != nil {
					c.Preview = ls.Rollout.Preview.Digest
				}
			}
			out = append(out, c)
		}
		return out, nil
	}
}
