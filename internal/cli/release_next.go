package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/release"
)

func newReleaseNextCmd(a *App) *cobra.Command {
	var f releaseFlags
	var rc bool
	cmd := &cobra.Command{
		Use:   "next [--rc] [--repo DIR] [--tag-prefix P] [--path DIR]",
		Short: "Print the next version from the conventional commits since the last release tag",
		Long: `next reads the commits since the latest release tag reachable from HEAD and
prints the version they call for. With --rc it prints the next release
candidate of that version: rc.1, or one above the highest rc tag of that
version in the repository.

When nothing calls for a release (no commits, or only docs, chore, ci ...)
it says so and exits 0: "nothing to do" is a success (docs/design.md §5); scripts
read "release": false from -o json. An empty history, a shallow clone or a
detached HEAD exit 2.`,
		Example: `  smpctl release next
  smpctl release next --rc -o json
  smpctl release next --tag-prefix order-svc/ --path services/order`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, _, err := f.options(cmd)
			if err != nil {
				return err
			}
			n, err := release.NextVersion(cmd.Context(), o, rc)
			if err != nil {
				return err
			}
			if n.Warning != "" {
				fmt.Fprintf(a.Stderr, "smpctl: warning: %s\n", n.Warning)
			}
			return a.Render(n, func(w io.Writer) error { return writeNext(w, n) })
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&rc, "rc", false, "the next release candidate (vX.Y.Z-rc.N) instead of the release")
	return cmd
}

func writeNext(w io.Writer, n release.Next) error {
	if !n.Release {
		_, err := fmt.Fprintf(w, "%s\nprevious:  %s\n", n.Reason, orNone(n.Previous))
		return err
	}
	_, err := fmt.Fprintf(w, "next:      %s\nprevious:  %s\nbump:      %s\ncommits:   %d (%s)\n",
		n.Tag, orNone(n.Previous), n.Bump, n.Commits, n.TypeSummary())
	return err
}
