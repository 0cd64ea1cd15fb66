//go:build integration

package workflow

import (
	"bufio"
	"bytes"
	"github.com/smp/delivery/internal/testkit/testctx"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// This repository releases itself with the reusable release workflow and
// smpctl-version: source (.github/workflows/delivery-release.yml), because
// the reusable workflows install smpctl at a release tag, and the first one
// must be made by a smpctl that no tag holds yet. These tests run the
// release job's run: steps, as written, on a snapshot of this tree with a
// bare remote standing in for GitHub: the version the workflows pin is the
// version this repository's own release creates.

// snapshotRepo copies this repository's tracked files into a new git
// repository on main with one commit, and pushes it to a new bare remote.
// It returns the work tree, the remote and the commit.
func snapshotRepo(t *testing.T) (work, remote, head string) {
	t.Helper()
	work = filepath.Join(t.TempDir(), "delivery")
	copyTracked(t, repoRoot(t), work)
	remote = filepath.Join(t.TempDir(), "delivery.git")
	git(t, "", "init", "--quiet", "--bare", "--initial-branch=main", remote)
	git(t, work, "init", "--quiet", "--initial-branch=main")
	git(t, work, "add", "-A")
	git(t, work, "commit", "--quiet", "-m", "chore(release): v0.1.0")
	git(t, work, "remote", "add", "origin", remote)
	git(t, work, "push", "--quiet", "origin", "main")
	return work, remote, git(t, work, "rev-parse", "HEAD")
}

// runReleaseJob runs the release job of release.yml for a merged pull
// request from headRef, with smpctl built from source, in work, with
// runnerTemp as RUNNER_TEMP. It returns the name of the step that failed
// ("" when all passed) and the output.
func runReleaseJob(t *testing.T, work, runnerTemp, headRef, mergeSHA string) (failed, output string) {
	t.Helper()
	rel := mustLoad(t, ".github/workflows/release.yml")
	inputs, err := rel.typedInputs(map[string]any{"smpctl-version": "source"})
	if err != nil {
		t.Fatal(err)
	}
	scope := Scope{Contexts: map[string]any{
		"inputs": inputs,
		"github": map[string]any{"event": map[string]any{"pull_request": map[string]any{
			"merged": true, "merge_commit_sha": mergeSHA,
			"head": map[string]any{"ref": headRef},
		}}},
	}}
	job := rel.Workflow.Jobs["release"]
	if job == nil || job.If == nil {
		t.Fatal("release.yml has no release job with an if:")
	}
	if ok, err := EvalCondition(job.If.Value, scope); err != nil || !ok {
		t.Fatalf("the release job does not run for a merged %s: %v %v", headRef, ok, err)
	}
	steps, err := rel.Steps("release", scope)
	if err != nil {
		t.Fatal(err)
	}
	ghPath := filepath.Join(t.TempDir(), "path")
	_ = os.Remove(filepath.Join(runnerTemp, "output")) // each job's steps write their own outputs
	path := os.Getenv("PATH")
	var all bytes.Buffer
	ran := 0
	for _, s := range steps {
		if s.Uses != "" {
			continue // checkout: work is at the merge commit; setup-go: this Go
		}
		var env []string
		for _, kv := range os.Environ() {
			// This module's tests run with GOWORK=off; a runner has no GOWORK.
			if !strings.HasPrefix(kv, "GOWORK=") && !strings.HasPrefix(kv, "PATH=") {
				env = append(env, kv)
			}
		}
		env = append(env, "PATH="+path, "RUNNER_TEMP="+runnerTemp, "GITHUB_PATH="+ghPath,
			"GITHUB_OUTPUT="+filepath.Join(runnerTemp, "output"))
		fmtStep := "== " + s.Name + "\n"
		all.WriteString(fmtStep)
		err := s.Exec(testctx.New(t), work, env, 0, &all, &all)
		ran++
		if err != nil {
			return s.Name, all.String()
		}
		// $GITHUB_PATH lines go before PATH for the later steps, as on a runner.
		if f, err := os.Open(ghPath); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if line := strings.TrimSpace(sc.Text()); line != "" {
					path = line + string(os.PathListSeparator) + path
				}
			}
			_ = f.Close()
			_ = os.Remove(ghPath)
		}
	}
	if ran < 3 {
		t.Fatalf("the release job ran %d run: steps; it has install, check and tag", ran)
	}
	return "", all.String()
}

