package demo_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/smp/delivery/internal/testkit/gobuild"
	"github.com/smp/delivery/internal/testkit/proctest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// TestDemoStoryEndToEnd runs `smpctl demo` — the seed's whole story with the
// real order-svc, MariaDB, Redis, Prometheus, registry and git — and checks
// that every step passed. smpctl is built here without -race on purpose:
// the story drives dozens of smpctl processes and real servers, and a
// race-instrumented binary made it the slowest test of `make test` by far;
// the packages it uses are race-tested by their own tests.
func TestDemoStoryEndToEnd(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Cleanup(func() { proctest.KillUnder(tmp) })
	bin := filepath.Join(tmp, "smpctl")
	ctx := testctx.New(t)

	// Plain flags, as go vet, golangci-lint and internal/workflow build: the
	// dependencies compile once for all of them on a fresh machine.
	// Linked once for this test and internal/workflow's, across runs (gobuild).
	if err := gobuild.Build(ctx, root, bin, []string{"./cmd/smpctl"}, nil); err != nil {
		t.Fatal(err)
	}

	ws := filepath.Join(tmp, "ws")
	var stdout, stderr bytes.Buffer
	demo := exec.CommandContext(ctx, bin, "demo", "--service-dir", filepath.Join(root, "examples", "order-svc"), "--workspace", ws)
	demo.Dir = tmp
	demo.Stdout, demo.Stderr = &stdout, &stderr
	if err := demo.Run(); err != nil {
		t.Fatalf("smpctl demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		`ok +local up`,
		`ok +dev serving .*automated`,
		`ok +prod preview \(blue/green\) .*3\.3\.0 on the preview URL`,
		`ok +gate passes for 3\.3\.0`,
		`ok +watch: gate fails → rollback .*exit 1: watch failed: .*error rate.*; rollback: rollback\(prod\): order-svc → 3\.3\.0; sync: 3\.3\.0 \(sha256:[0-9a-f]{12}\) active in prod after [0-9.]+m?s: it still ran, so active switched back at once`,
		`ok +prod active again .*active again \(still running, no pause\)`,
		`ok +prod serves the previous digest .*Healthy, Synced`,
		`ok +on-call: rollback --sync to 3\.2\.0 +.*3\.2\.0 .* was scaled down: back on the preview and promoted by rollback --sync in [0-9.]+m?s; smoke passed`,
		`demo: all 24 steps passed`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`FAIL  `).MatchString(out) {
		t.Errorf("a demo step failed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(ws, ".smp")); !os.IsNotExist(err) {
		t.Errorf("the demo left its local environment behind in %s (stat: %v)", ws, err)
	}

	// A workspace that is not empty is refused before anything starts.
	full := filepath.Join(tmp, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := exec.CommandContext(ctx, bin, "demo", "--workspace", full)
	var rerr bytes.Buffer
	refused.Stderr = &rerr
	if err := refused.Run(); err == nil || !regexp.MustCompile(`not empty`).MatchString(rerr.String()) {
		t.Errorf("demo in a non-empty workspace: err %v, stderr %q; want a refusal naming it not empty", err, rerr.String())
	}
}
