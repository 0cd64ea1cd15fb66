//go:build integration

package workflow

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/image/vulnscan"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// setupGoVersion stands in for actions/setup-go with the job's go-version
// ("1.26"), which installs that line's newest patch: go1.26.11 was the
// newest on the Go module proxy when this was written. The security job
// runs with it because govulncheck judges the standard library by the Go
// version it finds, and this machine's go1.26.8 has reachable standard
// library vulnerabilities fixed in 1.26.9 and 1.26.10 (GO-2026-6603 …
// GO-2026-6809): with it the job would fail here and pass on GitHub. The
// go command fetches the toolchain through the module proxy; only the
// security job's environment names it.
const setupGoVersion = "go1.26.11"

// securityEnv is the runner environment of the security job.
func securityEnv(t *testing.T, environ []string) []string {
	t.Helper()
	ci := mustLoad(t, ".github/workflows/ci.yml")
	inputs, err := ci.typedInputs(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if line := "go" + ToString(inputs["go-version"]) + "."; !strings.HasPrefix(setupGoVersion, line) {
		t.Fatalf("setupGoVersion %s is not a patch of the workflow's go-version %s: set it to that line's newest patch", setupGoVersion, line)
	}
	return append(append([]string{}, environ...), "GOTOOLCHAIN="+setupGoVersion, "GOVULNDB="+offlineVulnDB(t))
}

// offlineVulnDB builds govulncheck's database from golang.org/x/vulndb at
// the version `smpctl scan` pins, in a directory of this test (the shared
// cache of smpctl scan could be half-written by a concurrent run), and
// returns its file:// URL.
func offlineVulnDB(t *testing.T) string {
	t.Helper()
	db, err := vulnscan.FetchDB(testctx.New(t), "go", vulnscan.DefaultVulnDB, t.TempDir())
	if err != nil {
		t.Fatalf("build the offline vulnerability database: %v", err)
	}
	t.Logf("govulncheck database: %s (%d entries, dated %s)", db.Source, db.Entries, db.Date.Format(time.DateOnly))
	return db.URL()
}

// securityStep is one step of the security job, to run in a fixture
// repository (working-directory ".").
func securityStep(t *testing.T, name string) Step {
	t.Helper()
	for _, s := range ciJob(t, "security", map[string]any{}) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("the security job has no step %q", name)
	return Step{}
}

// fakeToken is a GitHub token gitleaks' github-pat rule matches, made at
// run time so this file holds no string gitleaks would report.
func fakeToken() string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 36)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return "gh" + "p_" + string(b)
}

// TestSecurityStepsFail proves the security job's checks can fail, each
// run as written in a repository made to fail it.
func TestSecurityStepsFail(t *testing.T) {
	t.Parallel() // fixture repositories of its own; see TestMain
	t.Run("gitleaks finds a secret committed and later removed", func(t *testing.T) {
		for _, tool := range []string{"gitleaks"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Fatalf("%s is not on PATH: run scripts/tools.sh %s", tool, tool)
			}
		}
		dir := t.TempDir()
		git(t, dir, "init", "-q")
		writeFile(t, dir, "deploy.sh", "export GITHUB_TOKEN="+fakeToken()+"\n")
		git(t, dir, "add", ".")
		git(t, dir, "commit", "-qm", "deploy script")
		writeFile(t, dir, "deploy.sh", "# the token comes from the environment\n")
		git(t, dir, "commit", "-qam", "remove the token")
		var out bytes.Buffer
		err := securityStep(t, "gitleaks").Exec(testctx.New(t), dir, os.Environ(), 0, &out, &out)
		if err == nil || !strings.Contains(out.String(), "leaks found: 1") {
			t.Fatalf("gitleaks did not fail on a token in the history: %v\n%s", err, out.String())
		}
	})
	t.Run("govulncheck finds a called vulnerable function", func(t *testing.T) {
		if _, err := exec.LookPath("govulncheck"); err != nil {
			t.Fatal("govulncheck is not on PATH: run scripts/tools.sh govulncheck")
		}
		// golang.org/x/text v0.3.7's ParseAcceptLanguage can be made to
		// take unbounded time (GO-2022-1059, fixed in v0.3.8).
		dir := t.TempDir()
		writeFile(t, dir, "go.mod", "module example.com/vulnerable\n\ngo 1.26\n\nrequire golang.org/x/text v0.3.7\n")
		writeFile(t, dir, "main.go", "package main\n\nimport \"golang.org/x/text/language\"\n\n"+
			"func main() { _, _, _ = language.ParseAcceptLanguage(\"en\") }\n")
		tidy := exec.Command("go", "mod", "tidy")
		tidy.Dir = dir
		if out, err := tidy.CombinedOutput(); err != nil {
			t.Fatalf("go mod tidy: %v\n%s", err, out)
		}
		var out bytes.Buffer
		env := append(os.Environ(), "GOVULNDB="+offlineVulnDB(t))
		err := securityStep(t, "govulncheck").Exec(testctx.New(t), dir, env, 0, &out, &out)
		if err == nil || !strings.Contains(out.String(), "GO-2022-1059") {
			t.Fatalf("govulncheck did not fail on a called vulnerable function: %v\n%s", err, out.String())
		}
	})
}
