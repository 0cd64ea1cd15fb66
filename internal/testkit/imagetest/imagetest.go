// Package imagetest gives the image tests their real dependencies: an OCI
// registry served in-process (go-containerregistry's pkg/registry, with the
// referrers API) and a git repository holding a tiny service (testdata/
// healthsvc) whose /health returns the version baked into it.
package imagetest

import (
	"context"
	_ "embed"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

//go:embed testdata/healthsvc/main.go
var healthsvc []byte

// Registry starts an in-memory registry with the referrers API on
// 127.0.0.1 and returns its host:port.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// CommitTime is the committer date of the first commit of ServiceRepo.
var CommitTime = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// ServiceRepo writes the health service as its own module in a new git
// repository and commits it with a fixed date; it returns the directory and
// the commit id. Each call with the same marker gives the same commit id.
func ServiceRepo(t testing.TB, marker string) (dir, commit string) {
	t.Helper()
	dir = t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/healthsvc\n\ngo 1.26\n")
	write(t, filepath.Join(dir, "main.go"), string(healthsvc)+"\n// "+marker+"\n")
	Git(t, dir, "init", "-q", "-b", "main")
	Git(t, dir, "add", ".")
	Git(t, dir, "commit", "-q", "-m", "health service "+marker)
	commit = strings.TrimSpace(Git(t, dir, "rev-parse", "HEAD"))
	return dir, commit
}

// Commit makes another commit in dir (a new line in main.go) one day after
// CommitTime and returns its id.
func Commit(t testing.TB, dir, line string) string {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("// " + line + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	Git(t, dir, "commit", "-q", "-am", line)
	return strings.TrimSpace(Git(t, dir, "rev-parse", "HEAD"))
}

// Git runs git in dir as dev <dev@smp.vn> at CommitTime and returns its
// output; it fails the test when git fails.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return gitcmdtest.GitEnv(t, dir, append(gitcmdtest.Env("dev", "dev@smp.vn"), gitcmdtest.Dates(CommitTime)...), args...)
}

// Tool returns the path of a command the tests need, and fails the test
// (never skips it) when scripts/tools.sh has not installed it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH: run scripts/tools.sh %s and put its output directory on PATH (make test does): %v", name, name, err)
	}
	return p
}

// Run runs a command and returns its stdout, failing the test on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
