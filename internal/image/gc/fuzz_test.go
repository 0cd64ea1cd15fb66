package gc_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/image/gc"
)

// FuzzReadReferencesNeverLetsADeployedDigestGo fuzzes what decides what
// `registry gc` deletes: the reader of the GitOps repository's environment
// files and hold records, then the plan. For any content:
//   - the reader never panics, and refuses only with ErrBadInput (gc then
//     deletes nothing);
//   - when it accepts an environment file whose image names the gc'd
//     repository (in any spelling that pulls from it) or no repository, the
//     digest the file pins is kept, however old its only dev tag is; so is
//     a hold's digest.
//
// The corpus is kept in testdata/fuzz (go test -fuzz adds what fails).
// Run: go test ./internal/image/gc/ -run '^$' -fuzz FuzzReadReferences -fuzztime 60s
func FuzzReadReferencesNeverLetsADeployedDigestGo(f *testing.F) {
	const repo = "ghcr.io/smp/order-svc"
	f.Add([]byte(envFile(repo, "sha-1234567", digest(1))), []byte("since: 2026-11-01T00:00:00Z\nby: ops\nreason: incident\ndigest: "+digest(2)+"\n"))
	f.Add([]byte(envFile("GHCR.io/smp/order-svc", "3.2.5", digest(3))), []byte(""))
	f.Add([]byte(envFile("ghcr.io:443/smp/order-svc", "3.2.5", digest(3))), []byte("digest: [a]\n"))
	f.Add([]byte("image:\n  tag: sha-1234567\n  digest: "+digest(4)+"\nchart: {version: 0.1.0}\nstrategy: [x]\n"), []byte("{}"))
	f.Add([]byte("image: &a {digest: "+digest(5)+"}\nother: *a\n"), []byte("digest: !!str "+digest(6)+"\n"))
	f.Add([]byte("image: ghcr.io/smp/order-svc:1\n"), []byte("- a\n"))
	f.Fuzz(func(t *testing.T, env, hold []byte) {
		dir := t.TempDir()
		write := func(rel string, b []byte) {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("environments/prod/order-svc.yaml", env)
		write("state/holds/prod/order-svc.yaml", hold)
		refs, err := gc.ReadReferences(dir, repo)
		if err != nil {
			if !errors.Is(err, gc.ErrBadInput) {
				t.Fatalf("refused without ErrBadInput (gc would not say what to fix): %v", err)
			}
			return
		}
		var pinned []string
		if e, derr := envfile.Decode(env); envfile.Only(derr, "image") == nil && e.Image.Digest != "" && pullsFrom(e.Image.Repository, repo) {
			pinned = append(pinned, e.Image.Digest)
		}
		var h struct {
			Digest string `yaml:"digest"`
		}
		if yamlDigest(hold, &h) && h.Digest != "" {
			pinned = append(pinned, h.Digest)
		}
		long := 10 * 365 * 24 * time.Hour
		for _, d := range pinned {
			v := gc.Version{Digest: d, Tags: []string{"sha-1234567"}, Created: now.Add(-long)}
			dec, err := gc.Plan([]gc.Version{v}, refs, gc.Policy{MaxAge: time.Hour, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if len(dec) != 1 || dec[0].Action != gc.Keep {
				t.Fatalf("digest %q is pinned by the GitOps repository but gc plans %+v\nenvironment file:\n%s\nhold:\n%s", d, dec, env, hold)
			}
		}
	})
}

// pullsFrom says whether an environment file's image.repository (empty:
// the service's own) pulls from repo, written here without the code under
// test: the host compared in any case and without https' port, the path as
// is (a repository path is lowercase by rule).
func pullsFrom(fileRepo, repo string) bool {
	if fileRepo == "" {
		return true
	}
	split := func(r string) (host, path string) {
		host, path, _ = strings.Cut(r, "/")
		return strings.TrimSuffix(strings.ToLower(host), ":443"), path
	}
	fh, fp := split(fileRepo)
	rh, rp := split(repo)
	return fh == rh && fp == rp
}

// yamlDigest decodes a hold record as gc's reader does.
func yamlDigest(b []byte, into any) bool { return yaml.Unmarshal(b, into) == nil }