func TestThisRepositoryReleasesItsPinnedVersionFromSource(t *testing.T) {
	t.Parallel() // its own snapshot, remote and RUNNER_TEMP; see TestMain
	version := newestChangelogVersion(t)
	work, remote, head := snapshotRepo(t)
	runnerTemp := t.TempDir()
	failed, out := runReleaseJob(t, work, runnerTemp, "release/v"+version, head)
	if failed != "" {
		t.Fatalf("step %q failed:\n%s", failed, tail(out))
	}
	tagged, err := exec.Command("git", "-C", remote, "rev-parse", "v"+version+"^{commit}").Output()
	if err != nil {
		t.Fatalf("the remote has no tag v%s after the release job:\n%s", version, tail(out))
	}
	if got := strings.TrimSpace(string(tagged)); got != head {
		t.Fatalf("v%s points at %s, want the merge commit %s", version, got, head)
	}

	// A release PR for a version CHANGELOG.md does not describe stops at the
	// check, and the remote gets no tag. This job keeps the first one's
	// RUNNER_TEMP (a runner GitHub hosts empties it between jobs): its install
	// step, which the first job ran, then finds smpctl built from the same
	// commit, and go build leaves it instead of linking it again (a link of
	// smpctl is most of this test's CPU; the test is on make test's longest
	// suite).
	failed, out = runReleaseJob(t, work, runnerTemp, "release/v99.0.0", head)
	if failed != "Check the CHANGELOG entry" {
		t.Fatalf("release/v99.0.0 without a CHANGELOG section: failed step %q, want the CHANGELOG check\n%s", failed, tail(out))
	}
	if _, err := exec.Command("git", "-C", remote, "rev-parse", "--verify", "--quiet", "refs/tags/v99.0.0").Output(); err == nil {
		t.Fatal("the remote got v99.0.0 although the CHANGELOG check failed")
	}
}

var changelogVersion = regexp.MustCompile(`(?m)^## \[?v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\]?`)

// newestChangelogVersion is the first released version in CHANGELOG.md.
func newestChangelogVersion(t *testing.T) string {
	t.Helper()
	m := changelogVersion.FindStringSubmatch(readFile(t, filepath.Join(repoRoot(t), "CHANGELOG.md")))
	if m == nil {
		t.Fatal("CHANGELOG.md has no version section (## [X.Y.Z] - date)")
	}
	return m[1]
}

// TestWorkflowsPinTheNewestRelease: every reusable workflow installs, by
// default, the newest smpctl this repository's CHANGELOG.md describes, so a
// release bumps the pin in the same pull request and no workflow pins a
// version that no release makes.
func TestWorkflowsPinTheNewestRelease(t *testing.T) {
	want := "v" + newestChangelogVersion(t)
	checked := 0
	for _, rel := range []string{".github/workflows/cd.yml", ".github/workflows/smoke.yml", ".github/workflows/release.yml"} {
		wc := mustLoad(t, rel).WorkflowCall()
		if wc == nil {
			t.Fatalf("%s is not a reusable workflow", rel)
		}
		for _, in := range wc.Inputs {
			if in.Name.Value != "smpctl-version" {
				continue
			}
			checked++
			if in.Default == nil || in.Default.Value != want {
				got := "(none)"
				if in.Default != nil {
					got = in.Default.Value
				}
				t.Errorf("%s: smpctl-version defaults to %s; CHANGELOG.md's newest release is %s", rel, got, want)
			}
		}
	}
	if checked != 3 {
		t.Fatalf("found smpctl-version in %d of 3 reusable workflows", checked)
	}
	d := mustLoad(t, ".github/workflows/delivery-release.yml")
	job := d.Workflow.Jobs["release"]
	if job == nil || job.WorkflowCall == nil || job.WorkflowCall.Uses.Value != "./.github/workflows/release.yml" {
		t.Fatal("delivery-release.yml must call ./.github/workflows/release.yml")
	}
	in := job.WorkflowCall.Inputs["smpctl-version"]
	if in == nil || in.Value == nil || in.Value.Value != "source" {
		t.Fatal("delivery-release.yml must build smpctl from source (smpctl-version: source): no release exists before the first")
	}
}
