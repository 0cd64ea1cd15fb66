package proctest

import (
	"errors"
	"github.com/smp/delivery/internal/testkit/testctx"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestAliveSeesARunningProcessAndNotAnExitedOne(t *testing.T) {
	t.Parallel()
	if !Alive(os.Getpid()) {
		t.Fatal("this test's own process is not alive")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Error("a started sleep is not alive")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Killed and not reaped yet (this process is its parent and has not
	// waited): it can only be a zombie, which is not alive.
	testctx.Eventually(t, 10*time.Millisecond, "a killed, unreaped sleep (a zombie) is not alive", func() error {
		if Alive(pid) {
			return errors.New("still alive")
		}
		return nil
	})
	_ = cmd.Wait()
	if Alive(pid) {
		t.Error("a killed and reaped sleep is alive")
	}
}
