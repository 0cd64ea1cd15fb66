// Package plan is the single implementation of the branch and deploy
// mapping (docs/design.md §4): given a git ref, it says whether CI runs, which
// environment the ref deploys to, the version, the approval gate, and — when
// nothing deploys — why. The CD workflow runs `smpctl plan` in its first job
// and gates its deploy jobs on the outputs, so the table lives only here.
package plan

import (
	"fmt"
	"path"
	"strings"
	"unicode"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/semver"

	"github.com/smp/delivery/internal/fault"
)

// Kind of ref.
type Kind string

// Ref kinds.
const (
	Branch      Kind = "branch"
	Tag         Kind = "tag"
	PullRequest Kind = "pull_request"
)

// MaxRefLen bounds a ref; git itself has no limit but nothing legitimate is
// this long, and the bound keeps logs and commit trailers sane.
const MaxRefLen = 1024

// Plan is what the pipeline does for a ref.
type Plan struct {
	Ref         string            `json:"ref"`
	Kind        Kind              `json:"kind"`
	Name        string            `json:"name"` // branch or tag name, or PR number
	CI          bool              `json:"ci"`
	Environment string            `json:"environment"`
	Version     string            `json:"version"`
	Approval    delivery.Approval `json:"approval"`
	Sync        delivery.Sync     `json:"sync,omitempty"`
	// Build says whether this ref builds an image (only the main branch
	// does; tags promote the digest built for their commit).
	Build  bool   `json:"build"`
	Reason string `json:"reason,omitempty"`
}

// ErrInvalidRef is wrapped when the ref itself is malformed.
var ErrInvalidRef = fault.Invalidf("invalid ref")

// ErrInvalidTag is wrapped when a tag matches the CD trigger glob v*.*.*
// but is not a valid vX.Y.Z or vX.Y.Z-rc.N: the plan deploys nothing and
// the command exits 2, because such a tag is a mistake to fix, not a no-op.
var ErrInvalidTag = fault.Invalidf("invalid release tag")

// For computes the plan of ref under cfg. Refs may be full
// (refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge) or short: "main",
// "v1.2.3", "pull/7". A short name that matches the tag trigger is a tag.
// On ErrInvalidTag the returned Plan is still filled in, with the reason.
func For(cfg *delivery.Config, ref string) (Plan, error) {
	if cfg == nil {
		cfg = delivery.Default()
	}
	if err := CheckRef(ref); err != nil {
		return Plan{}, err
	}
	p := Plan{Ref: ref, Approval: delivery.ApprovalNone}
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		p.Kind, p.Name = Branch, strings.TrimPrefix(ref, "refs/heads/")
	case strings.HasPrefix(ref, "refs/tags/"):
		p.Kind, p.Name = Tag, strings.TrimPrefix(ref, "refs/tags/")
	case strings.HasPrefix(ref, "refs/pull/"), strings.HasPrefix(ref, "pull/"):
		n := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/"), "pull/")
		n = strings.TrimSuffix(strings.TrimSuffix(n, "/merge"), "/head")
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return Plan{}, fmt.Errorf("%w %q: a pull request ref is refs/pull/<number>/merge", ErrInvalidRef, ref)
		}
		p.Kind, p.Name = PullRequest, n
	case strings.HasPrefix(ref, "refs/"):
		return Plan{}, fmt.Errorf("%w %q: only refs/heads/, refs/tags/ and refs/pull/ refs are planned", ErrInvalidRef, ref)
	case matchesTagTrigger(cfg, ref):
		p.Kind, p.Name = Tag, ref
	default:
		p.Kind, p.Name = Branch, ref
	}
	if p.Name == "" {
		return Plan{}, fmt.Errorf("%w %q: the ref names no branch or tag", ErrInvalidRef, ref)
	}
	switch p.Kind {
	case PullRequest:
		p.CI = true
		p.Reason = "pull requests run CI only; merging to " + cfg.MainBranch + " deploys"
	case Branch:
		return planBranch(cfg, p), nil
	case Tag:
		return planTag(cfg, p)
	}
	return p, nil
}

func planBranch(cfg *delivery.Config, p Plan) Plan {
	if p.Name != cfg.MainBranch {
		p.Reason = fmt.Sprintf("branch %q deploys nothing; CI runs on its pull request to %s", p.Name, cfg.MainBranch)
		return p
	}
	p.CI = true
	p.Build = true
	env, ok := cfg.EnvForTrigger(delivery.TriggerMain)
	if !ok {
		p.Reason = "no environment in delivery.yaml has trigger main"
		return p
	}
	return withEnv(p, env)
}

