//go:build !unix

package gitcmd

import "os/exec"

func killGroup(*exec.Cmd) {}
