package workflow

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/smp/delivery/internal/cli"
)

// The test binary doubles as smpctl: workflow scripts run by these tests
// call `smpctl plan` and get the real command, in this process's code.
func TestMain(m *testing.M) {
	if os.Getenv("WORKFLOW_TEST_AS_SMPCTL") == "1" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// repoRoot is the root of this repository (two levels above this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// realSmpctl puts an `smpctl` on a fresh PATH directory that runs this
// test binary as the real CLI, and returns the directory.
func realSmpctl(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := "#!/usr/bin/env bash\nWORKFLOW_TEST_AS_SMPCTL=1 exec " + shellQuote(self) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "smpctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func shellQuote(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
			continue
		}
		out += string(r)
	}
	return out + "'"
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
