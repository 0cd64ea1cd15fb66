package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

const trustDelivery = `apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval}
  - {name: prod, sync: manual, trigger: release, approval: release-manager}
approvers: [lan]
releaseManagers: [minh, thu]
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
freezes:
  - name: forever
    reason: "audit\n::error::freeze lifted"
    environments: [dev]
    from: 2000-01-01T00:00:00Z
    until: 2100-01-01T00:00:00Z
`

// smpctl runs the CLI in-process with env as its whole environment.
func smpctl(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	code = a.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

// TestASafetyOverrideIsNeverReadFromTheEnvironment: SMP_OVERRIDE_FREEZE
// left in a CI job's environment must not lift a freeze.
func TestASafetyOverrideIsNeverReadFromTheEnvironment(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": trustDelivery})
	env := map[string]string{
		"SMP_GITOPS":          bare,
		"SMP_CACHE_DIR":       t.TempDir(),
		"SMP_OVERRIDE_FREEZE": "true",
		"SMP_REASON":          "left over from last week's hotfix",
	}
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc",
		"--image", "ghcr.io/smp/order-svc:3.2.0@sha256:"+strings.Repeat("a", 64))
	if code != 1 || !strings.Contains(stderr, `freeze "forever" is active`) {
		t.Fatalf("deploy during a freeze with SMP_OVERRIDE_FREEZE set: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "SMP_OVERRIDE_FREEZE is set in the environment and ignored: --override-freeze is a safety override") {
		t.Errorf("stderr does not say the variable was ignored:\n%s", stderr)
	}
	if after := gitcmdtest.Git(t, bare, "rev-parse", "main"); after != before {
		t.Error("the frozen deploy was committed")
	}
}

// TestReasonsNeverBecomeWorkflowCommands: a reason with a newline and
// "::error::" is printed on one line, quoted, in every output a CI log
// shows.
func TestReasonsNeverBecomeWorkflowCommands(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": trustDelivery})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	reason := "load test\n::error::deploy approved by security"
	if code, _, stderr := smpctl(t, env, "hold", "--env", "staging", "--service", "order-svc", "--by", "trung", "--reason", reason); code != 0 {
		t.Fatalf("hold: exit %d\n%s", code, stderr)
	}
	outputs := map[string][]string{
		"hold list":       {"hold", "list"},
		"freeze list":     {"freeze", "list"},
		"a held deploy":   {"deploy", "--env", "staging", "--service", "order-svc", "--image", "ghcr.io/smp/order-svc:3.2.0@sha256:" + strings.Repeat("a", 64)},
		"a frozen deploy": {"deploy", "--env", "dev", "--service", "order-svc", "--image", "ghcr.io/smp/order-svc:3.2.0@sha256:" + strings.Repeat("a", 64)},
	}
	for name, args := range outputs {
		_, stdout, stderr := smpctl(t, env, args...)
		all := stdout + stderr
		for _, l := range strings.Split(all, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "::") {
				t.Errorf("%s printed a workflow command: %q\nall output:\n%s", name, l, all)
			}
		}
		if !strings.Contains(all, `\n::error::`) {
			t.Errorf("%s does not show the reason quoted:\n%s", name, all)
		}
	}
}

// TestAPaddedNameIsNotAnotherPerson: "minh " must not pass the four-eyes
// rule as someone other than minh; such a name is bad input, and nothing
// is written.
func TestAPaddedNameIsNotAnotherPerson(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": trustDelivery})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	for _, args := range [][]string{
		{"approve", "--env", "prod", "--service", "order-svc", "--version", "3.2.0", "--digest", "sha256:" + strings.Repeat("a", 64), "--by", "minh", "--requested-by", "minh "},
		{"approve", "--env", "prod", "--service", "order-svc", "--version", "3.2.0", "--digest", "sha256:" + strings.Repeat("a", 64), "--by", "minh\t", "--requested-by", "minh"},
		{"hold", "--env", "prod", "--service", "order-svc", "--by", "minh\n::error::x"},
	} {
		code, _, stderr := smpctl(t, env, args...)
		if code != 2 || !strings.Contains(stderr, "give a login") {
			t.Errorf("%q: exit %d, want 2 naming the bad login:\n%s", args, code, stderr)
		}
	}
	if after := gitcmdtest.Git(t, bare, "rev-parse", "main"); after != before {
		t.Error("a padded name was committed")
	}
}
