package gitopsgen

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

func TestBuildMakesTheHistoryItWasAskedFor(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "g.git")
	if err := Build(context.Background(), dir, Options{Services: 5, Commits: 60, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(gitcmdtest.Git(t, dir, "rev-list", "--count", "main"))
	if err != nil || n < 60 || n > 61 {
		t.Errorf("%d commits (%v), want 60 (61 when the last change released a hold)", n, err)
	}
	files := gitcmdtest.Git(t, dir, "ls-tree", "-r", "--name-only", "main", "environments")
	if got := len(strings.Fields(files)); got != 15 {
		t.Errorf("%d environment files, want 5 services × 3 environments", got)
	}
}
