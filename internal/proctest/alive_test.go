package proctest

import (
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
	for deadline := time.Now().Add(10 * time.Second); Alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped sleep (a zombie) is still alive after 10s")
		}
	}
	_ = cmd.Wait()
	if Alive(pid) {
		t.Error("a killed and reaped sleep is alive")
	}
}
