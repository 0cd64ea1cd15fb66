//go:build integration

package workflow

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/smp/delivery/internal/testkit/testctx"
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
// that:
//   - actions/checkout is this tree — for the openapi job, a git repository
//     holding order-svc's spec twice (HEAD~1 as last committed here, HEAD as
//     in the working tree) so the breaking-change step compares a real
//     history;
//   - actions/setup-go is this Go, except in the security job, where the Go
//     version decides the result (govulncheck matches the standard library's
//     version): there it is the newest 1.26 patch, the one setup-go installs
//     for go-version "1.26", fetched as a toolchain module (setupGo);
//   - the tools the "Install ..." steps install must already be on PATH at
//     the same versions (scripts/tools.sh; TestToolVersionsMatchScriptsTools
//     keeps the pins equal);
//   - the MySQL and Redis service containers are the local MariaDB and
//     Redis — the job's DB_PASSWORD (the container's root password) becomes
//     empty and DB_NAME a fresh database;
//   - the vulnerability database is an offline copy: GOVULNDB (read by the
//     govulncheck step, the public database when unset) is built from
//     golang.org/x/vulndb as `smpctl scan` builds it.
//
// Jobs run: lint, test, security and openapi, every run: step but one:
// security's "trivy fs" (notRunByMakeTest) — its build does not fit
// `make test`'s cold budget on two cores; TestTrivyFsStep runs it offline
// when asked (-tags integration,trivy). gitleaks scans this
// repository's history, all refs, as GitHub's checkout with fetch-depth 0
// gives it. That each check can fail is proven next to it:
// TestAStepWithATypoFails, TestOpenAPIJobOnASpecHistory,
// TestSecurityStepsFail.

var installed = regexp.MustCompile(`go install (?:-tags \S+ )?(\S+)@v\S+`)

// npmInstalled matches the npm packages an Install step names.
var npmInstalled = regexp.MustCompile(`(@[\w.-]+/[\w.-]+)@[0-9]\S*`)

// binaryOf is the command `go install pkg` produces.
func binaryOf(pkg string) string {
	b := path.Base(pkg)
	if regexp.MustCompile(`^v[0-9]+$`).MatchString(b) {
		b = path.Base(path.Dir(pkg))
	}
	return b
}

// npmCommands maps each npm package scripts/tools.sh installs to the
// command it links (npm_tool COMMAND PACKAGE@VERSION).
func npmCommands(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	src := readFile(t, filepath.Join(repoRoot(t), "scripts/tools.sh"))
	for _, m := range regexp.MustCompile(`npm_tool (\S+) (@?[^@\s]+)@\S+`).FindAllStringSubmatch(src, -1) {
		out[m[2]] = m[1]
	}
	return out
}

