// Package gitcmd is the one way the project runs the git command line: a
// timeout on every call, a controlled environment, the whole process group
// killed when the timeout fires, and errors that carry git's own reason.
//
// The GitOps writer, the history readers, the scaffold and the release
// commands shell out to git rather than use a library: one `git log` pass
// streams thousands of commits with their trailers faster than any
// in-process walk, `git cat-file --batch` reads hundreds of blobs through
// one process, only the CLI honours the credentials actions/checkout leaves
// in a clone's config, and the git CLI is what every operator debugs with.
package gitcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds a local git call; remote calls pass their own.
const DefaultTimeout = 30 * time.Second

// waitDelay is how long output is still read after git exits or is killed:
// a helper that escaped the process group must not hold the call open.
const waitDelay = 2 * time.Second

// Runner runs git in one directory. The zero value runs git in the current
// directory under DefaultTimeout.
type Runner struct {
	// Dir is the working directory (a work tree or a bare repository).
	Dir string
	// Timeout bounds each call; zero means DefaultTimeout, a negative
	// value means the caller's context alone bounds it.
	Timeout time.Duration
	// Global options go before every command's arguments (for example
	// "-C", dir); they are not repeated in errors.
	Global []string
	// Config is command-scoped configuration (key → value), passed as
	// GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n so values such as an
	// Authorization header never show in ps or in errors.
	Config map[string]string
	// Env is added to the process environment (KEY=VALUE) after the
	// runner's own, so it wins. Secrets go here or in Config, never on
	// the command line.
	Env []string
}

// Error is a failed git call: the arguments (without secrets, which never
// travel as arguments), git's exit code and what git printed.
type Error struct {
	Args []string
	// ExitCode is git's exit status, or -1 when git did not run to its end
	// (not found, killed at the timeout).
	ExitCode int
	Stdout   string
	Stderr   string
	Err      error
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

// ExitCode returns the exit code of the failed git call in err's chain, or
// -1 when git did not run to its end or err is not a git failure.
func ExitCode(err error) int {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.ExitCode
	}
	return -1
}

// Command builds an *exec.Cmd under a context bounded by the runner's
// timeout; the caller owns its streams and must call the returned cancel.
func (r Runner) Command(ctx context.Context, args ...string) (*exec.Cmd, context.CancelFunc) {
	cmd, _, cancel := r.command(ctx, args...)
	return cmd, cancel
}

func (r Runner) command(ctx context.Context, args ...string) (*exec.Cmd, context.Context, context.CancelFunc) {
	cancel := context.CancelFunc(func() {})
	if t := r.timeout(); t > 0 {
		ctx, cancel = context.WithTimeout(ctx, t)
	}
	cmd := exec.CommandContext(ctx, "git", append(append([]string(nil), r.Global...), args...)...)
	cmd.Dir = r.Dir
	killGroup(cmd)
	cmd.WaitDelay = waitDelay
	// C locale: stable messages to match and show; no prompt: a missing
	// credential fails instead of hanging a CI job; no optional locks:
	// readers never block a concurrent writer.
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	if len(r.Config) > 0 {
		keys := make([]string, 0, len(r.Config))
		for k := range r.Config {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// After any the caller's environment already passes this way
		// (the last GIT_CONFIG_COUNT wins, so keep its entries counted).
		base := 0
		for _, kv := range cmd.Env {
			if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
				base, _ = strconv.Atoi(v)
			}
		}
		cmd.Env = append(cmd.Env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", base+len(keys)))
		for i, k := range keys {
			cmd.Env = append(cmd.Env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", base+i, k), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", base+i, r.Config[k]))
		}
	}
	cmd.Env = append(cmd.Env, r.Env...)
	return cmd, ctx, cancel
}

// Run runs git and returns its standard output.
func (r Runner) Run(ctx context.Context, args ...string) ([]byte, error) {
	return r.RunInput(ctx, nil, args...)
}

// RunInput runs git with stdin and returns its standard output, also when
// git fails (some commands explain themselves there).
func (r Runner) RunInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd, cctx, cancel := r.command(ctx, args...)
	defer cancel()
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err == nil {
		return out.Bytes(), nil
	}
	ge := &Error{Args: args, ExitCode: -1, Stdout: out.String(), Stderr: errb.String(), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		ge.ExitCode = ee.ExitCode()
	}
	// A git killed at the deadline says only "signal: killed": say why,
	// in a form errors.Is recognises.
	switch {
	case ge.ExitCode >= 0:
	case ctx.Err() != nil:
		ge.Err = fmt.Errorf("stopped: %w", ctx.Err())
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		ge.Err = fmt.Errorf("timed out after %s: %w", r.timeout(), context.DeadlineExceeded)
	}
	return out.Bytes(), ge
}

func (r Runner) timeout() time.Duration {
	if r.Timeout == 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

// Output runs git and returns its standard output without the trailing newline.
func (r Runner) Output(ctx context.Context, args ...string) (string, error) {
	b, err := r.Run(ctx, args...)
	return strings.TrimRight(string(b), "\n"), err
}
