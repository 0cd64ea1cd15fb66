package gitcmd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRunReturnsOutputAndGitsReasonOnFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	g := Runner{Dir: dir}
	if _, err := g.Run(ctx, "init", "--quiet", "--initial-branch=main"); err != nil {
		t.Fatal(err)
	}
	out, err := g.Output(ctx, "rev-parse", "--is-inside-work-tree")
	if err != nil || out != "true" {
		t.Fatalf("rev-parse = %q, %v", out, err)
	}
	_, err = g.Run(ctx, "rev-parse", "--verify", "no-such-ref")
	var ge *Error
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "git rev-parse --verify no-such-ref") || !strings.Contains(err.Error(), "fatal:") {
		t.Errorf("error = %v, want the arguments and git's message", err)
	}
	in, err := g.RunInput(ctx, []byte("hello\n"), "hash-object", "--stdin")
	if err != nil || strings.TrimSpace(string(in)) != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Errorf("hash-object = %q, %v", in, err)
	}
}

func TestRunStopsAtItsTimeout(t *testing.T) {
	t.Parallel()
	// A credential helper that sleeps stands in for a remote that hangs.
	g := Runner{Dir: t.TempDir(), Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := g.Run(context.Background(), "-c", "alias.slow=!sleep 30", "slow")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Errorf("error = %v, want a timeout", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Error("the timeout did not stop git")
	}
}

func TestRunPassesConfigGlobalOptionsAndExitCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	// Global -C: the runner's own directory is elsewhere.
	g := Runner{Global: []string{"-C", dir}, Config: map[string]string{"user.name": "Config Name", "core.abbrev": "12"}}
	if _, err := g.Run(ctx, "init", "--quiet"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"user.name": "Config Name", "core.abbrev": "12"} {
		if got, err := g.Output(ctx, "config", key); err != nil || got != want {
			t.Errorf("config %s = %q, %v; want %q", key, got, err, want)
		}
	}
	// `git config` of an unset key exits 1 and says nothing.
	_, err := g.Run(ctx, "config", "no.such")
	if ExitCode(err) != 1 || strings.Contains(err.Error(), "-C") {
		t.Errorf("ExitCode = %d (%v), want 1 without the global options", ExitCode(err), err)
	}
	if ExitCode(errors.New("not git")) != -1 {
		t.Error("ExitCode of a non-git error is not -1")
	}
	// The runner's environment, and Env after it, which wins.
	lc := []string{"-c", "alias.lc=!echo $LC_ALL/$GIT_TERMINAL_PROMPT", "lc"}
	if got, err := (Runner{Dir: dir}).Output(ctx, lc...); err != nil || got != "C/0" {
		t.Errorf("environment = %q, %v; want C/0", got, err)
	}
	if got, err := (Runner{Dir: dir, Env: []string{"LC_ALL=POSIX"}}).Output(ctx, lc...); err != nil || got != "POSIX/0" {
		t.Errorf("environment with Env = %q, %v; want POSIX/0", got, err)
	}
}

func TestRunKeepsWhatGitPrintedOnStdoutWhenItFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	g := Runner{Dir: dir, Env: []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x"}}
	if _, err := g.Run(ctx, "init", "--quiet"); err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(ctx, "commit", "-m", "empty")
	var ge *Error
	if !errors.As(err, &ge) || ge.ExitCode != 1 || !strings.Contains(ge.Stdout, "nothing to commit") || !strings.Contains(string(out), "nothing to commit") {
		t.Errorf("commit of nothing: out %q, err %#v", out, err)
	}
}

func TestNegativeTimeoutLeavesTheBoundToTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Runner{Dir: t.TempDir(), Timeout: -1}.Run(ctx, "-c", "alias.slow=!sleep 30", "slow")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stopped") || ExitCode(err) != -1 {
		t.Errorf("error = %v, want the context's deadline", err)
	}
}

func TestConfigKeepsWhatTheEnvironmentAlreadyPasses(t *testing.T) {
	// Not parallel: it sets the process environment.
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "user.email")
	t.Setenv("GIT_CONFIG_VALUE_0", "from@environment")
	ctx := context.Background()
	g := Runner{Dir: t.TempDir(), Config: map[string]string{"user.name": "From Config"}}
	if _, err := g.Run(ctx, "init", "--quiet"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"user.email": "from@environment", "user.name": "From Config"} {
		if got, err := g.Output(ctx, "config", key); err != nil || got != want {
			t.Errorf("config %s = %q, %v; want %q", key, got, err, want)
		}
	}
}
