package cli

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/demo"
	"github.com/smp/delivery/internal/fault"
)

func init() { register(newDemoCmd) }

func newDemoCmd(a *App) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo [--engines local|kubernetes] [--keep] [--workspace DIR] [--service-dir examples/order-svc]",
		Short: "Run SMP's delivery story end to end (embedded defaults, or the real engines) and print a timeline",
		Long: `demo starts the local platform in a fresh workspace (smpctl local up) and
ships examples/order-svc the way the pipeline does: CI checks, build without
Docker, push, deploy to dev (synced automatically), smoke, rc tag, approval,
staging, release tag, release-manager approval, a blue/green preview in prod,
smoke on the preview, promote, the metric gate — then a deliberately bad
release whose error rate rises, the gate failing, a rollback, and prod
serving the previous digest again. It prints each step with its duration and
exits 0 only when every step's check passed. Needs MariaDB, Redis and
prometheus (scripts/tools.sh). --keep leaves everything running.

--engines kubernetes tells the same story on the real engines instead: a
Kubernetes cluster of its own (KWOK for the kubelet), Argo CD and Argo
Rollouts, with smp-gitops made by gitops init and served over HTTPS, charts
in an OCI registry, dev syncing itself with the migration hook first,
smpctl sync for staging and prod, a blue/green pause, promote, a bad release
aborted on its preview and rolled back in git — each step checked on the
cluster's objects. The engines are built once by scripts/kube-bins.sh
(about 30 minutes); it needs root (a network namespace) and the go command.
With --keep the cluster stays up, its kubeconfig printed, until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := self()
			if err != nil {
				return err
			}
			o.Smpctl, o.Env = exe, os.Environ()
			o.KubeBinDir = a.Getenv("SMP_KUBE_BINS")
			// The story on the real engines runs smpctl in-process: it reads
			// the cluster as this process does, and its commands' output
			// goes to demo.log.
			o.Main = func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
				sub := &App{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Getenv: a.Getenv, Now: a.Now}
				return sub.Run(ctx, args)
			}
			o.Out = a.Stdout
			if a.JSON() {
				o.Out = io.Discard
			} else if f, ok := a.Stdout.(*os.File); ok {
				if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
					o.Progress = true
				}
			}
			res, err := demo.Run(cmd.Context(), o)
			if a.JSON() {
				if rerr := a.Render(res, nil); rerr != nil {
					return rerr
				}
			}
			if fault.IsInvalid(err) {
				return err // --engines: exit 2, nothing started
			}
			return fault.Refused(err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Engines, "engines", demo.EnginesLocal, "where the story runs: local (embedded defaults) or kubernetes (Kubernetes, Argo CD and Argo Rollouts from scripts/kube-bins.sh)")
	f.BoolVar(&o.Keep, "keep", false, "leave the local environment (or, with --engines kubernetes, the cluster, until Ctrl-C) running at the end")
	f.StringVar(&o.Workspace, "workspace", "", "a new, empty folder for the demo (default: a temporary folder)")
	f.StringVar(&o.ServiceDir, "service-dir", "examples/order-svc", "the service to ship")
	return cmd
}
