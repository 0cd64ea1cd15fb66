package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/release"
)

func newReleaseCheckCmd(a *App) *cobra.Command {
	var f releaseFlags
	var version, file string
	cmd := &cobra.Command{
		Use:   "check --version V [--repo DIR] [--changelog FILE]",
		Short: "Fail (exit 1) unless the committed CHANGELOG.md has a section for the version",
		Long: `check reads CHANGELOG.md as committed at HEAD (what the tag points at, not
the work tree) and fails with exit 1 unless it has a non-empty level-2
section for the version: "## [1.3.0] - 2026-11-25", "## 1.3.0", "## [v1.3.0](link)".
A release candidate vX.Y.Z-rc.N is satisfied by its own section or by
X.Y.Z's, because the release PR is merged before the first rc is tagged.
It works on a detached HEAD and a shallow clone, as CD checks tags out.`,
		Example: `  smpctl release check --version "$GITHUB_REF_NAME"
  smpctl release check --version v1.3.0 --changelog services/order/CHANGELOG.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if version == "" {
				return fault.Invalidf("missing --version: give the version being tagged, e.g. --version v1.3.0")
			}
			o, _, err := f.options(cmd)
			if err != nil {
				return err
			}
			res, err := release.Check(cmd.Context(), o, version, file)
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s:%d has the section for %s: %s\n", res.File, res.Line, res.Version, res.Heading)
				return err
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&version, "version", "", "the version being tagged: v1.3.0, 1.3.0 or v1.3.0-rc.1 (required)")
	cmd.Flags().StringVar(&file, "changelog", "", "the changelog, relative to the repository root (default: CHANGELOG.md, in --path when given)")
	return cmd
}
