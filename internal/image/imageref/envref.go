package imageref

// This file holds env references: the form smpctl writes into environment
// files, REPOSITORY:TAG@sha256:DIGEST, always pinned by digest.

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
)

// Ref is a validated image reference.
type Ref struct {
	Repository string `json:"repository"` // e.g. ghcr.io/smp/order-svc
	Tag        string `json:"tag"`        // e.g. 3.3.0
	Digest     string `json:"digest"`     // sha256:<64 hex>
}

// String returns REPOSITORY:TAG@sha256:DIGEST.
func (r Ref) String() string { return r.Repository + ":" + r.Tag + "@" + r.Digest }

// forbiddenEnvTags move: an environment pinned to one of them is not pinned.
var forbiddenEnvTags = map[string]bool{"latest": true, "main": true, "master": true}

const example = "ghcr.io/smp/order-svc:3.3.0@sha256:<64 hex digits>"

// Parse validates s as REPOSITORY:TAG@sha256:DIGEST.
func Parse(s string) (Ref, error) {
	bad := func(format string, args ...any) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s; want %s", ErrInvalid, s, fmt.Sprintf(format, args...), example)
	}
	if s == "" {
		return bad("empty")
	}
	for _, c := range s {
		switch {
		case c > unicode.MaxASCII:
			return bad("non-ASCII character %q", c)
		case unicode.IsSpace(c) || unicode.IsControl(c):
			return bad("contains white space or a control character")
		case unicode.IsUpper(c):
			return bad("upper-case letter %q (image references are lower case)", c)
		}
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return bad("no digest: pin the image with @sha256:<digest> so the environment runs exactly what was built")
	}
	named, digest := s[:at], s[at+1:]
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok {
		return bad("digest %q has no algorithm", digest)
	}
	if alg != "sha256" {
		return bad("digest algorithm %q: only sha256 is accepted", alg)
	}
	if len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return bad("digest has %d characters after sha256:, want 64 hex digits", len(hex))
	}
	slash := strings.LastIndex(named, "/")
	colon := strings.LastIndex(named, ":")
	if colon <= slash {
		return bad("no tag: write REPOSITORY:TAG before the digest")
	}
	repo, tag := named[:colon], named[colon+1:]
	if forbiddenEnvTags[tag] {
		return bad("tag %q moves; use the version or sha-<commit> tag", tag)
	}
	if strings.Contains(repo, "..") || strings.HasPrefix(repo, "/") {
		return bad("repository %q is not a registry path", repo)
	}
	if _, err := name.NewTag(named, name.StrictValidation); err != nil {
		return bad("%v", err)
	}
	if _, err := name.NewDigest(repo+"@"+digest, name.StrictValidation); err != nil {
		return bad("%v", err)
	}
	return Ref{Repository: repo, Tag: tag, Digest: digest}, nil
}

// CheckDigest validates a bare sha256:<64 hex> digest.
func CheckDigest(d string) error {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || alg != "sha256" || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: digest %q: want sha256:<64 lower-case hex digits>", ErrInvalid, d)
	}
	return nil
}
