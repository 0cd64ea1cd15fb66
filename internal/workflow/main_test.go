package workflow

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/smp/delivery/internal/testkit/gobuild"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// smpctlBin is built once per test binary from this checkout.
var (
	smpctlOnce sync.Once
	smpctlDir  string
	smpctlErr  error
)

// binaryDirs are directories shared by the tests of this binary (see
// binaryDir), removed when they are done.
var (
	binaryDirsMu sync.Mutex
	binaryDirs   = map[string]string{}
)

// binaryDir returns a directory named name that every test of this binary
// shares, made on first use.
func binaryDir(t testing.TB, name string) string {
	t.Helper()
	binaryDirsMu.Lock()
	defer binaryDirsMu.Unlock()
	if d, ok := binaryDirs[name]; ok {
		return d
	}
	d, err := os.MkdirTemp("", "workflow-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	binaryDirs[name] = d
	return d
}

// TestMain runs the tests. The ones that run jobs (the CI jobs, the CD
// releases, the release from source, the OpenAPI and security fixtures,
// the plan contract) are t.Parallel: each has its own directories,
// remotes, registry and database, and go test runs them -test.parallel
// (GOMAXPROCS) at a time. Run one at a time, they took ~250 s of this
// package's 327 s in a row, and it ended make test; two at a time it took
// 300 s (make test, 2026-12-07). The run, bound by CPU on 2 cores, ended
// at the same 331 s, with another suite last.
func TestMain(m *testing.M) {
	code := m.Run()
	if smpctlDir != "" {
		_ = os.RemoveAll(smpctlDir)
	}
	for _, d := range binaryDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// repoRoot is the root of this repository, two levels above this package's
// directory, where go test runs its tests. (Not from runtime.Caller: make
// test builds with -trimpath, which leaves import paths in its place.)
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// realSmpctl builds this checkout's smpctl (in the root module's own
// workspace: this module runs with GOWORK=off because of its yaml/v4 pin,
// and cannot link the whole CLI) and returns the directory holding it, for
// workflow scripts that call `smpctl plan`.
func realSmpctl(t testing.TB) string {
	t.Helper()
	smpctlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "workflow-smpctl-")
		if err != nil {
			smpctlErr = err
			return
		}
		smpctlDir = dir
		ctx := testctx.New(t)
		// Plain flags, as go vet, golangci-lint and the demo test build: the
		// dependencies compile once for all of them on a fresh machine.
		// Linked once for these tests and internal/demo's, across runs
		// (gobuild); GOWORK=: the root's go.work, not this module's GOWORK=off.
		smpctlErr = gobuild.Build(ctx, repoRoot(t), filepath.Join(dir, "smpctl"), []string{"./cmd/smpctl"}, []string{"GOWORK="})
	})
	if smpctlErr != nil {
		t.Fatal(smpctlErr)
	}
	return smpctlDir
}

func mustLoad(t testing.TB, rel string) *File {
	t.Helper()
	f, err := Load(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
