package release

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// TestMain isolates every git call (ours and the code's) from the
// developer's configuration and gives tags a committer identity.
func TestMain(m *testing.M) {
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Fprintln(os.Stderr, "release tests need git on PATH (Debian: apt-get install git)")
		os.Exit(1)
	}
	// The code's own git calls (a tag needs a committer) as Release Bot.
	for _, kv := range releaseBot {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	os.Exit(m.Run())
}

// releaseBot is the identity of every commit and tag, apart from the
// machine's git configuration.
var releaseBot = gitcmdtest.Env("Release Bot", "bot@smp.vn")

// gitRepo is a real repository built by a test with a scripted history.
// Commit dates are fixed and advance one minute per commit, so hashes are
// the same on every run (golden files show some).
type gitRepo struct {
	t    testing.TB
	dir  string
	tick atomic.Int64
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "--quiet", "--initial-branch=main")
	return r
}

// dates advance the commit dates one minute per call.
func (r *gitRepo) dates() []string {
	return gitcmdtest.Dates(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(r.tick.Add(1)) * time.Minute))
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	return r.gitEnv(nil, args...)
}

func (r *gitRepo) gitEnv(extra []string, args ...string) string {
	r.t.Helper()
	return gitcmdtest.GitEnv(r.t, r.dir, slices.Concat(releaseBot, r.dates(), extra), args...)
}

// commit records msg, changing file (default "file.txt"), as author
// ("Name <email>", default Release Bot), and returns the new hash.
func (r *gitRepo) commit(msg string) string { return r.commitIn("file.txt", "", msg) }

func (r *gitRepo) commitAs(author, msg string) string { return r.commitIn("file.txt", author, msg) }

func (r *gitRepo) commitIn(file, author, msg string) string {
	r.t.Helper()
	p := filepath.Join(r.dir, file)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	fmt.Fprintln(f, msg)
	f.Close()
	r.git("add", "--", file)
	var extra []string
	if author != "" {
		name, email, _ := strings.Cut(author, " <")
		extra = []string{"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + strings.TrimSuffix(email, ">")}
	}
	r.gitEnv(extra, "commit", "--quiet", "--cleanup=verbatim", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func (r *gitRepo) tag(name string) { r.t.Helper(); r.git("tag", "-a", "-m", "Release "+name, name) }

func (r *gitRepo) writeFile(name, content string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *gitRepo) opts() Options { return Options{Dir: r.dir} }

func ctx(t testing.TB) context.Context { return testctx.New(t) }
