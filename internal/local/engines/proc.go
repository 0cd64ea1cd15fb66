package engines

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smp/delivery/internal/local/childproc"
)

// Process is one process of a cluster.
type Process struct {
	Name string // the component: etcd, kube-apiserver, kwok, rollouts-controller, ...
	PID  int
	Log  string // its stdout and stderr
	// InSandbox says it runs in the cluster's own network namespace.
	InSandbox bool

	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been reaped
	err  error         // cmd.Wait's, once done is closed
}

// RSS returns the process's resident set size in bytes (VmRSS in
// /proc/PID/status).
func (p *Process) RSS() (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(p.PID), "status"))
	if err != nil {
		return 0, fmt.Errorf("read %s's RSS: %w", p.Name, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read %s's RSS: %q: %w", p.Name, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("read %s's RSS: no VmRSS in /proc/%d/status", p.Name, p.PID)
}

// exited returns a non-nil error, with the end of its log, once the
// process has ended.
func (p *Process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) exited: %w; the end of its log (%s):\n%s", p.Name, p.PID, p.err, p.Log, tail(p.Log, 30))
	default:
		return nil
	}
}

// stop kills the process by its PID and reaps it. A cluster is thrown
// away whole, with its data, so there is nothing for a graceful stop to
// save.
func (p *Process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// startProcess starts bin with args (in sb when it is not nil), its output
// in dir/logs/name.log. It is killed when life ends, if not before.
func startProcess(life context.Context, dir string, sb *sandbox, name string, env []string, bin string, args ...string) (*Process, error) {
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Log: filepath.Join(logs, name+".log"), InSandbox: sb != nil, done: make(chan struct{})}
	f, err := os.Create(p.Log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close() // the child has its own copy
	p.cmd = exec.CommandContext(life, bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f // files: no copying goroutines, and Start can run on a sandbox thread
	if sb != nil {
		err = sb.start(p.cmd)
	} else {
		// Killed by the kernel if this process dies without stopping the
		// cluster (a test's timeout panic, a SIGKILL): no cluster outlives
		// its owner.
		err = childproc.Start(p.cmd)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.PID = p.cmd.Process.Pid
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// CPU returns the user and system CPU time the process used, once it has
// exited (after Cluster.Stop); before that, ok is false.
func (p *Process) CPU() (cpu time.Duration, ok bool) {
	select {
	case <-p.done:
	default:
		return 0, false
	}
	if p.cmd.ProcessState == nil {
		return 0, false
	}
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime(), true
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return tail(p.Log, n) }

// tail returns the last n lines of file.
func tail(file string, n int) string {
	b, err := os.ReadFile(file) // #nosec G304 G703 -- a log file this package created under the cluster's directory
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
