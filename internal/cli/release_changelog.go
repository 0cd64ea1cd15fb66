package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/release"
)

func newReleaseChangelogCmd(a *App) *cobra.Command {
	var f releaseFlags
	var co release.ChangelogOptions
	var date, file string
	var write bool
	cmd := &cobra.Command{
		Use:   "changelog [--version V] [--repo DIR] [--date YYYY-MM-DD]",
		Short: "Print the CHANGELOG.md section (Keep a Changelog) for the release PR",
		Long: `changelog prints the CHANGELOG.md section for the commits since the last
release tag, grouped by type: Breaking changes, Added (feat), Fixed (fix),
Performance (perf), Changed (refactor), Reverted (revert) and Other (unknown
types and malformed commits, so nothing that shipped is lost). Each entry
names its PR numbers (or its commit) and its authors, co-authors included.
Maintenance commits (docs, test, build, ci, chore, style) are left out
unless --all is given.

The version in the heading is --version, or the next version (release
next). With nothing to release and no --version, it says so on standard
error, prints nothing, and exits 0.

--write inserts the section into CHANGELOG.md in the work tree (below
"Unreleased", above the newest release; a new file gets a title) for the
release PR to commit. A section for that version is never overwritten
(exit 1): people edit the generated text.`,
		Example: `  smpctl release changelog --repo-url https://github.com/smp/order-svc
  smpctl release changelog --version v3.3.0 --date 2026-11-25 -o json
  smpctl release changelog --write && git commit -am "chore(release): $(smpctl release next -o json | jq -r .version)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, _, err := f.options(cmd)
			if err != nil {
				return err
			}
			co.Date = a.Now()
			if date != "" {
				if co.Date, err = time.Parse(time.DateOnly, date); err != nil {
					return fault.Invalidf("invalid --date %q: use YYYY-MM-DD, e.g. 2026-11-25", date)
				}
			}
			cl, err := release.BuildChangelog(cmd.Context(), o, co)
			if err != nil {
				return err
			}
			if !cl.Release && !a.JSON() {
				_, err := fmt.Fprintf(a.Stderr, "smpctl: %s\n", cl.Reason)
				return err
			}
			if write {
				rel, err := release.WriteChangelog(o, file, cl)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.Stderr, "smpctl: wrote the %s section into %s\n", cl.Version, rel)
			}
			return a.Render(cl, func(w io.Writer) error { _, err := io.WriteString(w, cl.Markdown); return err })
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&co.Version, "version", "", "version in the heading, e.g. v3.3.0 (default: the next version)")
	fl.StringVar(&date, "date", "", "date in the heading, YYYY-MM-DD (default: today, UTC)")
	fl.StringVar(&co.RepoURL, "repo-url", "", "link PR numbers and commits to this repository, e.g. https://github.com/smp/order-svc")
	fl.BoolVar(&co.All, "all", false, "include maintenance commits (docs, test, build, ci, chore, style)")
	fl.BoolVar(&write, "write", false, "also insert the section into the changelog file in the work tree")
	fl.StringVar(&file, "changelog", "", "the changelog --write edits, relative to the repository root (default: CHANGELOG.md, in --path when given)")
	return cmd
}
