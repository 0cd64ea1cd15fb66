package imageref

import (
	"errors"
	"strings"
	"testing"
)

var hex64 = strings.Repeat("ab", 32)

func TestParseAcceptsAPinnedReference(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"ghcr.io/smp/order-svc:3.3.0@sha256:" + hex64,
		"127.0.0.1:5000/smp/order-svc:sha-1a2b3c4@sha256:" + hex64,
		"localhost:5000/order-svc:3.3.0-rc.1@sha256:" + hex64,
	} {
		r, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if r.String() != s {
			t.Errorf("String() = %q, want %q", r.String(), s)
		}
	}
	r, _ := Parse("127.0.0.1:5000/smp/order-svc:sha-1a2b3c4@sha256:" + hex64)
	if r.Repository != "127.0.0.1:5000/smp/order-svc" || r.Tag != "sha-1a2b3c4" || r.Digest != "sha256:"+hex64 {
		t.Errorf("parsed %+v", r)
	}
}

func TestParseRefusesBadReferences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, says string }{
		{"an empty reference", "", "empty"},
		{"no digest", "ghcr.io/smp/order-svc:3.3.0", "no digest"},
		{"a digest that is too short", "ghcr.io/smp/x:1.0.0@sha256:abc", "64 hex"},
		{"a digest in upper case", "ghcr.io/smp/x:1.0.0@sha256:" + strings.ToUpper(hex64), "upper-case"},
		{"a sha512 digest", "ghcr.io/smp/x:1.0.0@sha512:" + hex64 + hex64, "only sha256"},
		{"a digest without algorithm", "ghcr.io/smp/x:1.0.0@" + hex64, "no algorithm"},
		{"the latest tag", "ghcr.io/smp/x:latest@sha256:" + hex64, "moves"},
		{"the main tag", "ghcr.io/smp/x:main@sha256:" + hex64, "moves"},
		{"no tag", "ghcr.io/smp/x@sha256:" + hex64, "no tag"},
		{"a port but no tag", "localhost:5000/x@sha256:" + hex64, "no tag"},
		{"upper case", "ghcr.io/SMP/x:1.0.0@sha256:" + hex64, "upper-case"},
		{"a space", "ghcr.io/smp/x :1.0.0@sha256:" + hex64, "white space"},
		{"unicode", "ghcr.io/smp/xé:1.0.0@sha256:" + hex64, "non-ASCII"},
		{"path traversal", "ghcr.io/../x:1.0.0@sha256:" + hex64, "not a registry path"},
		{"no registry", "order-svc:1.0.0@sha256:" + hex64, "registry"},
		{"a bad tag character", "ghcr.io/smp/x:1+0@sha256:" + hex64, "tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.in)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid saying %q", tc.in, err, tc.says)
			}
		})
	}
}

func TestCheckDigest(t *testing.T) {
	t.Parallel()
	if err := CheckDigest("sha256:" + hex64); err != nil {
		t.Error(err)
	}
	if err := CheckDigest("sha256:" + hex64[:10]); err == nil {
		t.Error("short digest accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("ghcr.io/smp/order-svc:3.3.0@sha256:" + hex64)
	f.Add("x:latest@sha256:" + hex64)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if r.String() != s || strings.ToLower(s) != s || forbiddenEnvTags[r.Tag] || CheckDigest(r.Digest) != nil {
			t.Fatalf("accepted %q as %+v", s, r)
		}
	})
}
