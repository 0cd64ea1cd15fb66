package cli

import (
	"context"
	"os"
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

// TestScript runs the end-to-end CLI cases in testdata/script/*.txtar.
func TestScript(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: false,
		Setup: func(env *testscript.Env) error {
			// A clean environment: no SMP_* leaks in from the developer's shell.
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
	})
}
