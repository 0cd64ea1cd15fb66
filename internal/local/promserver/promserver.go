// Package promserver runs a real Prometheus server (Debian's prometheus
// package) on 127.0.0.1 for the local environments and the gate's tests. It
// scrapes the targets written to a file_sd file, which Prometheus watches,
// so targets appear and disappear as the runtime starts and stops replicas.
package promserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/smp/delivery/internal/local/childproc"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/local/freeport"
)

// Options of a server.
type Options struct {
	// Dir holds the config, the targets file, the data and the log.
	Dir string
	// Binary is the prometheus executable; default "prometheus" on PATH.
	Binary string
	// ScrapeInterval; default 1s (local environments are small).
	ScrapeInterval time.Duration
	// Port to listen on; default a free one.
	Port int
	// StartTimeout bounds the wait for /-/ready; default 90s.
	StartTimeout time.Duration
}

// Server is a running Prometheus.
type Server struct {
	URL         string
	TargetsFile string
	cmd         *exec.Cmd
	done        chan struct{}
}

// ErrNotInstalled means the prometheus binary is not on PATH.
var ErrNotInstalled = fault.Refusedf("prometheus is not installed: run scripts/tools.sh prometheus (Debian package prometheus)")

const config = `global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: smp
    scrape_timeout: %[1]s
    file_sd_configs:
      - files: [%[2]q]
        refresh_interval: 1s
`

// Start writes the config and starts Prometheus, and returns once it is
// ready to answer queries.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Binary == "" {
		o.Binary = "prometheus"
	}
	bin, err := exec.LookPath(o.Binary)
	if err != nil {
		return nil, ErrNotInstalled
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = time.Second
	}
	if o.StartTimeout == 0 {
		// Generous: on a loaded machine a cold Prometheus (WAL replay,
		// several started at once) takes well over its usual second.
		o.StartTimeout = 90 * time.Second
	}
	if o.Port == 0 {
		// Prometheus binds it after it starts: a port from below the
		// ephemeral range, which no outgoing connection takes meanwhile.
		port, err := freeport.Pick()
		if err != nil {
			return nil, err
		}
		o.Port = port
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "data"), 0o755); err != nil {
		return nil, err
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(o.Port), TargetsFile: filepath.Join(o.Dir, "targets.json"), done: make(chan struct{})}
	if err := s.SetTargets([]any{}); err != nil {
		return nil, err
	}
	cfg := filepath.Join(o.Dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(config, model(o.ScrapeInterval), s.TargetsFile)), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(o.Dir, "prometheus.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// Not cancelled with ctx: the server runs until Stop.
	s.cmd = exec.CommandContext(context.WithoutCancel(ctx), bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(o.Dir, "data"),
		"--storage.tsdb.retention.time=2d",
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(o.Port),
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C at the daemon's terminal does not
	// reach it, the daemon stops it. Started by childproc: it dies with a
	// daemon that is killed without a chance to stop it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := childproc.Start(s.cmd); err != nil {
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("prometheus exited at start; see %s", filepath.Join(o.Dir, "prometheus.log"))
		case <-ctx.Done():
			_ = s.Stop()
			return nil, fmt.Errorf("prometheus not ready after %s; see %s", o.StartTimeout, filepath.Join(o.Dir, "prometheus.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func model(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// SetTargets replaces the scrape targets: groups in file_sd JSON form,
// [{"targets": ["host:port"], "labels": {...}}]. The file is replaced
// atomically so Prometheus never reads half of it.
func (s *Server) SetTargets(groups any) error {
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.TargetsFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.TargetsFile)
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop stops the server (SIGTERM, then SIGKILL after 10s).
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

// WaitTargets waits until Prometheus scrapes exactly the targets whose
// labels match want (every label given must be equal) and they are up:
// Prometheus applies new target sets every 5 s, so callers that need the
// first samples of a new target wait here.
func (s *Server) WaitTargets(ctx context.Context, n int, want map[string]string) error {
	// Two minutes at most, the caller's context permitting: new targets
	// are applied every 5 s, and scrapes slow down on a loaded machine.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last := 0
	for {
		got, err := s.activeUp(ctx, want)
		if err == nil && got == n {
			return nil
		}
		last = got
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus scrapes %d healthy targets matching %v, want %d: %w", last, want, n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) activeUp(ctx context.Context, want map[string]string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/targets?state=active", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ActiveTargets []struct {
				Labels map[string]string `json:"labels"`
				Health string            `json:"health"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	n := 0
next:
	for _, t := range body.Data.ActiveTargets {
		for k, v := range want {
			if t.Labels[k] != v {
				continue next
			}
		}
		if t.Health == "up" {
			n++
		}
	}
	return n, nil
}
