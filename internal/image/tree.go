package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/smp/delivery/internal/fault"
)

// ErrLinkOutOfTree is returned when the service's module holds a symbolic
// link that leads out of it: go build follows links to files, so a link
// committed to a service repository could compile (or, with go:embed in a
// directory it names, ship) a file of the machine that builds it, such as
// a CI runner's credentials.
var ErrLinkOutOfTree = fault.Invalidf("symbolic link out of the service's tree")

// checkTree refuses a module (the directory of the go.mod above Dir, or Dir
// itself without one) with a symbolic link that resolves outside it, or
// that is absolute, through an os.Root of the module: the root follows
// links only while they stay inside it. Links within the module are fine.
// It walks what go build can read: not .git, testdata, or the directories
// go ignores (names starting with . or _).
func (o *BuildOptions) checkTree() error {
	mod, found := moduleRoot(o.Dir)
	if !found {
		mod = o.Dir
	}
	root, err := os.OpenRoot(mod)
	if err != nil {
		return fault.Inputf("Dir", "%w: the service's tree %s: %w", ErrBadInput, mod, err)
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read the service's tree %s: %w", mod, err)
		}
		if d.IsDir() {
			if n := d.Name(); p != "." && (n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if _, err := root.Stat(p); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil // inside the module (a dangling link fails go build on its own)
		}
		target, _ := root.Readlink(p)
		return fault.Inputf("Dir", "%w: %s is a link to %q, which is absolute or leads out of %s: smpctl builds only from the service's own files; commit the file itself instead of the link",
			ErrLinkOutOfTree, filepath.Join(mod, p), target, mod)
	})
}
