package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run smpctl in-process: each `smpctl` line in a
// script re-executes this test binary as the CLI.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"smpctl": func() {
			os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// goEnv is the developer's Go cache locations, read once.
var goEnv = func() map[string]string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		return nil
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 3 {
		return nil
	}
	return map[string]string{"GOCACHE": f[0], "GOMODCACHE": f[1], "GOPATH": f[2]}
}()

// TestScript runs the end-to-end CLI cases in testdata/script/*.txtar.
func TestScript(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			// A clean environment: no SMP_* leaks in from the developer's shell.
			env.Setenv("HOME", env.WorkDir)
			// The reference service, for the demo's end-to-end story.
			svc, err := filepath.Abs(filepath.Join("..", "..", "examples", "order-svc"))
			if err != nil {
				return err
			}
			env.Setenv("ORDER_SVC", svc)
			// HOME moved: keep Go's caches where they are, so the demo's
			// builds are warm and nothing is downloaded again.
			for k, v := range goEnv {
				env.Setenv(k, v)
			}
			// A script that fails before `smpctl local down` would leave the
			// daemon and its Prometheus (its own process group) running and
			// writing into a deleted folder: kill whatever still runs from
			// this script's work folder.
			dir := env.WorkDir
			env.Defer(func() { killProcessesUnder(dir) })
			return nil
		},
	})
}

// killProcessesUnder kills every process that runs in dir or whose command
// line names a path inside it (Linux /proc; elsewhere it does nothing).
func killProcessesUnder(dir string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		under := dir + string(filepath.Separator)
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
