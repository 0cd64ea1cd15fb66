//go:build integration

package newservice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/smp/delivery/internal/testkit/testctx"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestGeneratedServicePassesItsOwnTests generates a service into a
// temporary directory — outside this repository's go.work, as a new
// repository would be — and runs go build, go vet and its tests there,
// against the local MariaDB and Redis its tests need.
func TestGeneratedServicePassesItsOwnTests(t *testing.T) {
	tmpl, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	// A stable directory per checkout, so the Go build cache (which keys on
	// file paths) makes reruns cheap; emptied before every run.
	sum := sha256.Sum256([]byte(repoRoot(t)))
	dir := filepath.Join(os.TempDir(), "smpctl-newservice-test-"+hex.EncodeToString(sum[:6]), "payment-svc")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// The folder around it too: each clone has its own, and every make
	// test in a fresh clone left one behind, empty.
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(dir)) })
	if _, err := Generate(tmpl, Options{Name: "payment-svc", Module: "github.com/acme/payments", Critical: true, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"build", "./..."},
		{"vet", "./..."},
		{"test", "-count=1", "./..."},
	} {
		start := time.Now()
		ctx, cancel := context.WithCancel(testctx.New(t))
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go %v in the generated service: %v\n%s", args, err, out)
		}
		t.Logf("go %v: %s", args, time.Since(start).Round(time.Millisecond))
	}
}
