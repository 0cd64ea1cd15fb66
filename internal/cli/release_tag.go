package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/plan"
	"github.com/smp/delivery/internal/release"
)

func newReleaseTagCmd(a *App) *cobra.Command {
	var f releaseFlags
	var to release.TagOptions
	cmd := &cobra.Command{
		Use:   "tag VERSION [--repo DIR] [--push] [--remote origin]",
		Short: "Create an annotated release tag on a commit of main and say what CD will do with it",
		Long: `tag creates an annotated tag VERSION (vX.Y.Z or vX.Y.Z-rc.N, with the tag
prefix in a monorepo) at HEAD, and refuses (exit 1, nothing created) when:

  - HEAD is not a commit of the main branch: not the tip or an ancestor of
    main or origin/main — with --push, of the remote's main itself;
  - the tag exists, locally or (with --push) on the remote;
  - the version is not above the latest release, or not above an existing
    rc of the same version;
  - CHANGELOG.md at HEAD has no section for it (--skip-changelog-check).

A malformed VERSION, a shallow clone, a detached HEAD or an empty history
exit 2. With --push only the tag is pushed; if the remote refuses it, the
local tag is deleted again. It then prints what CD does with the tag
(smpctl plan).`,
		Example: `  smpctl release tag v3.3.0-rc.1 --push
  smpctl release tag v3.3.0 --dry-run -o json
  smpctl release tag order-svc/v1.4.0 --tag-prefix order-svc/ --push`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, cfg, err := f.options(cmd)
			if err != nil {
				return err
			}
			to.Version, to.Config = args[0], cfg
			res, err := release.Tag(cmd.Context(), o, to)
			if err != nil {
				return err
			}
			return a.Render(res, func(w io.Writer) error { return writeTag(w, res) })
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&to.Push, "push", false, "push the tag (only the tag) to --remote")
	fl.StringVar(&to.Remote, "remote", "origin", "the remote to check and push to")
	fl.StringVar(&to.Message, "message", "", `the tag's message (default "Release VERSION")`)
	fl.StringVar(&to.Changelog, "changelog", "", "the changelog to check (default: CHANGELOG.md, in --path when given)")
	fl.BoolVar(&to.SkipChangelog, "skip-changelog-check", false, "tag without a CHANGELOG section (for repositories that keep none)")
	fl.BoolVar(&to.DryRun, "dry-run", false, "run every check and say what would happen, but create nothing")
	return cmd
}

func writeTag(w io.Writer, res release.TagResult) error {
	verb := "tagged"
	if res.DryRun {
		verb = "dry run: would tag"
	}
	fmt.Fprintf(w, "%s %s at %.7s (on %s; latest release %s)\n", verb, res.Tag, res.Commit, res.OnMain, orNone(res.Latest))
	if c := res.Changelog; c != nil {
		fmt.Fprintf(w, "changelog: %s:%d %s\n", c.File, c.Line, c.Heading)
	}
	switch {
	case res.Pushed:
		fmt.Fprintf(w, "pushed %s to %s\n", res.Tag, res.Remote)
	case !res.DryRun:
		fmt.Fprintf(w, "not pushed: run `git push %s refs/tags/%s` or pass --push\n", res.Remote, res.Tag)
	}
	_, err := fmt.Fprintf(w, "CD: %s\n", cdSays(res.Plan))
	return err
}

// cdSays is one line on what CD does when the tag arrives.
func cdSays(p plan.Plan) string {
	if p.Environment == "" {
		return "deploys nothing: " + p.Reason
	}
	return fmt.Sprintf("deploys %s to %s (approval: %s, sync: %s)", p.Version, p.Environment, p.Approval, p.Sync)
}
