// Package hardlink gives a program its own name for a file another process
// may rebuild: the tests' build cache (internal/testkit/gobuild) and make
// test's kept test binaries (scripts/gotestbin) hand out hard links, so a
// later rebuild, which writes a new file, never changes what already runs.
package hardlink

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// OrCopy makes dst a new name of src's file (replacing dst), or a copy of
// it where a hard link cannot be made (another file system).
func OrCopy(src, dst string) error {
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	err := os.Link(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755) //nolint:gosec // an executable
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
