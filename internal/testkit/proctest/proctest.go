// Package proctest helps tests that start background processes (the local
// daemon, Prometheus, service replicas) leave nothing running behind them,
// even when they fail before their own teardown.
package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// KillUnder kills every process that runs in dir or whose command line
// names a path inside it (Linux /proc; elsewhere it does nothing).
func KillUnder(dir string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	under := dir + string(filepath.Separator)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if cwd != dir && !strings.HasPrefix(cwd, under) && !strings.Contains(string(cmdline), under) {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
}
