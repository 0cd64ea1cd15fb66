//go:build !linux

package childproc

import "os/exec"

// Start starts cmd. Only Linux can tie a child's life to its parent's;
// elsewhere a SIGKILLed daemon leaves its children running (smpctl local
// down, or proctest.KillUnder in tests, stops them).
func Start(cmd *exec.Cmd) error { return cmd.Start() }
