// Package imageref parses and checks the image references smpctl accepts and
// builds the go-containerregistry options every registry call uses.
//
// The rules (docs/design.md §2.1, §2.2): references are lower case, carry no
// spaces, never name the mutable tags `latest` or `main`, and some commands
// need a digest. Plain http is allowed only for loopback registries
// (localhost, 127.0.0.1, [::1]); every other registry is reached over https,
// even the private (RFC 1918) addresses go-containerregistry would otherwise
// talk to in clear text.
package imageref

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/smp/delivery/internal/fault"
)

// ErrInvalid marks a reference the user must fix (bad input, exit 2).
var ErrInvalid = fault.Invalidf("invalid image reference")

// tagPattern is the OCI distribution spec's tag grammar.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`) // at most 128, checked apart: a bounded repetition compiles to that many states at every start

// forbiddenTags are mutable tags that defeat promotion by digest.
var forbiddenTags = map[string]string{
	"latest": "`latest` moves with every push, so what runs cannot be known",
	"main":   "`main` moves with every merge, so what runs cannot be known",
}

// IsLoopback reports whether a registry host (with optional port) is this
// machine, the only place where plain http is acceptable.
func IsLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func nameOptions(s string) []name.Option {
	opts := []name.Option{name.StrictValidation}
	host := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		host = s[:i]
	}
	if IsLoopback(host) {
		opts = append(opts, name.Insecure)
	}
	return opts
}

func precheck(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s: give e.g. ghcr.io/smp/order-svc", ErrInvalid, what)
	case strings.ContainsAny(s, " \t\r\n"):
		return fmt.Errorf("%w: %s %q contains white space: remove it", ErrInvalid, what, s)
	}
	if repo := strings.TrimSuffix(s, tagAndDigest(s)); repo != strings.ToLower(repo) {
		return fmt.Errorf("%w: %s %q has upper case letters: repository names are lower case (%s)", ErrInvalid, what, s, strings.ToLower(repo))
	}
	return nil
}

// tagAndDigest returns the part of s after the repository: ":tag", "@digest"
// or both; tags may contain upper case letters, repositories may not.
func tagAndDigest(s string) string {
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[:i]
	}
	slash := strings.LastIndexByte(rest, '/')
	colon := strings.LastIndexByte(rest, ':')
	if colon > slash {
		return s[colon:]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[i:]
	}
	return ""
}

// Repository parses a repository without tag or digest, e.g. ghcr.io/smp/order-svc.
func Repository(s string) (name.Repository, error) {
	if err := precheck("repository", s); err != nil {
		return name.Repository{}, err
	}
	if tagAndDigest(s) != "" {
		return name.Repository{}, fmt.Errorf("%w: %q names a tag or digest where a repository is expected: drop %q", ErrInvalid, s, tagAndDigest(s))
	}
	if host, _, ok := strings.Cut(s, "/"); !ok || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		return name.Repository{}, fmt.Errorf("%w: repository %q has no registry host: write it in full, e.g. ghcr.io/smp/%s", ErrInvalid, s, s[strings.LastIndexByte(s, '/')+1:])
	}
	r, err := name.NewRepository(s, nameOptions(s)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: repository %q: %w", ErrInvalid, s, err)
	}
	return r, nil
}

// Reference parses a tag or digest reference and refuses the mutable tags.
// A reference without tag or digest is refused too: go-containerregistry
// would silently read it as `latest`.
func Reference(s string) (name.Reference, error) {
	if err := precheck("image reference", s); err != nil {
		return nil, err
	}
	suffix := tagAndDigest(s)
	if suffix == "" {
		return nil, fmt.Errorf("%w: %q has neither tag nor digest: add :sha-<short> or @sha256:<digest> (an empty tag would mean latest)", ErrInvalid, s)
	}
	repoPart := strings.TrimSuffix(s, suffix)
	if _, err := Repository(repoPart); err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(s, nameOptions(s)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
	}
	if t, ok := ref.(name.Tag); ok {
		if err := CheckTag(t.TagStr()); err != nil {
			return nil, err
		}
	}
	if tag, _, ok := strings.Cut(suffix, "@"); ok && strings.HasPrefix(tag, ":") {
		if err := CheckTag(tag[1:]); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// Digest parses a reference that must carry a digest (REPO@sha256:… or
// REPO:TAG@sha256:…); the tag, if any, is only checked, the digest wins.
func Digest(s string) (name.Digest, error) {
	ref, err := Reference(s)
	if err != nil {
		return name.Digest{}, err
	}
	d, ok := ref.(name.Digest)
	if !ok {
		return name.Digest{}, fmt.Errorf("%w: %q has no digest: give REPO@sha256:<digest> (find it with smpctl image resolve --image REPO --source-commit SHA)", ErrInvalid, s)
	}
	return d, nil
}

// CheckTag refuses tags that are not valid or that are mutable by design.
func CheckTag(tag string) error {
	if why, bad := forbiddenTags[strings.ToLower(tag)]; bad {
		return fmt.Errorf("%w: tag %q is refused: %s; use the sha-<short> tag or a release version", ErrInvalid, tag, why)
	}
	if _, err := name.NewTag("example.com/x:"+tag, name.StrictValidation); err != nil || len(tag) > 128 || !tagPattern.MatchString(tag) {
		return fmt.Errorf("%w: tag %q is not a valid tag (letters, digits, '.', '_', '-', at most 128, not starting with '.' or '-')", ErrInvalid, tag)
	}
	return nil
}
