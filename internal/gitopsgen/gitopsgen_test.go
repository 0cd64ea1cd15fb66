package gitopsgen

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestBuildMakesTheHistoryItWasAskedFor(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "g.git")
	if err := Build(context.Background(), dir, Options{Services: 5, Commits: 60, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", dir, "rev-list", "--count", "main").Output()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n < 60 || n > 61 {
		t.Errorf("%d commits (%v), want 60 (61 when the last change released a hold)", n, err)
	}
	files, err := exec.Command("git", "-C", dir, "ls-tree", "-r", "--name-only", "main", "environments").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(string(files))); got != 15 {
		t.Errorf("%d environment files, want 5 services × 3 environments", got)
	}
}
