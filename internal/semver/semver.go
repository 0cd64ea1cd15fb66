// Package semver parses versions strictly by Semantic Versioning 2.0.0 and
// classifies release tags the way SMP's pipeline uses them: vX.Y.Z is a
// release, vX.Y.Z-rc.N a release candidate, anything else is refused with
// the reason. It is the one parser that plan, release and deploy share.
package semver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/smp/delivery/internal/fault"
)

// Version is a parsed SemVer 2.0.0 version.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // pre-release identifiers, e.g. ["rc", "1"]
	Build               []string // build metadata identifiers
}

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = fault.Invalidf("invalid version")

// Parse parses s (without a leading "v") strictly: three numeric parts
// without leading zeros, optional pre-release and build identifiers made of
// [0-9A-Za-z-], numeric pre-release identifiers without leading zeros.
func Parse(s string) (Version, error) {
	var v Version
	if s == "" {
		return v, fmt.Errorf("%w: empty", ErrInvalid)
	}
	core := s
	if i := strings.IndexByte(core, '+'); i >= 0 {
		build := core[i+1:]
		core = core[:i]
		ids, err := identifiers(build, "build metadata", false)
		if err != nil {
			return v, err
		}
		v.Build = ids
	}
	if i := strings.IndexByte(core, '-'); i >= 0 {
		pre := core[i+1:]
		core = core[:i]
		ids, err := identifiers(pre, "pre-release", true)
		if err != nil {
			return v, err
		}
		v.Pre = ids
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%w: %q must have three parts MAJOR.MINOR.PATCH", ErrInvalid, core)
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	names := [3]string{"major", "minor", "patch"}
	for i, p := range parts {
		n, err := numeric(p)
		if err != nil {
			return v, fmt.Errorf("%w: %s version %q %s", ErrInvalid, names[i], p, err.Error())
		}
		*nums[i] = n
	}
	return v, nil
}

func numeric(p string) (uint64, error) {
	if p == "" {
		return 0, errors.New("is empty")
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return 0, errors.New("is not a number")
		}
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, errors.New("has a leading zero")
	}
	n, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		return 0, errors.New("is too large")
	}
	return n, nil
}

func identifiers(s, what string, checkNumeric bool) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	ids := strings.Split(s, ".")
	for _, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("%w: empty %s identifier in %q", ErrInvalid, what, s)
		}
		allDigits := true
		for _, r := range id {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-':
				allDigits = false
			default:
				return nil, fmt.Errorf("%w: %s identifier %q has %q (allowed: 0-9 A-Z a-z -)", ErrInvalid, what, id, r)
			}
		}
		if checkNumeric && allDigits && len(id) > 1 && id[0] == '0' {
			return nil, fmt.Errorf("%w: numeric %s identifier %q has a leading zero", ErrInvalid, what, id)
		}
	}
	return ids, nil
}

// String renders v without a leading "v".
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if len(v.Build) > 0 {
		s += "+" + strings.Join(v.Build, ".")
	}
	return s
}

// Core returns v without pre-release and build metadata.
func (v Version) Core() Version { return Version{Major: v.Major, Minor: v.Minor, Patch: v.Patch} }

// Compare orders versions by SemVer precedence (build metadata ignored):
// -1 if v < w, 0 if equal, +1 if v > w.
func (v Version) Compare(w Version) int {
	for _, d := range [3][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		if c := compareIdent(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.Pre) < len(w.Pre):
		return -1
	case len(v.Pre) > len(w.Pre):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, aerr := strconv.ParseUint(a, 10, 64)
	bn, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr == nil && berr == nil:
		switch {
		case an < bn:
			return -1
		case an > bn:
			return 1
		}
		return 0
	case aerr == nil:
		return -1 // numeric identifiers have lower precedence
	case berr == nil:
		return 1
	}
	return strings.Compare(a, b)
}
