//go:build integration

package newservice

import (
	"context"
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
	dir := filepath.Join(t.TempDir(), "payment-svc")
	if _, err := Generate(tmpl, Options{Name: "payment-svc", Module: "github.com/acme/payments", Critical: true, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"build", "./..."},
		{"vet", "./..."},
		{"test", "-count=1", "./..."},
	} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
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
