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
)

func init() { register(newDashboardCmd) }

func newDashboardCmd(a *App) *cobra.Command {
	var (
		rf     readFlags
		listen string
		o      dashboard.Options
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
With --prometheus, a service page also shows the metric gate's figures (API
requests, error rate, p95 over --gate-window) of the version each
environment runs, with the queries smpctl verify uses.

It only reads: it answers GET and HEAD, and has nothing that writes. It
listens on loopback unless --listen says otherwise, and has no login: put
it behind one before listening elsewhere. Everything the page loads is
embedded in smpctl.`,
		Example: `  smpctl dashboard --gitops ../smp-gitops
  smpctl dashboard --gitops https://github.com/smp/smp-gitops.git --listen 127.0.0.1:9000 \
      --commit-url 'https://github.com/smp/smp-gitops/commit/{commit}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rf.gitops == "" {
				return fault.Invalidf("missing --gitops: give the GitOps repository's path or URL, e.g. --gitops ../smp-gitops")
			}
			o.Now, o.Log = a.Now, a.Log
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
			fmt.Fprintf(a.Stdout, "smpctl dashboard: http://%s/ (read-only, from %s; interrupt to stop)\n", ln.Addr(), rf.gitops)
			return dashboard.Serve(cmd.Context(), ln, d)
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "host:port to serve on (port 0 picks a free one)")
	cmd.Flags().StringVar(&o.CommitURL, "commit-url", "", "link for a GitOps commit, {commit} standing for its hash, e.g. https://github.com/smp/smp-gitops/commit/{commit}")
	cmd.Flags().StringVar(&o.Prometheus, "prometheus", "", "Prometheus base URL (as for verify): show the gate's figures of what each environment runs on the service pages")
	cmd.Flags().DurationVar(&o.GateWindow, "gate-window", 5*time.Minute, "window of those figures (10s to 24h), as verify --window")
	cmd.Flags().DurationVar(&o.Poll, "poll", dashboard.DefaultPoll, "how often to check the GitOps repository for a new head (a URL is fetched)")
	return cmd
}
