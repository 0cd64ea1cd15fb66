package gitops

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

// The mirror's cheap integrity check must hold for both object formats git has: a SHA-256
// repository (git init --object-format=sha256) read with SHA-1 sizes looked truncated on
// every use and was cloned again each time.
func TestPacksWholeInSHA1AndSHA256Repositories(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			gitcmdtest.Git(t, dir, "init", "--quiet", "--object-format="+format)
			if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			gitcmdtest.Git(t, dir, "add", "a.txt")
			gitcmdtest.Git(t, dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "a")
			gitcmdtest.Git(t, dir, "repack", "-a", "-d", "--quiet")
			packs := filepath.Join(dir, ".git", "objects", "pack")
			if !packsWhole(packs) {
				t.Fatalf("a %s repository's packs, just written by git, are not whole", format)
			}
			p, _ := filepath.Glob(filepath.Join(packs, "*.pack"))
			if len(p) != 1 {
				t.Fatalf("packs %v, want one", p)
			}
			st, err := os.Stat(p[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p[0], st.Size()-1); err != nil {
				t.Fatal(err)
			}
			if packsWhole(packs) {
				t.Fatalf("a truncated %s pack is taken as whole", format)
			}
		})
	}
}
