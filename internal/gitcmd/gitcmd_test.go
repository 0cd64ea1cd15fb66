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
