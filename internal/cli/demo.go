package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/demo"
	"github.com/smp/delivery/internal/fault"
)

func init() { register(newDemoCmd) }

func newDemoCmd(a *App) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo [--keep] [--workspace DIR] [--service-dir examples/order-svc]",
		Short: "Run SMP's delivery story end to end on embedded defaults and print a timeline",
		Long: `demo starts the local platform in a fresh workspace (smpctl local up) and
ships examples/order-svc the way the pipeline does: CI checks, build without
Docker, push, deploy to dev (synced automatically), smoke, rc tag, approval,
staging, release tag, release-manager approval, a blue/green preview in prod,
smoke on the preview, promote, the metric gate — then a deliberately bad
release whose error rate rises, the gate failing, a rollback, and prod
serving the previous digest again. It prints each step with its duration and
exits 0 only when every step's check passed. Needs MariaDB, Redis and
prometheus (scripts/tools.sh). --keep leaves everything running.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := self()
			if err != nil {
				return err
			}
			o.Smpctl, o.Env = exe, os.Environ()
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
			return fault.Refused(err)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Keep, "keep", false, "leave the local environment running at the end")
	f.StringVar(&o.Workspace, "workspace", "", "a new, empty folder for the demo (default: a temporary folder)")
	f.StringVar(&o.ServiceDir, "service-dir", "examples/order-svc", "the service to ship")
	return cmd
}
