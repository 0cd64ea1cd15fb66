package gitops_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

// mirrorOf returns the one mirror in cache.
func mirrorOf(t *testing.T, cache string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(cache, "*.git"))
	if len(m) != 1 {
		t.Fatalf("cache %s holds %v, want one mirror", cache, m)
	}
	return m[0]
}

func TestWritesShareOneMirrorAndFetchIntoIt(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
	opts := fast()
	opts.CacheDir = t.TempDir()
	first, err := open(t, bare, opts).Apply(context.Background(), write("b.txt", "b\n"))
	if err != nil {
		t.Fatal(err)
	}
	mirror := mirrorOf(t, opts.CacheDir)
	// The mirror is configured as it was cloned: no automatic gc, no
	// commit-graph written by fetches, no reflogs.
	for key, want := range map[string]string{"gc.auto": "0", "maintenance.auto": "false", "fetch.writeCommitGraph": "false", "core.logAllRefUpdates": "false"} {
		if got := gitcmdtest.Git(t, mirror, "config", "--local", key); got != want {
			t.Errorf("the mirror's %s is %q, want %q", key, got, want)
		}
	}
	// Another writer, not through this cache, moves the remote.
	other := t.TempDir()
	gitcmdtest.Git(t, other, "clone", "--quiet", bare, ".")
	gitcmdtest.Git(t, other, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "--quiet", "--allow-empty", "-m", "elsewhere")
	gitcmdtest.Git(t, other, "push", "--quiet", "origin", "main")
	if _, err := open(t, bare, opts).Apply(context.Background(), write("c.txt", "c\n")); err != nil {
		t.Fatal(err)
	}
	if m := mirrorOf(t, opts.CacheDir); m != mirror {
		t.Errorf("the second write used %s, want the first's mirror %s", m, mirror)
	}
	// The mirror was fetched, not recloned: it has both earlier commits,
	// and the second write was made on top of the other writer's.
	gitcmdtest.Git(t, mirror, "cat-file", "-e", first.Commit+"^{commit}")
	if got := gitcmdtest.Git(t, bare, "log", "--format=%s", "-3", "main"); got != "write c.txt\nelsewhere\nwrite b.txt" {
		t.Errorf("remote history:\n%s", got)
	}
	// Nothing of the work trees is left in the cache.
	entries, _ := os.ReadDir(opts.CacheDir)
	for _, e := range entries {
		if n := e.Name(); n != filepath.Base(mirror) && n != filepath.Base(mirror)+".lock" && n != filepath.Base(mirror)+".write-lock" {
			t.Errorf("cache holds %s", n)
		}
	}
}

// TestADamagedCacheIsRebuiltNotTrusted damages the mirror the ways an
// interrupted clone, a full disk or a stray hand can, and checks the next
// write rebuilds it and lands.
func TestADamagedCacheIsRebuiltNotTrusted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, mirror string)
	}{
		{"a clone that never finished (no marker)", func(t *testing.T, mirror string) {
			if err := os.Remove(filepath.Join(mirror, "smpctl-mirror")); err != nil {
				t.Fatal(err)
			}
		}},
		{"objects gone", func(t *testing.T, mirror string) {
			if err := os.RemoveAll(filepath.Join(mirror, "objects")); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(mirror, "objects", "pack"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"a truncated pack", func(t *testing.T, mirror string) {
			gitcmdtest.Git(t, mirror, "repack", "-adq")
			packs, _ := filepath.Glob(filepath.Join(mirror, "objects", "pack", "*.pack"))
			for _, p := range packs {
				if err := os.Truncate(p, 20); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"not a repository at all", func(t *testing.T, mirror string) {
			if err := os.RemoveAll(mirror); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(mirror, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mirror, "smpctl-mirror"), []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bare := gitopstest.NewRemote(t, map[string]string{"a.txt": "a\n"})
			opts := fast()
			opts.CacheDir = t.TempDir()
			if _, err := open(t, bare, opts).Apply(context.Background(), write("b.txt", "b\n")); err != nil {
				t.Fatal(err)
			}
			mirror := mirrorOf(t, opts.CacheDir)
			tt.damage(t, mirror)
			if _, err := open(t, bare, opts).Apply(context.Background(), write("c.txt", "c\n")); err != nil {
				t.Fatalf("write over a damaged cache: %v", err)
			}
			if got := gitcmdtest.Git(t, bare, "show", "main:c.txt"); got != "c" {
				t.Errorf("c.txt = %q", got)
			}
			gitcmdtest.Git(t, mirrorOf(t, opts.CacheDir), "fsck", "--no-progress")
			if b, err := os.ReadFile(filepath.Join(mirror, "smpctl-mirror")); err != nil || !strings.HasPrefix(string(b), "format ") {
				t.Errorf("rebuilt mirror's marker = %q, %v", b, err)
			}
		})
	}
}

func TestOpenMirrorReadsTheRemoteWithoutWritingIt(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": "services: []\n"})
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	m, err := gitops.OpenMirror(context.Background(), gitops.Remote{URL: bare}, gitops.MirrorOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir, cleanup, err := m.WorkTree(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if b, err := os.ReadFile(filepath.Join(dir, "delivery.yaml")); err != nil || string(b) != "services: []\n" {
		t.Errorf("work tree delivery.yaml = %q, %v", b, err)
	}
	if after := gitcmdtest.Git(t, bare, "rev-parse", "main"); after != before {
		t.Error("reading moved the remote")
	}
}
