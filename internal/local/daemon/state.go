// Package daemon runs SMP's delivery platform on one machine, under one
// folder (.smp by default): an OCI registry, a bare git repository as the
// smp-gitops remote, a real Prometheus scraping what runs, and the embedded
// runtime (package runtime) — all owned by one background process, the
// daemon (smpctl re-executed as `smpctl local daemon`). The other commands
// (local status/down, sync, rollout promote/abort) talk to the daemon over
// a control API on 127.0.0.1 whose address is in <dir>/state.json and
// which answers only with the token in <dir>/control.token.
//
// Layout of the folder:
//
//	state.json        pid and addresses of the running daemon
//	ports.json        ports chosen on the first start, reused after
//	gitops.git/       the smp-gitops remote (bare)
//	registry/         registry blobs (manifests live in the daemon's memory)
//	runtime/          extracted binaries, run folders, service logs
//	prometheus/       Prometheus config, targets, data, log
//	control.token     the control API's bearer token, fresh at each start (0600)
//	jwt-secret        the services' HS256 secret (0600)
//	smoke.jwt         a token signed with it, for smpctl smoke --token-file
//	daemon.log        the daemon's log
package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// State is what a running daemon publishes in <dir>/state.json.
type State struct {
	PID        int       `json:"pid"`
	Control    string    `json:"control"`    // http://127.0.0.1:PORT of the control API
	Registry   string    `json:"registry"`   // 127.0.0.1:PORT
	Prometheus string    `json:"prometheus"` // http://127.0.0.1:PORT
	Dashboard  string    `json:"dashboard"`  // http://127.0.0.1:PORT/ of smpctl dashboard on the smp-gitops remote
	GitOps     string    `json:"gitops"`     // path of the bare repository
	Dir        string    `json:"dir"`
	Started    time.Time `json:"started"`
	// MySQL and DBPrefix say where the environments' databases are
	// (<prefix><svc>_<env>), for local down --purge.
	MySQL    string `json:"mysql"`
	DBPrefix string `json:"dbPrefix"`
}

// ErrNotRunning means no daemon runs for the folder.
var ErrNotRunning = fault.Refusedf("no local environment is running here (start one with: smpctl local up)")

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// ReadState returns the state of the daemon running for dir, or
// ErrNotRunning when there is none (a stale state file is ignored).
func ReadState(dir string) (State, error) {
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, ErrNotRunning
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%s: %w (remove it if no daemon runs)", statePath(dir), err)
	}
	if s.PID <= 0 || syscall.Kill(s.PID, 0) != nil {
		return State{}, ErrNotRunning
	}
	return s, nil
}

func writeJSON(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ports are chosen once per folder so URLs stay the same across restarts.
type ports struct {
	Control    int `json:"control"`
	Registry   int `json:"registry"`
	Prometheus int `json:"prometheus"`
	Dashboard  int `json:"dashboard"`
}