func localDatabase(t *testing.T) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "ci_local_" + hex.EncodeToString(b[:])
	mysql := func(sql string) error {
		out, err := exec.CommandContext(testctx.New(t), "mysql", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e", sql).CombinedOutput()
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

// ciJob returns a job of the reusable CI with its env evaluated for a push
// to main of a repository calling it with these inputs.
func ciJob(t *testing.T, job string, with map[string]any) []Step {
	t.Helper()
	ci := mustLoad(t, ".github/workflows/ci.yml")
	inputs, err := ci.typedInputs(with)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := ci.Steps(job, Scope{Contexts: map[string]any{
		"inputs": inputs,
		"github": map[string]any{"ref": "refs/heads/main", "event_name": "push", "base_ref": "", "event": map[string]any{}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

// stepFailure is a run: step that exited non-zero.
type stepFailure struct {
	Step           string
	Stdout, Stderr string
	Err            error
}

func (f *stepFailure) Error() string {
	return fmt.Sprintf("%v\nstdout:\n%s\nstderr:\n%s", f.Err, tail(f.Stdout), tail(f.Stderr))
}

// runJob runs a job's run: steps in order in the checkout at root, the way
// a runner does: one RUNNER_TEMP for the whole job (steps hand files on
// through it), actions skipped (see the file comment), and each "Install
// ..." step replaced by a check that what it installs is on PATH. It stops
// at the first failing step. It returns how many steps ran. runnerTemp is
// the job's RUNNER_TEMP (an empty directory).
func runJob(t *testing.T, steps []Step, root string, environ []string, runnerTemp string) (int, *stepFailure) {
	t.Helper()
	npm := npmCommands(t)
	notRun := map[string]bool{} // commands of the steps left out
	for _, s := range steps {
		if why, ok := notRunByMakeTest[s.Name]; ok {
			t.Logf("step %q not run: %s", s.Name, why)
			notRun[strings.Fields(s.Run)[0]] = true
		}
	}
	ran := 0
	for _, s := range steps {
		if _, ok := notRunByMakeTest[s.Name]; s.Uses != "" || ok {
			continue
		}
		if strings.HasPrefix(s.Name, "Install ") {
			var cmds []string
			for _, m := range installed.FindAllStringSubmatch(s.Run, -1) {
				cmds = append(cmds, binaryOf(m[1]))
			}
			for _, m := range npmInstalled.FindAllStringSubmatch(s.Run, -1) {
				cmd, ok := npm[m[1]]
				if !ok {
					t.Fatalf("step %q installs the npm package %s, which scripts/tools.sh does not (add an npm_tool line)", s.Name, m[1])
				}
				cmds = append(cmds, cmd)
			}
			for _, c := range cmds {
				if notRun[c] {
					continue
				}
				if _, err := exec.LookPath(c); err != nil {
					t.Fatalf("step %q installs %s, which is not on PATH: run scripts/tools.sh %s", s.Name, c, c)
				}
			}
			continue
		}
		env := append(append([]string{}, environ...), "RUNNER_TEMP="+runnerTemp,
			"GITHUB_OUTPUT="+filepath.Join(t.TempDir(), "out"), "GITHUB_PATH="+filepath.Join(t.TempDir(), "path"))
		var stdout, stderr bytes.Buffer
		start := time.Now()
		if err := s.Exec(testctx.New(t), root, env, 0, &stdout, &stderr); err != nil {
			return ran, &stepFailure{Step: s.Name, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
		}
		t.Logf("step %q passed in %s", s.Name, time.Since(start).Round(time.Millisecond))
		ran++
	}
	return ran, nil
}

func TestReusableCIStepsPassOnOrderSvc(t *testing.T) {
	t.Parallel() // each job in its own RUNNER_TEMP and database; see TestMain
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "examples/order-svc/go.mod")); err != nil {
		t.Fatalf("examples/order-svc is missing: %v", err)
	}
	with := map[string]any{"working-directory": "examples/order-svc"}
	for _, job := range []string{"lint", "test", "security", "openapi"} {
		t.Run(job, func(t *testing.T) {
			t.Parallel() // as on GitHub; the jobs share nothing but the checkout, which they only read
			steps := ciJob(t, job, with)
			checkout, environ := root, os.Environ()
			switch job {
			case "test":
				db := localDatabase(t)
				for i := range steps {
					steps[i].Env["DB_PASSWORD"] = ""
					steps[i].Env["DB_NAME"] = db
				}
			case "security":
				environ = securityEnv(t, environ)
			case "openapi":
				checkout = specHistory(t, root, "examples/order-svc", steps)
			}
			runnerTemp := t.TempDir()
			ran, fail := runJob(t, steps, checkout, environ, runnerTemp)
			if fail != nil {
				t.Fatal(fail)
			}
			if job == "test" {
				handOnCoverage(t, filepath.Join(runnerTemp, "coverage.out"))
			}
			if want := runSteps(steps); ran != want || ran < 2 {
				t.Fatalf("job %s: ran %d run: steps of %d", job, ran, want)
			}
		})
	}
}

// handOnCoverage copies the test job's coverage profile to
// $SMP_COVERAGE_OUT when it is set: make test reports the service's
// coverage from this run instead of running its tests a second time.
func handOnCoverage(t *testing.T, profile string) {
	t.Helper()
	dst := os.Getenv("SMP_COVERAGE_OUT")
	if dst == "" {
		return
	}
	b, err := os.ReadFile(profile)
	if err != nil {
		t.Fatalf("the test job passed but wrote no coverage profile: %v", err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// notRunByMakeTest names the steps of the security job `make test` leaves
// out, and why.
var notRunByMakeTest = map[string]string{
	"trivy fs": "building trivy takes about 17 CPU-minutes (scripts/tools.sh trivy: 14m42s user + 2m23s sys), " +
		"more than make test's cold budget leaves on two cores; TestTrivyFsStep runs this step offline " +
		"against order-svc (go test -tags integration,trivy, after scripts/tools.sh trivy)",
}

// runSteps counts a job's run: steps other than installs and those left
// out.
func runSteps(steps []Step) int {
	n := 0
	for _, s := range steps {
		if _, out := notRunByMakeTest[s.Name]; s.Uses == "" && !strings.HasPrefix(s.Name, "Install ") && !out {
			n++
		}
	}
	return n
}

// specHistory makes a git repository laid out like this one around a
// service's OpenAPI files (the job's SPEC, and .spectral.yaml when the
// service has one): HEAD~1 holds them as last committed here, HEAD as they
// are in the working tree, so the breaking-change step compares the change
// being tested with what it replaces, as on a push.
func specHistory(t *testing.T, root, service string, steps []Step) string {
	t.Helper()
	spec := steps[0].Env["SPEC"]
	if spec == "" {
		t.Fatal("the openapi job has no SPEC")
	}
	files := []string{path.Join(service, spec)}
	if _, err := os.Stat(filepath.Join(root, service, ".spectral.yaml")); err == nil {
		files = append(files, path.Join(service, ".spectral.yaml"))
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	writeFile(t, dir, "README.md", "the service's OpenAPI files, from "+root+"\n")
	for _, f := range files {
		cmd := exec.Command("git", "show", "HEAD:"+f)
		cmd.Dir = root
		if committed, err := cmd.Output(); err == nil {
			writeFile(t, dir, f, string(committed))
		}
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-qm", "as committed")
	for _, f := range files {
		writeFile(t, dir, f, readFile(t, filepath.Join(root, f)))
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-qm", "working tree", "--allow-empty")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAStepWithATypoFails proves the runner above can fail: the lint job's
// go vet step with a misspelt command.
func TestAStepWithATypoFails(t *testing.T) {
	root := repoRoot(t)
	for _, s := range ciJob(t, "lint", map[string]any{"working-directory": "examples/order-svc"}) {
		if s.Name != "go vet" {
			continue
		}
		s.Run = strings.Replace(s.Run, "go vet", "go vett", 1)
		err := s.Exec(testctx.New(t), root, os.Environ(), 0, &bytes.Buffer{}, &bytes.Buffer{})
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
