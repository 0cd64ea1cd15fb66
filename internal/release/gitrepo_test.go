package release

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain isolates every git call (ours and the code's) from the
// developer's configuration and gives tags a committer identity.
func TestMain(m *testing.M) {
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Fprintln(os.Stderr, "release tests need git on PATH (Debian: apt-get install git)")
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   os.DevNull,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_COMMITTER_NAME":  "Release Bot",
		"GIT_COMMITTER_EMAIL": "bot@smp.vn",
		"GIT_AUTHOR_NAME":     "Release Bot",
		"GIT_AUTHOR_EMAIL":    "bot@smp.vn",
	} {
		os.Setenv(k, v)
	}
	os.Exit(m.Run())
}

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

func (r *gitRepo) env() []string {
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(r.tick.Add(1)) * time.Minute).Format(time.RFC3339)
	return append(os.Environ(), "GIT_AUTHOR_DATE="+at, "GIT_COMMITTER_DATE="+at)
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	return r.gitEnv(nil, args...)
}

func (r *gitRepo) gitEnv(extra []string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = append(r.env(), extra...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
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

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
