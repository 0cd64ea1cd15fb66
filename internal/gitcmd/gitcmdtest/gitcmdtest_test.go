package gitcmdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestGitCommitsAsTheFixtureApartFromTheUsersConfig(t *testing.T) {
	// Not parallel: it sets HOME and the identity variables of the process.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[init]\n\tdefaultBranch = trunk\n[user]\n\tname = Someone Else\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("GIT_AUTHOR_NAME", "From The Shell")
	dir := t.TempDir()
	Git(t, dir, "init", "--quiet")
	Git(t, dir, "commit", "--quiet", "--allow-empty", "-m", "one")
	if got := Git(t, dir, "log", "-1", "--format=%an <%ae>|%cn"); got != Name+" <"+Email+">|"+Name {
		t.Errorf("identity = %q, want the fixture's", got)
	}
	if got := Git(t, dir, "symbolic-ref", "--short", "HEAD"); got == "trunk" {
		t.Error("the user's ~/.gitconfig was read")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	GitEnv(t, dir, append(Env("Other", "other@example.com"), Dates(at)...), "commit", "--quiet", "--allow-empty", "-m", "two")
	if got := Git(t, dir, "log", "-1", "--format=%an|%cI"); got != "Other|2026-01-02T03:04:05+00:00" {
		t.Errorf("GitEnv commit = %q, want Other at %s", got, at)
	}
}

func TestGitFailsTheTestWithGitsMessage(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	done := make(chan struct{})
	// Fatalf ends the goroutine it is called in, as in a real test.
	go func() {
		defer close(done)
		Git(rec, t.TempDir(), "rev-parse", "--verify", "no-such-ref")
	}()
	<-done
	if rec.msg == "" {
		t.Fatal("a failing git did not fail the test")
	}
	if want := "git rev-parse --verify no-such-ref"; !strings.Contains(rec.msg, want) || !strings.Contains(rec.msg, "fatal:") {
		t.Errorf("failure = %q, want %q and git's message", rec.msg, want)
	}
}

type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
