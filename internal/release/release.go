// Package release cuts SemVer releases of a service repository from its
// conventional commits (docs/seed.md §12): the next version (vX.Y.Z or
// vX.Y.Z-rc.N), the CHANGELOG.md section for the release PR, the check that
// the CHANGELOG has a section for the version being tagged, and the
// annotated tag itself, refused unless it is valid, new, not lower than the
// latest release and on a commit of the main branch.
//
// Versions and tags are parsed by internal/semver, the parser plan uses, so
// a tag release accepts is exactly a tag CD deploys. Git is driven through
// the git CLI (see git.go for why), every call under a timeout.
//
// Bump rules, from the commits since the last release tag reachable from
// HEAD (merge commits are skipped; the seed requires a linear history):
//
//	version ≥ 1.0.0:  breaking → major, feat → minor, fix/perf/revert → patch
//	version 0.y.z:    breaking → minor, feat/fix/perf/revert → patch
//	no release yet:   0.1.0
//	anything else (docs, chore, ci, malformed "other" ...): no release
//
// While the major version is 0, each bump moves one place to the right
// (Cargo's reading of SemVer §4): the minor number then means "breaking",
// and a breaking commit never silently declares 1.0.0 — 1.0.0 is a decision
// someone makes with `smpctl release tag v1.0.0`.
package release

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/smp/delivery/internal/plan"
	"github.com/smp/delivery/internal/semver"

	"github.com/smp/delivery/internal/fault"
)

// Bad input: the repository or the arguments cannot be released from as
// they are (exit 2). Each error names the fix.
var (
	ErrNotRepo        = fault.Invalidf("not a git repository")
	ErrEmptyHistory   = fault.Invalidf("empty history")
	ErrShallow        = fault.Invalidf("shallow clone")
	ErrDetached       = fault.Invalidf("detached HEAD")
	ErrInvalidVersion = fault.Invalidf("bad release version")
	ErrInvalidOption  = fault.Invalidf("invalid option")
)

// Refusals: the request is well formed but a release rule says no (exit 1).
var (
	ErrTagExists    = fault.Refusedf("tag exists")
	ErrLowerVersion = fault.Refusedf("version not above the latest release")
	ErrNotOnMain    = fault.Refusedf("commit not on the main branch")
	ErrNoSection    = fault.Refusedf("no CHANGELOG section")
	ErrPushRefused  = fault.Refusedf("push refused")
	errGitNotOnPath = errors.New("git not found on PATH: install git (Debian: apt-get install git)")
)

const (
	defaultTimeout   = 30 * time.Second
	defaultNetworkTO = 2 * time.Minute
)

// Options says which repository, and which of its tags and paths, a
// release is about.
type Options struct {
	// Dir is the repository's work tree (default ".").
	Dir string
	// TagPrefix goes before "vX.Y.Z" in tag names, e.g. "order-svc/" in a
	// monorepo. Tags without the prefix are ignored.
	TagPrefix string
	// Path limits the commits counted to those touching this directory
	// (relative to the repository root), for one service of a monorepo.
	Path string
	// Timeout bounds each local git call (default 30s); NetworkTimeout
	// each call that reaches a remote (default 2m).
	Timeout, NetworkTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.NetworkTimeout <= 0 {
		o.NetworkTimeout = defaultNetworkTO
	}
	if o.Path != "" {
		if o.Path = path.Clean(o.Path); o.Path == "." {
			o.Path = ""
		}
	}
	return o
}

// validate checks the prefix and path before any git call.
func (o Options) validate() error {
	if o.TagPrefix != "" {
		probe := "refs/tags/" + o.TagPrefix + "v1.0.0"
		if err := plan.CheckRef(probe); err != nil || strings.HasPrefix(o.TagPrefix, "v") {
			return fault.Inputf("TagPrefix", "%w: tag prefix %q: a prefix is a tag-name fragment such as \"order-svc/\" (no spaces, no \"..\", not starting with \"v\")", ErrInvalidOption, o.TagPrefix)
		}
	}
	if o.Path != "" {
		clean := path.Clean(o.Path)
		if path.IsAbs(o.Path) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(o.Path, "\x00\n") {
			return fault.Inputf("Path", "%w: path %q: give a directory relative to the repository root, e.g. services/order-svc", ErrInvalidOption, o.Path)
		}
	}
	return nil
}

// tagName is the tag for a version under the prefix.
func (o Options) tagName(v semver.Version) string { return o.TagPrefix + "v" + v.String() }

// parseTagName parses a tag name under the prefix; ok is false for tags
// that are not this prefix's pipeline tags (other services, v3.3.0-rollback).
func (o Options) parseTagName(name string) (semver.Tag, bool) {
	rest, ok := strings.CutPrefix(name, o.TagPrefix)
	if !ok {
		return semver.Tag{}, false
	}
	t, err := semver.ParseTag(rest)
	return t, err == nil
}

// ParseVersion reads a version the user typed for a release: "v1.2.3",
// "v1.2.3-rc.1", with or without the tag prefix, or without the "v" when
// loose is set (for check, where "1.2.3" is unambiguous).
func ParseVersion(s, prefix string, loose bool) (semver.Tag, error) {
	rest := strings.TrimPrefix(s, prefix)
	if loose && !strings.HasPrefix(rest, "v") {
		rest = "v" + rest
	}
	t, err := semver.ParseTag(rest)
	if err != nil {
		hint := ""
		if !strings.Contains(err.Error(), "vX.Y.Z") {
			hint = fmt.Sprintf("; want %svX.Y.Z or %svX.Y.Z-rc.N", prefix, prefix)
		}
		if _, perr := semver.Parse(rest); perr == nil && !strings.HasPrefix(rest, "v") {
			hint += fmt.Sprintf("; did you mean %sv%s?", prefix, rest)
		}
		return semver.Tag{}, fmt.Errorf("%w %q: %w%s", ErrInvalidVersion, s, err, hint)
	}
	return t, nil
}
