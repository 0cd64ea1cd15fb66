//go:build integration

package workflow

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The reusable CI's run: steps, executed here against examples/order-svc
// exactly as written, so a typo in a step fails `make test` instead of the
// first service's pull request. What GitHub provides is replaced, and only
// that: actions/checkout is this tree, actions/setup-go is this Go, the
// tools the "Install ..." steps `go install` must already be on PATH at the
// same versions (scripts/tools.sh; TestToolVersionsMatchScriptsTools keeps
// the pins equal), and the MySQL and Redis service containers are the local
// MariaDB and Redis — the job's DB_PASSWORD (the container's root password)
// becomes empty and DB_NAME a fresh database.
//
// Jobs run: lint and test. security needs trivy (a 10-minute build) and
// gitleaks over the history, openapi needs npm packages and an
// api/openapi.yaml; their scripts are covered by actionlint with shellcheck.

var installed = regexp.MustCompile(`go install (?:-tags \S+ )?(\S+)@v\S+`)

// binaryOf is the command `go install pkg` produces.
func binaryOf(pkg string) string {
	b := path.Base(pkg)
	if regexp.MustCompile(`^v[0-9]+$`).MatchString(b) {
		b = path.Base(path.Dir(pkg))
	}
	return b
}

func localDatabase(t *testing.T) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "ci_local_" + hex.EncodeToString(b[:])
	mysql := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "mysql", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e", sql).CombinedOutput()
		if err != nil {
			t.Logf("mysql: %s", out)
		}
		return err
	}
	if err := mysql("CREATE DATABASE " + name); err != nil {
		t.Fatalf("MariaDB on 127.0.0.1:3306 (root, no password) is needed: start it with scripts/tools.sh services: %v", err)
	}
	t.Cleanup(func() { _ = mysql("DROP DATABASE IF EXISTS " + name) })
	return name
}

func TestReusableCIStepsPassOnOrderSvc(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "examples/order-svc/go.mod")); err != nil {
		t.Fatalf("examples/order-svc is missing: %v", err)
	}
	ci := mustLoad(t, ".github/workflows/ci.yml")
	inputs, err := ci.typedInputs(map[string]any{"working-directory": "examples/order-svc"})
	if err != nil {
		t.Fatal(err)
	}
	scope := Scope{Contexts: map[string]any{
		"inputs": inputs,
		"github": map[string]any{"ref": "refs/heads/main", "event_name": "push", "base_ref": ""},
	}}
	for _, job := range []string{"lint", "test"} {
		t.Run(job, func(t *testing.T) {
			steps, err := ci.Steps(job, scope)
			if err != nil {
				t.Fatal(err)
			}
			db := ""
			if job == "test" {
				db = localDatabase(t)
			}
			// One RUNNER_TEMP per job, as on GitHub: steps hand files on through it.
			runnerTemp := t.TempDir()
			ran := 0
			for _, s := range steps {
				if s.Uses != "" {
					continue // checkout and setup-go: this tree and this Go
				}
				if strings.HasPrefix(s.Name, "Install ") {
					for _, m := range installed.FindAllStringSubmatch(s.Run, -1) {
						if _, err := exec.LookPath(binaryOf(m[1])); err != nil {
							t.Fatalf("step %q installs %s, which is not on PATH: run scripts/tools.sh %s", s.Name, binaryOf(m[1]), binaryOf(m[1]))
						}
					}
					continue
				}
				env := append(os.Environ(), "RUNNER_TEMP="+runnerTemp,
					"GITHUB_OUTPUT="+filepath.Join(t.TempDir(), "out"), "GITHUB_PATH="+filepath.Join(t.TempDir(), "path"))
				if job == "test" {
					s.Env["DB_PASSWORD"] = ""
					s.Env["DB_NAME"] = db
				}
				var stdout, stderr bytes.Buffer
				start := time.Now()
				if err := s.Exec(context.Background(), root, env, 10*time.Minute, &stdout, &stderr); err != nil {
					t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, tail(stdout.String()), tail(stderr.String()))
				}
				t.Logf("step %q passed in %s", s.Name, time.Since(start).Round(time.Millisecond))
				ran++
			}
			if ran < 3 {
				t.Fatalf("job %s: ran %d run: steps; the workflow has more", job, ran)
			}
		})
	}
}

// TestAStepWithATypoFails proves the runner above can fail: the lint job's
// go vet step with a misspelt command.
func TestAStepWithATypoFails(t *testing.T) {
	root := repoRoot(t)
	ci := mustLoad(t, ".github/workflows/ci.yml")
	inputs, err := ci.typedInputs(map[string]any{"working-directory": "examples/order-svc"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := ci.Steps("lint", Scope{Contexts: map[string]any{"inputs": inputs}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Name != "go vet" {
			continue
		}
		s.Run = strings.Replace(s.Run, "go vet", "go vett", 1)
		err := s.Exec(context.Background(), root, os.Environ(), time.Minute, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil {
			t.Fatal("a step running `go vett` passed")
		}
		return
	}
	t.Fatal("the lint job has no go vet step")
}

func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
