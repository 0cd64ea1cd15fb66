package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/smp/delivery/internal/local/cluster"

	"github.com/smp/delivery/internal/fault"
)

// Up starts the daemon for dir in the background — exe re-executed with
// args (`local daemon --dir DIR`) in its own session, its output in
// <dir>/daemon.log — and returns its state once the control API answers.
// When a daemon already runs for dir, Up returns its state.
func Up(ctx context.Context, dir, exe string, args []string, env []string) (State, bool, error) {
	if st, err := ReadState(dir); err == nil {
		return st, false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return State{}, false, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return State{}, false, err
	}
	defer logf.Close()
	// Not cancelled with ctx: the daemon is meant to outlive this call.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), exe, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the daemon outlives this command and the terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return State{}, false, fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		if st, err := ReadState(dir); err == nil && st.PID == cmd.Process.Pid {
			if c, err := newClient(dir, st); err == nil && c.get(ctx, "/healthz", nil) == nil {
				return st, true, nil
			}
		}
		select {
		case err := <-exited:
			return State{}, false, fmt.Errorf("the daemon exited at start (%w); see %s", err, filepath.Join(dir, "daemon.log"))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return State{}, false, fmt.Errorf("the daemon did not come up: %w; see %s", ctx.Err(), filepath.Join(dir, "daemon.log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Down asks the daemon for dir to stop and waits until its process is gone.
// With purge it then drops the environments' databases and removes dir.
func Down(ctx context.Context, dir string, purge bool) (st State, err error) {
	st, err = ReadState(dir)
	if err != nil {
		return st, err
	}
	if purge {
		defer func() {
			if err == nil {
				err = Purge(ctx, st)
			}
		}()
	}
	c, cerr := newClient(dir, st)
	if cerr != nil || c.post(ctx, "/shutdown", nil) != nil {
		_ = syscall.Kill(st.PID, syscall.SIGTERM)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if gone := syscall.Kill(st.PID, 0); gone != nil {
			_ = os.Remove(statePath(dir))
			return st, nil //nolint:nilerr // the process is gone: that is success
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(st.PID, syscall.SIGKILL)
	return st, fmt.Errorf("the daemon (pid %d) did not stop within 60s; killed it", st.PID)
}

// Client talks to a running daemon's control API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Connect returns a client for the daemon running for dir.
func Connect(dir string) (*Client, State, error) {
	st, err := ReadState(dir)
	if err != nil {
		return nil, st, err
	}
	c, err := newClient(dir, st)
	return c, st, err
}

// newClient reads the daemon's control token (tokenPath): only the user
// who started the daemon can.
func newClient(dir string, st State) (*Client, error) {
	b, err := os.ReadFile(tokenPath(dir))
	if err != nil {
		return nil, fault.Refusedf("read the local environment's control token: %w (only the user who ran smpctl local up can drive it)", err)
	}
	return &Client{base: st.Control, token: strings.TrimSpace(string(b))}, nil
}

// Error is an error the daemon answered with.
type Error struct {
	Msg string
	// Input is true for bad input (unknown environment or service).
	Input bool
	// Conflict is true when the runtime refused because of the state it
	// is in (nothing to promote or abort).
	Conflict bool
}

func (e *Error) Error() string { return e.Msg }

// Unwrap gives the daemon's answer its kind: bad input or a refusal.
func (e *Error) Unwrap() error {
	if e.Input {
		return fault.ErrInvalid
	}
	return fault.ErrRefused
}

func (c *Client) do(ctx context.Context, method, path string, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(nil))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("local environment control API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var ae apiError
		if json.Unmarshal(b, &ae) == nil && ae.Error != "" {
			return &Error{Msg: ae.Error, Input: ae.Kind == "input", Conflict: resp.StatusCode == http.StatusConflict}
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, 10*time.Second, out)
}

func (c *Client) post(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodPost, path, 10*time.Second, out)
}

// Status returns the daemon's state and what runs.
func (c *Client) Status(ctx context.Context) (StatusReport, error) {
	var r StatusReport
	return r, c.get(ctx, "/status", &r)
}

// ErrSyncFailed is returned by Sync when a service did not sync.
var ErrSyncFailed = fault.Refusedf("sync failed")

// Sync syncs env to the head of the GitOps repository and waits.
func (c *Client) Sync(ctx context.Context, env string) (cluster.EnvStatus, error) {
	var r SyncResult
	if err := c.do(ctx, http.MethodPost, "/sync/"+env, 6*time.Minute, &r); err != nil {
		return r.Env, err
	}
	if r.Error != "" {
		return r.Env, fmt.Errorf("%w: %s", ErrSyncFailed, r.Error)
	}
	return r.Env, nil
}

// Rollout promotes or aborts the blue/green rollout of svc in env.
func (c *Client) Rollout(ctx context.Context, env, svc, action string) error {
	return c.post(ctx, "/rollout/"+env+"/"+svc+"/"+action, nil)
}

// Refresh asks the runtime to read git now.
func (c *Client) Refresh(ctx context.Context) error { return c.post(ctx, "/refresh", nil) }

// Purge drops the databases of a stopped local environment
// (<prefix>*, on its MariaDB) and removes its folder.
func Purge(ctx context.Context, st State) error {
	if st.MySQL != "" && st.DBPrefix != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := (cluster.Database{Addr: st.MySQL, Prefix: st.DBPrefix}).DropAll(ctx); err != nil {
			return fmt.Errorf("purge databases %s*: %w", st.DBPrefix, err)
		}
	}
	return os.RemoveAll(st.Dir)
}
