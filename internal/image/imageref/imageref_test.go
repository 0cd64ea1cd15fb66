package imageref_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/image/imageref"
)

const dg = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

func TestReferencesFollowTheRules(t *testing.T) {
	t.Parallel()
	ok := []string{
		"ghcr.io/smp/order-svc:sha-abc1234",
		"ghcr.io/smp/order-svc:3.3.0-rc.1",
		"ghcr.io/smp/order-svc@" + dg,
		"ghcr.io/smp/order-svc:3.3.0@" + dg,
		"127.0.0.1:5000/smp/order-svc:V1",
		"localhost/smp/x:1",
	}
	for _, s := range ok {
		if _, err := imageref.Reference(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		"":                                                  "empty",
		"ghcr.io/SMP/order-svc:1.0.0":                       "upper case",
		"ghcr.io/smp/order svc:1.0.0":                       "white space",
		" ghcr.io/smp/order-svc:1.0.0":                      "white space",
		"ghcr.io/smp/order-svc":                             "neither tag nor digest",
		"ghcr.io/smp/order-svc:latest":                      `"latest" is refused`,
		"ghcr.io/smp/order-svc:LATEST":                      `"LATEST" is refused`,
		"ghcr.io/smp/order-svc:main":                        `"main" is refused`,
		"ghcr.io/smp/order-svc:latest@" + dg:                `"latest" is refused`,
		"order-svc:1.0.0":                                   "no registry host",
		"smp/order-svc:1.0.0":                               "no registry host",
		"ghcr.io/smp/order-svc@sha256:abc":                  "invalid image reference",
		"ghcr.io/smp/order-svc:-bad":                        "invalid",
		"ghcr.io/smp/order-svc:" + strings.Repeat("a", 129): "invalid",
	}
	for s, want := range bad {
		_, err := imageref.Reference(s)
		if !errors.Is(err, imageref.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want ErrInvalid mentioning %q", s, err, want)
		}
	}
	if _, err := imageref.Digest("ghcr.io/smp/order-svc:1.0.0"); !errors.Is(err, imageref.ErrInvalid) || !strings.Contains(err.Error(), "has no digest") {
		t.Errorf("a tag where a digest is needed: %v", err)
	}
	if d, err := imageref.Digest("ghcr.io/smp/order-svc:1.0.0@" + dg); err != nil || d.DigestStr() != dg {
		t.Errorf("tag and digest: %v %v", d, err)
	}
	if _, err := imageref.Repository("ghcr.io/smp/order-svc@" + dg); !errors.Is(err, imageref.ErrInvalid) {
		t.Errorf("a digest where a repository is needed: %v", err)
	}
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "[::1]:5000": true, "127.0.0.1": true,
		"10.0.0.5:5000": false, "192.168.1.2": false, "ghcr.io": false, "localhost.evil.com": false,
	} {
		if got := imageref.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%s) = %v, want %v", host, got, want)
		}
	}
	// go-containerregistry would speak http to RFC 1918 addresses; we refuse.
	r, err := name.NewRepository("10.255.255.1:5000/smp/x", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.List(r, imageref.Access{Attempts: 1}.Options(context.Background())...)
	if err == nil || !strings.Contains(err.Error(), "refusing plain http to 10.255.255.1:5000") {
		t.Errorf("http to a private address: %v", err)
	}
}

func TestGitHubTokenIsUsedForGHCROnly(t *testing.T) {
	t.Parallel()
	auth, err := imageref.GitHubKeychain("me", "ghs_x").Resolve(mustRegistry(t, "ghcr.io"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := auth.Authorization()
	if err != nil || cfg.Username != "me" || cfg.Password != "ghs_x" {
		t.Errorf("ghcr.io auth = %+v, %v", cfg, err)
	}
	other, _ := imageref.GitHubKeychain("me", "ghs_x").Resolve(mustRegistry(t, "docker.io"))
	if cfg, _ := other.Authorization(); cfg.Password != "" {
		t.Error("the GitHub token was offered to docker.io")
	}
}

func mustRegistry(t *testing.T, s string) name.Registry {
	t.Helper()
	r, err := name.NewRegistry(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func FuzzReference(f *testing.F) {
	for _, s := range []string{"ghcr.io/smp/x:1", "ghcr.io/smp/x@" + dg, "a:b@c", "x:latest", "127.0.0.1:5000/a/b:c@" + dg, ":", "@", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := imageref.Reference(s)
		if err != nil {
			if !errors.Is(err, imageref.ErrInvalid) {
				t.Fatalf("%q: error without ErrInvalid: %v", s, err)
			}
			return
		}
		if tag, ok := ref.(name.Tag); ok && (strings.EqualFold(tag.TagStr(), "latest") || strings.EqualFold(tag.TagStr(), "main")) {
			t.Fatalf("%q: a mutable tag passed", s)
		}
		if strings.ContainsAny(s, " \t\n") {
			t.Fatalf("%q: white space passed", s)
		}
	})
}
