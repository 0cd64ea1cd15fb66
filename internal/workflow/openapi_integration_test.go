//go:build integration

package workflow

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const baseSpec = `openapi: 3.0.3
info: {title: t, version: "1.0.0"}
paths:
  /orders:
    post:
      responses:
        "201": {description: created}
  /orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: ok}
`

// TestBreakingChangeStepComparesWithTheBase runs the openapi job's
// breaking-change step, as written, with the real oasdiff in a git
// repository whose history holds the base spec: removing an endpoint fails
// it, an additive change passes, and a new API has nothing to break. (The
// seed's step of that name only validated the file.)
func TestBreakingChangeStepComparesWithTheBase(t *testing.T) {
	if _, err := exec.LookPath("oasdiff"); err != nil {
		t.Fatal("oasdiff is not on PATH: run scripts/tools.sh oasdiff (make test does)")
	}
	ci := mustLoad(t, ".github/workflows/ci.yml")
	inputs, err := ci.typedInputs(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := ci.Steps("openapi", Scope{Contexts: map[string]any{"inputs": inputs,
		"github": map[string]any{"base_ref": "", "event": map[string]any{}}}})
	if err != nil {
		t.Fatal(err)
	}
	var step Step
	for _, s := range steps {
		if strings.HasPrefix(s.Name, "Breaking changes") {
			step = s
		}
	}
	if step.Run == "" {
		t.Fatal("the openapi job has no breaking-change step")
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(dir, name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(dir, before string) (string, error) {
		s := step
		s.Dir = ""
		s.Env["BEFORE"] = before
		var out bytes.Buffer
		err := s.Exec(context.Background(), dir, append(os.Environ(), "RUNNER_TEMP="+t.TempDir()), 2*time.Minute, &out, &out)
		return out.String(), err
	}
	tests := []struct {
		name     string
		base     string // "" = no spec on the base
		rev      string
		breaking bool
	}{
		{"removing an endpoint is breaking", baseSpec, strings.Split(baseSpec, "  /orders/{id}:")[0], true},
		{"adding an endpoint is not", baseSpec, baseSpec + "  /health:\n    get:\n      responses:\n        \"200\": {description: ok}\n", false},
		{"a new API has nothing to break", "", baseSpec, false},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		git(dir, "init", "-q")
		write(dir, "README.md", "x\n")
		if tc.base != "" {
			write(dir, "api/openapi.yaml", tc.base)
		}
		git(dir, "add", ".")
		git(dir, "commit", "-qm", "base")
		before := git(dir, "rev-parse", "HEAD")
		write(dir, "api/openapi.yaml", tc.rev)
		git(dir, "add", ".")
		git(dir, "commit", "-qm", "change")
		out, err := run(dir, before)
		if tc.breaking && (err == nil || !strings.Contains(out, "api-path-removed")) {
			t.Errorf("%s: the step did not fail on oasdiff's finding: %v\n%s", tc.name, err, out)
		}
		if !tc.breaking && err != nil {
			t.Errorf("%s: the step failed: %v\n%s", tc.name, err, out)
		}
	}
}
