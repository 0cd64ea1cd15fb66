// Package gobuild runs the `go build`s of tests (test servers, the smpctl
// that workflow scripts and the demo run) into one cache shared by every
// test binary of a run and by later runs, so a program that did not change
// is linked once: go build leaves an -o target alone when its build ID is
// current, and linking is what a warm build of an executable costs (smpctl
// takes seconds). Test binaries each used to link their own copy into a
// temporary directory, every run.
//
// The cache is $XDG_CACHE_HOME/smp-delivery/testbuild (~/.cache/...; see Dir), one
// directory per build (the package directory relative to the checkout, the
// go build arguments, the environment given and GOFLAGS), so its size is
// bounded by the builds the tests make; removing it only costs links.
// Builds of one entry are serialised across processes with a file lock, and
// each caller gets its own hard link (a copy across file systems) of the
// result: when another checkout's build later replaces the entry, go build
// writes a new file, and what a test is running is left alone.
package gobuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/smp/delivery/internal/filelock"
	"github.com/smp/delivery/internal/hardlink"
	"github.com/smp/delivery/internal/testkit/checkout"
)

// Build runs `go build args... -o <cache entry>` in dir with env added to
// the process's environment, then links the result to out (replacing it).
// args are go build's flags and package, without -o. ctx bounds the build
// and the wait for another process building the same entry: tests pass
// their own deadline (testctx), never a fixed timeout.
func Build(ctx context.Context, dir, out string, args, env []string) error {
	entry, err := entryDir(dir, args, env)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
		return fmt.Errorf("go build cache: %w", err)
	}
	unlock, err := filelock.Lock(ctx, entry+".lock")
	if err != nil {
		return fmt.Errorf("go build cache: %w", err)
	}
	defer unlock()
	target := filepath.Join(entry, filepath.Base(out))
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", target}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(args, " "), dir, err, b)
	}
	return hardlink.OrCopy(target, out)
}

// entryDir names the cache directory of one build. The package directory
// counts relative to the checkout, so fresh clones of the repository share
// entries (make test builds with -trimpath, so their binaries are the same).
func entryDir(dir string, args, env []string) (string, error) {
	cache, err := Dir()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("go build cache: %w", err)
	}
	where := abs
	if root, err := checkout.Root(); err == nil {
		if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
			where = "checkout:" + filepath.ToSlash(rel)
		}
	}
	// GOFLAGS and GOWORK count as the build sees them (env over the
	// process's), so the demo's and internal/workflow's smpctl (which asks
	// for GOWORK= under its own GOWORK=off) are one entry.
	var given []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOFLAGS=") && !strings.HasPrefix(kv, "GOWORK=") {
			given = append(given, kv)
		}
	}
	seen := []string{"GOFLAGS=" + lookup("GOFLAGS", env), "GOWORK=" + lookup("GOWORK", env)}
	h := sha256.New()
	for _, part := range [][]string{{where}, args, given, seen} {
		_, _ = fmt.Fprintf(h, "%q\n", part)
	}
	return filepath.Join(cache, hex.EncodeToString(h.Sum(nil))[:24]), nil
}

// Dir is the cache: $SMP_TESTBUILD_DIR (gobuild's own tests use an empty
// one), else smp-delivery/testbuild in the user's cache directory.
func Dir() (string, error) {
	if d := os.Getenv("SMP_TESTBUILD_DIR"); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("go build cache: %w", err)
	}
	return filepath.Join(cache, "smp-delivery", "testbuild"), nil
}

// lookup is name's value in the environment of a process started with env
// added to this one's: the last assignment wins, as in exec.Cmd.
func lookup(name string, env []string) string {
	v := os.Getenv(name)
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}
