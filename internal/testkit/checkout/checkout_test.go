package checkout

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootIsTheModuleAboveThePackage(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Clean(filepath.Join(wd, "..", "..", "..")); root != want {
		t.Fatalf("Root() = %s, want %s", root, want)
	}
	if got := Path("internal/testkit/checkout"); got != wd {
		t.Fatalf("Path = %s, want %s", got, wd)
	}
}

func TestRootOutsideTheRepositoryIsAnError(t *testing.T) {
	dir := t.TempDir()
	// A go.mod of another module does not count.
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if root, err := Root(); err == nil {
		t.Fatalf("Root() = %s outside the repository, want an error", root)
	}
}
