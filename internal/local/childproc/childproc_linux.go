//go:build linux

package childproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The kernel sends the parent-death signal when the *thread* that forked
// the child exits, not the process. Go ends a thread whenever a goroutine
// that locked it returns without unlocking — any goroutine, in any library,
// that once ran on the thread that started Prometheus. So every child is
// forked by one goroutine that locks its thread and never returns.
var (
	startOnce sync.Once
	starts    chan start
)

type start struct {
	cmd  *exec.Cmd
	done chan error
}

func forker() {
	runtime.LockOSThread()
	// Never unlocked, never returns: the thread lives as long as the process.
	for s := range starts {
		s.done <- s.cmd.Start()
	}
}

// Start starts cmd so that the kernel kills it (SIGKILL) when this process
// dies, however it dies. cmd's other SysProcAttr settings are kept.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	startOnce.Do(func() {
		starts = make(chan start)
		go forker()
	})
	done := make(chan error, 1)
	starts <- start{cmd: cmd, done: done}
	return <-done
}
