// Package checkout finds the root of this repository's checkout from a
// test's working directory.
//
// go test runs each test binary in its package's directory, so the root is
// the nearest directory above it whose go.mod declares this module. Helpers
// that tests of many packages share find their files from it rather than
// from runtime.Caller: make test builds with -trimpath (so that a fresh clone
// reuses the build cache another path filled), and under -trimpath the file
// names compiled into a binary are import paths, not directories.
package checkout

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// Module is the root module's path.
const Module = "github.com/smp/delivery"

// Root returns the checkout's root: the nearest directory at or above the
// working directory whose go.mod declares Module.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the checkout: %w", err)
	}
	for dir := wd; ; {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modfile.ModulePath(data) == Module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find the checkout: no go.mod of %s at or above %s (run the tests from inside the repository)", Module, wd)
		}
		dir = parent
	}
}

// Path is Root joined with the slash-separated path rel; it panics when
// there is no checkout above the working directory, which only a test run
// from outside the repository can cause.
func Path(rel string) string {
	root, err := Root()
	if err != nil {
		panic(err)
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}
