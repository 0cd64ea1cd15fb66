package cli

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smp/delivery/internal/testkit/proctest"
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

// goEnv is the developer's Go cache locations, read once, when a script
// first needs them. Not at package init: every `smpctl` line re-executes
// this test binary (~430 per run), and each ran `go env` again (measured
// on a quiet machine: 132 ms CPU per `smpctl version` line with it, 119
// without).
var goEnv = sync.OnceValue(func() map[string]string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		return nil
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 3 {
		return nil
	}
	return map[string]string{"GOCACHE": f[0], "GOMODCACHE": f[1], "GOPATH": f[2]}
})

// TestScript runs the end-to-end CLI cases in testdata/script/*.txtar.
func TestScript(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: false,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exit": exitCmd, "registry": registryCmd},
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
			for k, v := range goEnv() {
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

// registryCmd starts an in-memory OCI registry on 127.0.0.1 for the rest of
// the script and sets $REGISTRY to its host:port:
//
//	registry
//	smpctl chart push --dir chart --repo $REGISTRY/smp/charts
func registryCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: registry")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	ts.Defer(srv.Close)
	ts.Setenv("REGISTRY", strings.TrimPrefix(srv.URL, "http://"))
}

// exitCmd runs smpctl in-process, like a `smpctl` line, and asserts its exact
// exit code, so a script pins the README's contract (0 done, 1 refused,
// 2 bad input or usage) and not only "non-zero":
//
//	exit 2 smpctl deploy --env ../x
//	stderr 'invalid environment'
func exitCmd(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: exit CODE smpctl ARGS..."
	if neg {
		ts.Fatalf("%s: no '!', CODE says which failure is expected", usage)
	}
	if len(args) < 2 || args[1] != "smpctl" {
		ts.Fatalf("%s", usage)
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("%s: CODE %q is not a number", usage, args[0])
	}
	got := 0
	var ee *exec.ExitError
	switch err := ts.Exec("smpctl", args[2:]...); {
	case err == nil:
	case errors.As(err, &ee):
		got = ee.ExitCode()
	default:
		ts.Fatalf("smpctl did not run: %v", err)
	}
	if got != want {
		ts.Fatalf("smpctl exited %d, want %d", got, want)
	}
}
