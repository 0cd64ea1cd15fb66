package semver

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says what a release tag is for.
type Kind string

// Tag kinds.
const (
	Release Kind = "release" // vX.Y.Z → prod
	RC      Kind = "rc"      // vX.Y.Z-rc.N → staging
)

// Tag is a valid pipeline tag.
type Tag struct {
	Version Version
	Kind    Kind
	RC      uint64 // N of -rc.N; 0 for a release
}

// ParseTag parses a pipeline tag: "v" + MAJOR.MINOR.PATCH, optionally
// followed by "-rc.N" with N ≥ 1. Everything else — other pre-releases,
// build metadata, leading zeros, upper case "RC" — is refused with the
// reason, because the seed's `if:` conditions would send such tags to prod.
func ParseTag(tag string) (Tag, error) {
	if len(tag) < 2 || tag[0] != 'v' {
		return Tag{}, fmt.Errorf("%w: tag %q must start with \"v\" (vX.Y.Z or vX.Y.Z-rc.N)", ErrInvalid, tag)
	}
	v, err := Parse(tag[1:])
	if err != nil {
		return Tag{}, fmt.Errorf("tag %q is not SemVer 2.0.0: %w", tag, err)
	}
	if len(v.Build) > 0 {
		return Tag{}, fmt.Errorf("%w: tag %q has build metadata %q; pipeline tags are vX.Y.Z or vX.Y.Z-rc.N", ErrInvalid, tag, "+"+strings.Join(v.Build, "."))
	}
	if len(v.Pre) == 0 {
		return Tag{Version: v, Kind: Release}, nil
	}
	if len(v.Pre) != 2 || v.Pre[0] != "rc" {
		return Tag{}, fmt.Errorf("%w: tag %q has pre-release %q; the only pre-release allowed is rc.N (e.g. v%s-rc.1)", ErrInvalid, tag, strings.Join(v.Pre, "."), v.Core())
	}
	n, err := numeric(v.Pre[1])
	if err != nil || n == 0 {
		return Tag{}, fmt.Errorf("%w: tag %q: rc number %q must be a whole number from 1 without leading zeros", ErrInvalid, tag, v.Pre[1])
	}
	return Tag{Version: v, Kind: RC, RC: n}, nil
}

// String renders the tag with its leading "v".
func (t Tag) String() string { return "v" + t.Version.String() }

// RCVersion returns X.Y.Z-rc.N.
func RCVersion(core Version, n uint64) Version {
	c := core.Core()
	c.Pre = []string{"rc", strconv.FormatUint(n, 10)}
	return c
}
