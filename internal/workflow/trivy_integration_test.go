//go:build integration && trivy

package workflow

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/image/vulnscan"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// The security job's "trivy fs" step, which `make test` leaves out
// (notRunByMakeTest), run as written when asked:
//
//	scripts/tools.sh trivy
//	cd internal/workflow && GOWORK=off go test -tags integration,trivy -run TestTrivyFsStep ./...
//
// Trivy's databases are OCI artifacts on ghcr.io and mirror.gcr.io, which
// this machine cannot reach, so the runner's environment makes it offline
// (every trivy flag has a TRIVY_* variable; the step's command line is
// unchanged): no database or check download, and a vulnerability database
// built by testdata/trivydb from golang.org/x/vulndb with trivy-db's own
// code. The secret and misconfiguration scanners are Trivy's own, with the
// checks built into the binary. The vulnerability scanner runs against Go's
// database only, whose entries have no severity: trivy reports them as
// UNKNOWN, below the step's --severity HIGH,CRITICAL, so here that scanner
// can find but never fail (on GitHub, Trivy's database has GitHub's
// severities); govulncheck is the Go vulnerability gate that does fail.

// trivyOffline is the environment that runs trivy offline.
func trivyOffline(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("trivy"); err != nil {
		t.Fatal("trivy is not on PATH: run scripts/tools.sh trivy (about 10 minutes of build)")
	}
	ctx := testctx.New(t)
	dl := exec.CommandContext(ctx, "go", "mod", "download", "-json", "golang.org/x/vulndb@"+vulnscan.DefaultVulnDB)
	dl.Dir = os.TempDir()
	b, err := dl.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(b, &mod); err != nil || jerr != nil || mod.Dir == "" {
		t.Fatalf("go mod download golang.org/x/vulndb@%s: %v %s", vulnscan.DefaultVulnDB, err, mod.Error)
	}
	cache := t.TempDir()
	build := exec.CommandContext(ctx, "go", "run", ".", mod.Dir, filepath.Join(cache, "db"))
	build.Dir = filepath.Join(repoRoot(t), "internal/workflow/testdata/trivydb")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build trivy's database (testdata/trivydb): %v\n%s", err, out)
	}
	return []string{
		"TRIVY_CACHE_DIR=" + cache,
		"TRIVY_SKIP_DB_UPDATE=true",
		"TRIVY_SKIP_JAVA_DB_UPDATE=true",
		"TRIVY_SKIP_CHECK_UPDATE=true",
		"TRIVY_OFFLINE_SCAN=true",
		"TRIVY_DISABLE_TELEMETRY=true",
	}
}

func TestTrivyFsStep(t *testing.T) {
	step := securityStep(t, "trivy fs")
	env := append(os.Environ(), trivyOffline(t)...)
	run := func(t *testing.T, dir string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := step.Exec(testctx.New(t), dir, env, 0, &out, &out)
		return out.String(), err
	}
	t.Run("order-svc passes", func(t *testing.T) {
		out, err := run(t, filepath.Join(repoRoot(t), "examples/order-svc"))
		if err != nil {
			t.Fatalf("%v\n%s", err, tail(out))
		}
		// A pass must come from scanning: go.mod by the vulnerability
		// scanner, the Dockerfile by the misconfiguration one.
		for _, target := range []string{"go.mod", "Dockerfile"} {
			if !regexp.MustCompile(`│ ` + target + ` +│`).MatchString(out) {
				t.Errorf("trivy's summary has no %s row: it scanned nothing there\n%s", target, tail(out))
			}
		}
	})
	t.Run("a committed token fails it", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "deploy.sh", "export GITHUB_TOKEN="+fakeToken()+"\n")
		out, err := run(t, dir)
		if err == nil || !strings.Contains(out, "github-pat") {
			t.Fatalf("trivy passed a GitHub token: %v\n%s", err, tail(out))
		}
	})
	t.Run("a container running as root fails it", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "Dockerfile", "FROM alpine:3.20\nCMD [\"sleep\", \"1\"]\n")
		out, err := run(t, dir)
		if err == nil || !strings.Contains(out, "DS-0002") {
			t.Fatalf("trivy passed a root container: %v\n%s", err, tail(out))
		}
	})
	t.Run("the vulnerability scanner reads the offline database", func(t *testing.T) {
		// Not the step (its HIGH,CRITICAL gate hides UNKNOWN): the same
		// scan at every severity must report golang.org/x/text v0.3.7's
		// GO-2022-1059 (trivy names it by its alias CVE-2022-32149), so the
		// database is used, not just present.
		dir := t.TempDir()
		writeFile(t, dir, "go.mod", "module example.com/vulnerable\n\ngo 1.26\n\nrequire golang.org/x/text v0.3.7\n")
		cmd := exec.Command("trivy", "fs", "--scanners", "vuln", "--exit-code", "1", "--no-progress", ".")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "CVE-2022-32149") {
			t.Fatalf("trivy did not report CVE-2022-32149 (GO-2022-1059) from the offline database: %v\n%s", err, tail(string(out)))
		}
	})
}
