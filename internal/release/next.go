package release

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/smp/delivery/internal/conventional"
	"github.com/smp/delivery/internal/semver"
)

// Next is the next version of a repository (or of one monorepo service).
type Next struct {
	// Release is false when nothing since the previous release asks for
	// one (only docs, chore, ci, ... or no commit at all); Reason says so.
	Release bool   `json:"release"`
	Tag     string `json:"tag,omitempty"`     // e.g. order-svc/v1.3.0-rc.2
	Version string `json:"version,omitempty"` // e.g. 1.3.0-rc.2
	// Previous is the latest release tag reachable from HEAD ("" for none).
	Previous string `json:"previous,omitempty"`
	// Bump is the part of the version that moved (so a feat on 0.y.z
	// reads "patch"); see the package comment.
	Bump Bump   `json:"bump"`
	RC   uint64 `json:"rc,omitempty"`
	Head string `json:"head"`
	// Commits counts the non-merge commits since Previous (touching Path
	// when set); Types counts them by type, "other" for malformed headers.
	Commits  int            `json:"commits"`
	Types    map[string]int `json:"types,omitempty"`
	Breaking int            `json:"breaking,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	// Warning flags a computed tag that exists already (released from a
	// branch HEAD does not contain); `release tag` would refuse it.
	Warning string `json:"warning,omitempty"`
}

// history is what every release computation starts from.
type history struct {
	state    state
	prev     semver.Version // latest release reachable from HEAD
	prevTag  string         // its tag name, "" when there is none
	hasPrev  bool
	commits  []Commit     // since prevTag, newest first
	allTags  []semver.Tag // every pipeline tag under the prefix
	tagNames map[string]bool
}

// load inspects the repository and reads the commits since the last release.
func load(ctx context.Context, o Options) (*repo, history, error) {
	var h history
	if err := o.validate(); err != nil {
		return nil, h, err
	}
	r := newRepo(o)
	st, err := r.state(ctx, false, false)
	if err != nil {
		return nil, h, err
	}
	h.state = st
	if err := r.checkPath(ctx, o.Path); err != nil {
		return nil, h, err
	}
	reachable, err := r.tags(ctx, st.Head)
	if err != nil {
		return nil, h, fmt.Errorf("list tags: %w", err)
	}
	for _, name := range reachable {
		t, ok := o.parseTagName(name)
		if !ok || t.Kind != semver.Release {
			continue
		}
		if !h.hasPrev || t.Version.Compare(h.prev) > 0 {
			h.prev, h.prevTag, h.hasPrev = t.Version, name, true
		}
	}
	from := ""
	if h.hasPrev {
		from = "refs/tags/" + h.prevTag
	}
	if h.commits, err = r.log(ctx, from, st.Head, o.Path); err != nil {
		return nil, h, fmt.Errorf("read commits since %s: %w", orFirst(h.prevTag), err)
	}
	all, err := r.tags(ctx, "")
	if err != nil {
		return nil, h, fmt.Errorf("list tags: %w", err)
	}
	h.tagNames = map[string]bool{}
	for _, name := range all {
		h.tagNames[name] = true
		if t, ok := o.parseTagName(name); ok {
			h.allTags = append(h.allTags, t)
		}
	}
	return r, h, nil
}

func orFirst(tag string) string {
	if tag == "" {
		return "the first commit"
	}
	return tag
}

// NextVersion computes the next version from the conventional commits since
// the latest release tag reachable from HEAD. With rc it is the next
// release candidate of that version: rc.1, or one above the highest rc tag
// of that version anywhere in the repository.
func NextVersion(ctx context.Context, o Options, rc bool) (Next, error) {
	o = o.withDefaults()
	_, h, err := load(ctx, o)
	if err != nil {
		return Next{}, err
	}
	return nextFrom(o, h, rc), nil
}

func nextFrom(o Options, h history, rc bool) Next {
	n := Next{Head: h.state.Head, Previous: h.prevTag, Commits: len(h.commits), Types: map[string]int{}}
	for _, c := range h.commits {
		n.Types[c.Type]++
		if c.Breaking {
			n.Breaking++
		}
	}
	asked := BumpOfAll(h.commits)
	n.Bump = Effective(h.prev, h.hasPrev, asked)
	if n.Bump == None {
		since := "in the history"
		if h.prevTag != "" {
			since = "since " + h.prevTag
		}
		where := ""
		if o.Path != "" {
			where = " touching " + o.Path
		}
		if len(h.commits) == 0 {
			n.Reason = fmt.Sprintf("nothing to release: no commits%s %s", where, since)
		} else {
			n.Reason = fmt.Sprintf("nothing to release: none of the %d commits%s %s is a feat, fix, perf, revert or breaking change (%s)", len(h.commits), where, since, n.TypeSummary())
		}
		return n
	}
	v := Apply(h.prev, h.hasPrev, asked)
	n.Release = true
	if rc {
		n.RC = nextRC(v, h.allTags)
		v = semver.RCVersion(v, n.RC)
	}
	n.Version, n.Tag = v.String(), o.tagName(v)
	if h.tagNames[n.Tag] {
		n.Warning = fmt.Sprintf("tag %s exists already but is not reachable from HEAD (released from another branch?); choose a higher version", n.Tag)
	}
	return n
}

// nextRC is one above the highest rc number of core among tags, or 1.
func nextRC(core semver.Version, tags []semver.Tag) uint64 {
	var n uint64
	for _, t := range tags {
		if t.Kind == semver.RC && t.Version.Core().Compare(core) == 0 {
			n = max(n, t.RC)
		}
	}
	return n + 1
}

// typeOrder is the order types are summarised and changelogs grouped in.
var typeOrder = []string{"feat", "fix", "perf", "revert", "refactor", "docs", "test", "build", "ci", "chore", "style"}

// TypeSummary renders Types as "feat 2, fix 1, other 3".
func (n Next) TypeSummary() string {
	var parts []string
	seen := map[string]bool{}
	for _, t := range typeOrder {
		if n.Types[t] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", t, n.Types[t]))
			seen[t] = true
		}
	}
	var rest []string
	for t := range n.Types {
		if !seen[t] && t != conventional.Other {
			rest = append(rest, t)
		}
	}
	sort.Strings(rest)
	for _, t := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", t, n.Types[t]))
	}
	if n.Types[conventional.Other] > 0 {
		parts = append(parts, fmt.Sprintf("%s %d", conventional.Other, n.Types[conventional.Other]))
	}
	return strings.Join(parts, ", ")
}
