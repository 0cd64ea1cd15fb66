package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smp/delivery/internal/local/childproc"
	"github.com/smp/delivery/internal/local/freeport"
)

// Replica phases, as status shows them.
const (
	PhaseStarting         = "Starting"
	PhaseReady            = "Ready"
	PhaseCrashLoopBackOff = "CrashLoopBackOff"
	PhaseRestarting       = "Restarting"
	PhaseStopped          = "Stopped"
)

// replica is one process of a revision: a pod. It restarts itself when the
// process exits unasked, with exponential backoff, as the kubelet does.
type replica struct {
	rev  *revision
	idx  int
	addr string // 127.0.0.1:port

	ready    atomic.Bool
	draining atomic.Bool
	inflight atomic.Int64

	mu       sync.Mutex
	phase    string
	restarts int
	lastExit string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current process has exited
	stopping bool
	stopCh   chan struct{} // closed when stop is asked
	stopped  chan struct{} // closed when supervision has ended
}

func (r *replica) serving() bool { return r.ready.Load() && !r.draining.Load() }

func newReplica(rev *revision, idx int) (*replica, error) {
	port, err := freeport.Pick()
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	r := &replica{rev: rev, idx: idx, addr: "127.0.0.1:" + strconv.Itoa(port), phase: PhaseStarting, stopCh: make(chan struct{}), stopped: make(chan struct{})}
	return r, nil
}

// start launches the process and supervises it until stop.
func (r *replica) start() error {
	if err := r.spawn(); err != nil {
		return err
	}
	go r.supervise()
	return nil
}

func (r *replica) spawn() error {
	rt := r.rev.svc.env.rt
	logf, err := rt.logFile(r.rev.svc.env.name, r.rev.svc.name, fmt.Sprintf("%s-%d", r.rev.label(), r.idx))
	if err != nil {
		return err
	}
	defer logf.Close()
	_, port, _ := net.SplitHostPort(r.addr)
	// Not bound to a context: a replica lives until stop, which signals it.
	cmd := exec.CommandContext(context.Background(), r.rev.bin)
	cmd.Env = append(r.rev.environ(), "PORT="+port)
	cmd.Dir = r.rev.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a signal to the runtime's terminal does not hit
	// the services, the runtime stops them in order. Started by childproc:
	// they die with a runtime that is killed before it can stop them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := childproc.Start(cmd); err != nil {
		return fmt.Errorf("start %s: %w", r.rev.bin, err)
	}
	exited := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.lastExit = exitReason(err)
		r.mu.Unlock()
		close(exited)
	}()
	return nil
}

func exitReason(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// supervise waits for readiness, then for the process to exit, and
// restarts it with backoff unless it was asked to stop.
func (r *replica) supervise() {
	defer close(r.stopped)
	rt := r.rev.svc.env.rt
	backoff := rt.cfg.RestartBackoff
	for {
		r.mu.Lock()
		exited := r.exited
		r.mu.Unlock()
		r.waitReady(exited)
		<-exited
		r.ready.Store(false)
		r.mu.Lock()
		if r.stopping {
			r.phase = PhaseStopped
			r.mu.Unlock()
			return
		}
		r.restarts++
		n := r.restarts
		if n >= rt.cfg.CrashLoopRestarts {
			r.phase = PhaseCrashLoopBackOff
		} else {
			r.phase = PhaseRestarting
		}
		last := r.lastExit
		r.mu.Unlock()
		rt.log.Warn("replica exited", "env", r.rev.svc.env.name, "service", r.rev.svc.name, "version", r.rev.spec.Tag, "replica", r.idx, "exit", last, "restarts", n)
		rt.notify()
		select {
		case <-time.After(backoff):
		case <-r.stopReq():
		}
		backoff = min(backoff*2, rt.cfg.MaxRestartBackoff)
		r.mu.Lock()
		if r.stopping {
			r.phase = PhaseStopped
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		if err := r.spawn(); err != nil {
			r.mu.Lock()
			r.lastExit = err.Error()
			r.mu.Unlock()
			// Treat a failed start like an exit: back off and try again.
			r.mu.Lock()
			r.exited = closedChan()
			r.mu.Unlock()
		}
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (r *replica) stopReq() chan struct{} { return r.stopCh }

// waitReady polls /ready until it answers 200 or the process exits.
func (r *replica) waitReady(exited chan struct{}) {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(r.rev.svc.env.rt.cfg.ReadyPoll)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return
		case <-r.stopReq():
			return
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+r.addr+"/ready", nil)
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			r.mu.Lock()
			r.phase = PhaseReady
			r.mu.Unlock()
			r.ready.Store(true)
			r.rev.svc.env.rt.notify()
			return
		}
	}
}

// drainAndStop takes the replica out of traffic, waits for its in-flight
// requests (up to the drain timeout), then stops the process: SIGTERM so
// it shuts down gracefully, SIGKILL after the grace period.
func (r *replica) drainAndStop() {
	rt := r.rev.svc.env.rt
	r.draining.Store(true)
	deadline := time.Now().Add(rt.cfg.DrainTimeout)
	for r.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop()
}

func (r *replica) stop() {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		<-r.stopped
		return
	}
	r.stopping = true
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	close(r.stopReq())
	r.ready.Store(false)
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(r.rev.svc.env.rt.cfg.StopGrace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	<-r.stopped
}

type replicaStatus struct {
	Addr     string `json:"addr"`
	Phase    string `json:"phase"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"lastExit,omitempty"`
}

func (r *replica) status() replicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return replicaStatus{Addr: r.addr, Phase: r.phase, Restarts: r.restarts, LastExit: r.lastExit}
}

func (r *replica) crashLooping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarts >= r.rev.svc.env.rt.cfg.CrashLoopRestarts
}
