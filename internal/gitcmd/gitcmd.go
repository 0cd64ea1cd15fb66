// Package gitcmd runs the git command line with a timeout on every call.
//
// The GitOps readers and the scaffold shell out to git rather than use a
// library: one `git log` pass streams thousands of commits with their
// trailers faster than any in-process walk, `git cat-file --batch` reads
// hundreds of blobs through one process, and the git CLI is what every
// operator debugs with. Errors carry git's own message (first lines of
// standard error) so a user sees why a command failed.
package gitcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// DefaultTimeout bounds a local git call; remote calls pass their own.
const DefaultTimeout = 30 * time.Second

// Runner runs git in one directory.
type Runner struct {
	// Dir is the working directory (a work tree or a bare repository).
	Dir string
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
	// Env is added to the process environment (KEY=VALUE). Secrets go here,
	// never on the command line, so they never show in ps or in errors.
	Env []string
}

// Error is a failed git call: the arguments (without secrets, which never
// travel as arguments) and what git printed.
type Error struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 600 {
		msg = msg[:600] + "…"
	}
	if msg == "" {
		return fmt.Sprintf("git %s: %v", strings.Join(e.Args, " "), e.Err)
	}
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Command builds an *exec.Cmd under a context bounded by the runner's
// timeout; the caller owns its streams and must call the returned cancel.
func (r Runner) Command(ctx context.Context, args ...string) (*exec.Cmd, context.CancelFunc) {
	cmd, _, cancel := r.command(ctx, args...)
	return cmd, cancel
}

func (r Runner) command(ctx context.Context, args ...string) (*exec.Cmd, context.Context, context.CancelFunc) {
	t := r.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.Dir
	killGroup(cmd)
	// Whatever still holds git's output after the kill is cut off.
	cmd.WaitDelay = 2 * time.Second
	// C locale: stable messages; no prompt: a missing credential fails
	// instead of hanging a CI job; no optional locks: readers never block
	// a concurrent writer.
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	cmd.Env = append(cmd.Env, r.Env...)
	return cmd, ctx, cancel
}

// Run runs git and returns its standard output.
func (r Runner) Run(ctx context.Context, args ...string) ([]byte, error) {
	return r.RunInput(ctx, nil, args...)
}

// RunInput runs git with stdin and returns its standard output.
func (r Runner) RunInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd, cctx, cancel := r.command(ctx, args...)
	defer cancel()
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", r.timeout(), context.DeadlineExceeded)
		}
		return out.Bytes(), &Error{Args: args, Stderr: errb.String(), Err: err}
	}
	return out.Bytes(), nil
}

func (r Runner) timeout() time.Duration {
	if r.Timeout <= 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

// Output runs git and returns its standard output without the trailing newline.
func (r Runner) Output(ctx context.Context, args ...string) (string, error) {
	b, err := r.Run(ctx, args...)
	return strings.TrimRight(string(b), "\n"), err
}