func planTag(cfg *delivery.Config, p Plan) (Plan, error) {
	prefix := cfg.TagPrefix
	if !strings.HasPrefix(p.Name, prefix) {
		p.Reason = fmt.Sprintf("tag %q has no prefix %q; it deploys nothing", p.Name, prefix)
		return p, nil
	}
	name := strings.TrimPrefix(p.Name, prefix)
	if !globMatch(name) {
		p.Reason = fmt.Sprintf("tag %q does not match the release trigger %sv*.*.*; it deploys nothing (release tags are %svX.Y.Z or %svX.Y.Z-rc.N)", p.Name, prefix, prefix, prefix)
		return p, nil
	}
	t, err := semver.ParseTag(name)
	if err != nil {
		p.Reason = err.Error() + "; it deploys nothing"
		return p, fmt.Errorf("%w: %w", ErrInvalidTag, err)
	}
	trigger := delivery.TriggerRelease
	if t.Kind == semver.RC {
		trigger = delivery.TriggerRC
	}
	p.Version = t.Version.String()
	env, ok := cfg.EnvForTrigger(trigger)
	if !ok {
		p.Reason = fmt.Sprintf("no environment in delivery.yaml has trigger %s", trigger)
		return p, nil
	}
	return withEnv(p, env), nil
}

func withEnv(p Plan, env delivery.Environment) Plan {
	p.Environment = env.Name
	p.Approval = env.Approval
	p.Sync = env.Sync
	return p
}

// matchesTagTrigger reports whether a short ref is meant as a tag: it
// matches the CD trigger glob after the tag prefix.
func matchesTagTrigger(cfg *delivery.Config, ref string) bool {
	if !strings.HasPrefix(ref, cfg.TagPrefix) {
		return false
	}
	return globMatch(strings.TrimPrefix(ref, cfg.TagPrefix))
}

// globMatch is GitHub Actions' `tags: ["v*.*.*"]` filter: '*' matches any
// run of characters except '/'. path.Match has the same semantics.
func globMatch(name string) bool {
	ok, _ := path.Match("v*.*.*", name)
	return ok
}

// CheckRef rejects refs no git server would accept and inputs that are not
// refs at all, with one line naming what is wrong and what is allowed.
func CheckRef(ref string) error {
	const allowed = "a git ref such as main, refs/heads/main, v1.2.3, refs/tags/v1.2.3-rc.1 or refs/pull/7/merge"
	switch {
	case ref == "":
		return fmt.Errorf("%w: empty ref; want %s", ErrInvalidRef, allowed)
	case len(ref) > MaxRefLen:
		return fmt.Errorf("%w: ref is %d bytes, over the %d-byte limit; want %s", ErrInvalidRef, len(ref), MaxRefLen, allowed)
	}
	for i, r := range ref {
		switch {
		case r == unicode.ReplacementChar && !strings.HasPrefix(ref[i:], "\uFFFD"):
			return fmt.Errorf("%w %q: not valid UTF-8 at byte %d; want %s", ErrInvalidRef, ref, i, allowed)
		case r == 0:
			return fmt.Errorf("%w %q: contains a NUL byte at %d; want %s", ErrInvalidRef, ref, i, allowed)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w %q: contains a control character (%U) at byte %d; want %s", ErrInvalidRef, ref, r, i, allowed)
		case unicode.IsSpace(r):
			return fmt.Errorf("%w %q: contains white space at byte %d; want %s", ErrInvalidRef, ref, i, allowed)
		case strings.ContainsRune(`~^:?*[\`, r):
			return fmt.Errorf("%w %q: %q is not allowed in a git ref; want %s", ErrInvalidRef, ref, r, allowed)
		}
	}
	switch {
	case strings.Contains(ref, ".."):
		return fmt.Errorf("%w %q: \"..\" is not allowed in a git ref; want %s", ErrInvalidRef, ref, allowed)
	case strings.Contains(ref, "@{"):
		return fmt.Errorf("%w %q: \"@{\" is not allowed in a git ref; want %s", ErrInvalidRef, ref, allowed)
	case ref == "@":
		return fmt.Errorf("%w %q: \"@\" alone is not a ref; want %s", ErrInvalidRef, ref, allowed)
	case strings.Contains(ref, "//"), strings.HasPrefix(ref, "/"), strings.HasSuffix(ref, "/"):
		return fmt.Errorf("%w %q: empty path component; want %s", ErrInvalidRef, ref, allowed)
	case strings.HasSuffix(ref, "."):
		return fmt.Errorf("%w %q: a ref cannot end with \".\"; want %s", ErrInvalidRef, ref, allowed)
	}
	for _, c := range strings.Split(ref, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return fmt.Errorf("%w %q: component %q starts with \".\" or ends with \".lock\"; want %s", ErrInvalidRef, ref, c, allowed)
		}
	}
	return nil
}
