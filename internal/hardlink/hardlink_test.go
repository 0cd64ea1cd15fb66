package hardlink

import (
	"os"
	"path/filepath"
	"testing"
)

// dst becomes the same file as src, replacing what was there; src written
// anew afterwards (as go build writes a rebuilt program) leaves dst alone.
func TestOrCopyGivesANameThatARebuildLeavesAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("v1"), 0o755); err != nil { //nolint:gosec // an executable, as in use
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := OrCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	si, _ := os.Stat(src)
	di, _ := os.Stat(dst)
	if !os.SameFile(si, di) {
		t.Fatal("dst is not a name of src's file")
	}
	// A rebuild replaces src with a new file.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("v2"), 0o755); err != nil { //nolint:gosec // an executable
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "v1" {
		t.Errorf("dst holds %q after the rebuild, want v1", b)
	}
	if err := OrCopy(filepath.Join(dir, "missing"), dst); err == nil {
		t.Error("OrCopy of a file that does not exist returned nil")
	}
}
