package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/demo"
	"github.com/smp/delivery/internal/exit"
)

func init() { register(newDemoCmd) }

func newDemoCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run SMP's delivery story end to end on embedded defaults and print a timeline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := a.Stdout
			if a.JSON() {
				out = io.Discard
			}
			steps, err := demo.Run(cmd.Context(), out)
			if rerr := a.Render(steps, func(io.Writer) error { return nil }); rerr != nil {
				return rerr
			}
			return exit.FailedError(err)
		},
	}
}
