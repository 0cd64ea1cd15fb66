package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// runner runs the commands of the story — smpctl itself and git — in the
// workspace, and keeps every command with its output in demo.log.
type runner struct {
	exe string   // smpctl
	env []string // environment of every command
	ws  string   // workspace
	mu  sync.Mutex
	log io.Writer
	// last is the output of the last command that failed, for the timeline.
	last string
}

func (r *runner) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, format, args...)
}

// run runs name args in dir with a timeout and returns standard output.
func (r *runner) run(ctx context.Context, timeout time.Duration, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	shown := name
	if name == r.exe {
		shown = "smpctl"
	}
	r.logf("$ (cd %s && %s %s)  # %s, %v\n%s%s\n", dir, shown, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), errOr(err), stdout.String(), stderr.String())
	if err != nil {
		r.last = strings.TrimSpace(stderr.String() + "\n" + tail(stdout.String(), 600))
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", shown, strings.Join(args, " "), err, tail(strings.TrimSpace(stderr.String()), 800))
	}
	return stdout.String(), nil
}

func errOr(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// smpctl runs smpctl in the workspace.
func (r *runner) smpctl(ctx context.Context, args ...string) (string, error) {
	return r.run(ctx, 10*time.Minute, r.ws, r.exe, args...)
}

// smpctlJSON runs smpctl with -o json and decodes its output into v.
func (r *runner) smpctlJSON(ctx context.Context, v any, args ...string) error {
	return runJSON(ctx, r.smpctl, v, args...)
}

// runJSON runs a smpctl command with -o json through run (the local
// demo's runner or the cluster story's) and decodes its output into v.
func runJSON(ctx context.Context, run func(context.Context, ...string) (string, error), v any, args ...string) error {
	out, err := run(ctx, append(args, "-o", "json")...)
	if err != nil {
		return err
	}
	if jerr := json.Unmarshal([]byte(lastJSON(out)), v); jerr != nil {
		return fmt.Errorf("smpctl %s: output is not JSON: %w", args[0], jerr)
	}
	return nil
}

// lastJSON returns the JSON document in out (commands may print progress
// lines before it on standard output).
func lastJSON(out string) string {
	if i := strings.Index(out, "{"); i >= 0 {
		return out[i:]
	}
	return out
}

// exitCode is the exit code of a failed command, or 0.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

func (r *runner) git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := r.run(ctx, time.Minute, dir, "git", args...)
	return strings.TrimSpace(out), err
}

// copyTree copies the service's source (without .git, bin and caches) into
// dst, as a fresh clone of the service repository would look.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == ".cache") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		// The source is this repository's examples folder, copied into a
		// workspace the demo just created: no one else writes either.
		b, err := os.ReadFile(p) //nolint:gosec // see above
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm()) //nolint:gosec // see above
	})
}
