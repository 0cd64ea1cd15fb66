package release

import (
	"github.com/smp/delivery/internal/conventional"
	"github.com/smp/delivery/internal/semver"
)

// Bump is how much a set of commits moves the version.
type Bump int

// Bumps, in increasing order.
const (
	None Bump = iota
	Patch
	Minor
	Major
)

func (b Bump) String() string {
	switch b {
	case Patch:
		return "patch"
	case Minor:
		return "minor"
	case Major:
		return "major"
	}
	return "none"
}

// MarshalText makes a Bump read as its name in JSON.
func (b Bump) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// BumpOf is the bump one commit asks for: breaking → major, feat → minor,
// fix, perf and revert → patch, everything else (docs, chore, ci, test,
// build, style, refactor, other) → none.
func BumpOf(c conventional.Commit) Bump {
	switch {
	case c.Breaking:
		return Major
	case c.Type == "feat":
		return Minor
	case c.Type == "fix", c.Type == "perf", c.Type == "revert":
		return Patch
	}
	return None
}

// BumpOfAll is the largest bump among commits.
func BumpOfAll(commits []Commit) Bump {
	b := None
	for _, c := range commits {
		b = max(b, BumpOf(c.Commit))
	}
	return b
}

// FirstVersion is the version of a repository's first release.
var FirstVersion = semver.Version{Minor: 1}

// Apply returns the version after prev moved by b; prev's pre-release and
// build are dropped. While prev's major is 0 the bump moves one place to
// the right (breaking → minor, feat → patch): see the package comment.
// With hasPrev false the result is FirstVersion for any bump but None.
func Apply(prev semver.Version, hasPrev bool, b Bump) semver.Version {
	if b == None {
		return prev.Core()
	}
	if !hasPrev {
		return FirstVersion
	}
	v := prev.Core()
	switch Effective(prev, hasPrev, b) {
	case Major:
		return semver.Version{Major: v.Major + 1}
	case Minor:
		return semver.Version{Major: v.Major, Minor: v.Minor + 1}
	default:
		return semver.Version{Major: v.Major, Minor: v.Minor, Patch: v.Patch + 1}
	}
}

// Effective is the part of the version that b actually moves: b itself
// from 1.0.0 on, one place to the right while the major version is 0, and
// Minor for the first release (0.1.0).
func Effective(prev semver.Version, hasPrev bool, b Bump) Bump {
	switch {
	case b == None:
		return None
	case !hasPrev:
		return Minor
	case prev.Major == 0 && b > Patch:
		return b - 1
	}
	return b
}
