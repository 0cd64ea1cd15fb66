package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smp/delivery/internal/proctest"
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
			env.Defer(func() { proctest.KillUnder(dir) })
			return nil
		},
	})
}
