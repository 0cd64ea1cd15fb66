package cli

import (
	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/release"
)

func init() { register(newReleaseCmd) }

// newReleaseCmd is the parent of release next, changelog, check and tag;
// each child lives in its own release_<name>.go.
func newReleaseCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Cut SemVer releases from conventional commits: next version, changelog, check, tag",
		Long: `release cuts a service's releases (docs/seed.md §12) from its conventional commits.

  smpctl release next [--rc]            the next version since the last release tag
  smpctl release changelog              the CHANGELOG.md section for the release PR
  smpctl release check --version V      fail unless CHANGELOG.md has a section for V
  smpctl release tag VERSION [--push]   an annotated tag on a commit of main; says what CD does

Bumps: breaking (! or BREAKING CHANGE) → major, feat → minor, fix/perf/revert
→ patch; while the major version is 0, one place to the right (breaking →
minor, feat → patch), so 1.0.0 is only ever tagged on purpose. The first
release is 0.1.0. docs, chore, ci, test, build, style and malformed ("other")
commits release nothing.

Monorepo: --tag-prefix order-svc/ makes tags order-svc/v1.2.3, and --path
services/order counts only the commits that touch that directory.`,
		// A RunE makes cobra refuse an unknown subcommand (exit 2) instead
		// of printing help and exiting 0.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newReleaseNextCmd(a), newReleaseChangelogCmd(a), newReleaseCheckCmd(a), newReleaseTagCmd(a))
	return cmd
}

// releaseFlags are the flags every release command shares.
type releaseFlags struct {
	repo, tagPrefix, path, config, service string
}

func (f *releaseFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", ".", "the service repository's work tree")
	fl.StringVar(&f.tagPrefix, "tag-prefix", "", `put before vX.Y.Z in tag names, e.g. "order-svc/" (default: from --config)`)
	fl.StringVar(&f.path, "path", "", "count only commits touching this directory (monorepo), relative to the repository root")
	fl.StringVar(&f.config, "config", "", "delivery.yaml for the main branch, tag prefix and what CD does (default: the seed's table)")
	fl.StringVar(&f.service, "service", "", "take the tag prefix of this service in --config")
	inputFlag(cmd, "Dir", "repo")
}

// options resolves the tag prefix: --tag-prefix, else the service's
// tagPrefix, else delivery.yaml's tagPrefix.
func (f *releaseFlags) options(cmd *cobra.Command) (release.Options, *delivery.Config, error) {
	cfg := delivery.Default()
	if f.config != "" {
		c, err := delivery.Load(f.config)
		if err != nil {
			return release.Options{}, nil, err
		}
		cfg = c
	}
	prefix := cfg.TagPrefix
	if f.service != "" {
		if f.config == "" {
			return release.Options{}, nil, fault.Invalidf("--service %q needs --config delivery.yaml, where services are listed", f.service)
		}
		s, ok := cfg.Service(f.service)
		if !ok {
			return release.Options{}, nil, fault.Invalidf("--service %q is not in %s; services: %v", f.service, f.config, serviceNames(cfg))
		}
		if s.TagPrefix != "" {
			prefix = s.TagPrefix
		}
	}
	if cmd.Flags().Changed("tag-prefix") {
		prefix = f.tagPrefix
	}
	return release.Options{Dir: f.repo, TagPrefix: prefix, Path: f.path}, cfg, nil
}

func serviceNames(cfg *delivery.Config) []string {
	names := make([]string, len(cfg.Services))
	for i, s := range cfg.Services {
		names[i] = s.Name
	}
	return names
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
