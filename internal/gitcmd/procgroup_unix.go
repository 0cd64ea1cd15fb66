//go:build unix

package gitcmd

import (
	"os/exec"
	"syscall"
)

// killGroup runs git in its own process group and kills the whole group on
// timeout: git's helpers (ssh, credential helpers, aliases) would otherwise
// outlive it and hold its output open.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
