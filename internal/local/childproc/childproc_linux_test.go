//go:build linux

package childproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/proctest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// TestMain doubles as the parent process of TestChildDiesWithItsParent:
// with CHILDPROC_TEST_PARENT=1 it starts a sleep, prints its pid and waits
// to be killed.
func TestMain(m *testing.M) {
	if os.Getenv("CHILDPROC_TEST_PARENT") == "1" {
		child := exec.Command("sleep", "300")
		if err := Start(child); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		fmt.Println(child.Process.Pid)
		select {}
	}
	os.Exit(m.Run())
}

func TestChildDiesWithItsParent(t *testing.T) {
	t.Parallel()
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "CHILDPROC_TEST_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		_ = parent.Process.Kill()
		t.Fatalf("parent said %q (%v, %v)", line, err, perr)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !proctest.Alive(pid) {
		t.Fatalf("child %d is not running before its parent is killed", pid)
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	testctx.Eventually(t, 20*time.Millisecond, "the child dies with its SIGKILLed parent", func() error {
		if proctest.Alive(pid) {
			return fmt.Errorf("child %d still runs after its parent was SIGKILLed", pid)
		}
		return nil
	})
}

// TestChildOutlivesTheGoroutineThatStartedIt: the death signal follows the
// thread that forked, and Go ends the thread of a goroutine that returns
// while locked to it. A child started from such a goroutine must live on.
func TestChildOutlivesTheGoroutineThatStartedIt(t *testing.T) {
	t.Parallel()
	child := exec.Command("sleep", "300")
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		// Returns still locked: the runtime ends this thread.
		started <- Start(child)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	// The thread ends right after the goroutine returns and the kernel
	// signals at once; two seconds is a window to observe, not a speed.
	select {
	case err := <-exited:
		t.Fatalf("the child died with the thread of the goroutine that started it: %v", err)
	case <-time.After(2 * time.Second):
	}
}
