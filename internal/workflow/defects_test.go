package workflow

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/plan"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// The seed's CD defects (docs/design.md §2), each pinned by a test that runs the
// workflow's own scripts. Here smpctl (build, image, sign, scan, deploy) is
// played by a stand-in that records its arguments and prints what the test
// scripts it to print, to check the workflow's shell plumbing on outputs the
// real commands do not give (a mutable tag, no digest). Their twins run the
// same steps with the real smpctl: TestReusableCDReleasesOrderSvc and
// TestReusableCDReleasesANewService (cd_local_integration_test.go).

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// standIn writes the stand-in smpctl into a fresh directory; it appends
// "$*" to $STANDIN_LOG and prints $STANDIN_OUT_<SUBCOMMAND>.
func standIn(t *testing.T) (dir, logFile string) {
	t.Helper()
	dir = t.TempDir()
	logFile = filepath.Join(dir, "calls.log")
	script := `#!/usr/bin/env bash
# Stand-in smpctl for workflow tests: records the call, prints the scripted output.
echo "$*" >>"$STANDIN_LOG"
key=$1; [ "$1" = image ] && key=$2
var="STANDIN_OUT_$(echo "$key" | tr 'a-z-' 'A-Z_')"
[ -n "${!var}" ] && printf '%s\n' "${!var}"
exit "${STANDIN_EXIT:-0}"
`
	if err := os.WriteFile(filepath.Join(dir, "smpctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, logFile
}

type stepRun struct {
	err     error
	outputs map[string]string
	calls   []string
	stderr  string
}

// runStep executes one run: step of the reusable CD under the stand-in.
func runStep(t *testing.T, jobID, stepID string, scope Scope, extraEnv ...string) stepRun {
	t.Helper()
	f := mustLoad(t, ".github/workflows/cd.yml")
	steps, err := f.Steps(jobID, scope)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.ID != stepID && s.Name != stepID {
			continue
		}
		bin, logFile := standIn(t)
		out := filepath.Join(t.TempDir(), "output")
		if err := os.WriteFile(out, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s.Dir = ""
		env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"GITHUB_OUTPUT="+out, "GITHUB_SHA="+fakeSHA, "GITHUB_ACTOR=dev", "RUNNER_TEMP="+t.TempDir(), "STANDIN_LOG="+logFile)
		env = append(env, extraEnv...)
		var stderr bytes.Buffer
		r := stepRun{err: s.Exec(testctx.New(t), t.TempDir(), env, 0, &bytes.Buffer{}, &stderr)}
		r.stderr = stderr.String()
		raw, _ := os.ReadFile(out)
		if r.outputs, err = ParseOutputs(string(raw)); err != nil {
			t.Fatal(err)
		}
		calls, _ := os.ReadFile(logFile)
		r.calls = strings.Split(strings.TrimSpace(string(calls)), "\n")
		return r
	}
	t.Fatalf("job %s has no step %q", jobID, stepID)
	return stepRun{}
}

// signerRegexp is cd.yml's default keyless signer identity.
const signerRegexp = `^https://github\.com/smp/delivery/\.github/workflows/cd\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+$`

func cdScope(ref string, needs map[string]any) Scope {
	return Scope{Contexts: map[string]any{
		"github": map[string]any{"ref": ref, "sha": fakeSHA, "repository": "smp/order-svc",
			"server_url": "https://github.com", "run_id": float64(7), "actor": "dev"},
		"inputs": map[string]any{"service": "order-svc", "image": "ghcr.io/smp/order-svc",
			"gitops-repository": "https://github.com/smp/smp-gitops.git", "smpctl-version": "v0.1.0", "go-version": "1.26",
			"working-directory": ".", "signing": "keyless", "signer-identity-regexp": signerRegexp},
		"needs":   needs,
		"secrets": map[string]any{"GITOPS_TOKEN": "t0ken"},
	}}
}

func outputs(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"result": "success", "outputs": m}
}

// TestTagsNeverRebuild: on every release and rc tag of plan.Table, no job
// that runs builds an image; the promote job resolves the digest built for
// the commit and tags it.
var keyFlag = regexp.MustCompile(`--key \S+`)

func TestTagsNeverRebuild(t *testing.T) {
	t.Parallel() // its own git directory; see TestMain
	root := repoRoot(t)
	cd := mustLoad(t, serviceCD)
	gitDir, smpctlDir := planStepGit(t), realSmpctl(t)
	reusable := mustLoad(t, ".github/workflows/cd.yml")
	builds := regexp.MustCompile(`smpctl build|docker (buildx )?build|ko build|buildah`)
	tags := 0
	for _, tc := range plan.Table {
		p, err := plan.For(nil, tc.Ref)
		if err != nil || p.Kind != plan.Tag || p.Environment == "" {
			continue
		}
		tags++
		var log []string
		out, err := cd.Simulate(Run{
			Github:  map[string]any{"ref": fullRef(p), "sha": fakeSHA, "event_name": "push"},
			Exec:    contractExec(t, root, gitDir, smpctlDir, &log),
			Resolve: resolver(root),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range out.Ran() {
			id := strings.TrimPrefix(path, "cd/")
			if _, ok := reusable.Workflow.Jobs[id]; !ok || !strings.HasPrefix(path, "cd/") {
				continue
			}
			steps, err := reusable.Steps(id, Scope{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if builds.MatchString(s.Run) || strings.Contains(s.Uses, "build-push-action") {
					t.Errorf("tag %s runs job %s, whose step %q builds an image", p.Name, id, s.Name)
				}
			}
		}
		if out.Jobs["cd/build"].Result != Skipped {
			t.Errorf("tag %s: the build job ran", p.Name)
		}
	}
	if tags < 8 {
		t.Fatalf("checked %d deploying tags; plan.Table has more", tags)
	}

	// The promote step, run for real: resolve → verify → tag that digest.
	scope := cdScope("refs/tags/v3.3.0", map[string]any{"plan": outputs("version", "3.3.0", "environment", "prod")})
	r := runStep(t, "promote", "promote", scope, "STANDIN_OUT_RESOLVE=ghcr.io/smp/order-svc@"+digestA)
	if r.err != nil {
		t.Fatalf("promote step failed: %v\n%s", r.err, r.stderr)
	}
	want := []string{
		"image resolve --image ghcr.io/smp/order-svc --source-commit " + fakeSHA,
		"image verify --image ghcr.io/smp/order-svc@" + digestA + " --certificate-identity-regexp " + signerRegexp +
			" --certificate-oidc-issuer https://token.actions.githubusercontent.com" +
			" --certificate-source-repository https://github.com/smp/order-svc --certificate-source-ref refs/heads/main",
		"image tag --image ghcr.io/smp/order-svc@" + digestA + " --tag 3.3.0",
	}
	if strings.Join(r.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("promote called\n%s\nwant\n%s", strings.Join(r.calls, "\n"), strings.Join(want, "\n"))
	}
	if got := r.outputs["image"]; got != "ghcr.io/smp/order-svc:3.3.0@"+digestA {
		t.Errorf("promote output image = %q", got)
	}
	// With signing: key, the same step verifies with the public key input.
	scope.Contexts["inputs"].(map[string]any)["signing"] = "key"
	r = runStep(t, "promote", "promote", scope, "STANDIN_OUT_RESOLVE=ghcr.io/smp/order-svc@"+digestA)
	if r.err != nil {
		t.Fatalf("promote step (signing: key) failed: %v\n%s", r.err, r.stderr)
	}
	want[1] = "image verify --image ghcr.io/smp/order-svc@" + digestA + " --key KEYFILE"
	// The public key is written to a temporary file whose name varies.
	for i, c := range r.calls {
		r.calls[i] = keyFlag.ReplaceAllString(c, "--key KEYFILE")
	}
	if strings.Join(r.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("promote (signing: key) called\n%s\nwant\n%s", strings.Join(r.calls, "\n"), strings.Join(want, "\n"))
	}
}

// TestNoMutableTagReachesAnEnvironmentFile: the build and promote steps
// refuse to publish a reference without a digest or with a mutable tag,
// and every deploy passes the digest-pinned reference on.
func TestNoMutableTagReachesAnEnvironmentFile(t *testing.T) {
	t.Parallel()
	main := cdScope("refs/heads/main", map[string]any{"plan": outputs("build", "true", "environment", "dev")})
	for _, bad := range []string{
		"ghcr.io/smp/order-svc:main",
		"ghcr.io/smp/order-svc:latest@" + digestA,
		"ghcr.io/smp/order-svc:main@" + digestA,
		"ghcr.io/smp/order-svc:sha-0123456",
		"",
	} {
		r := runStep(t, "build", "build", main, "STANDIN_OUT_BUILD="+bad)
		if r.err == nil || r.outputs["image"] != "" {
			t.Errorf("the build step accepted %q from smpctl build and published image=%q", bad, r.outputs["image"])
		}
	}
	good := "ghcr.io/smp/order-svc:sha-0123456@" + digestA
	r := runStep(t, "build", "build", main, "STANDIN_OUT_BUILD=building...\n"+good)
	if r.err != nil || r.outputs["image"] != good {
		t.Fatalf("the build step refused a good reference: %v, image=%q\n%s", r.err, r.outputs["image"], r.stderr)
	}

	tag := cdScope("refs/tags/v3.3.0-rc.1", map[string]any{"plan": outputs("version", "3.3.0-rc.1", "environment", "staging")})
	for _, bad := range []string{"", "not found", "ghcr.io/smp/order-svc:main"} {
		r := runStep(t, "promote", "promote", tag, "STANDIN_OUT_RESOLVE="+bad)
		if r.err == nil || r.outputs["image"] != "" {
			t.Errorf("the promote step accepted %q from smpctl image resolve", bad)
		}
		for _, c := range r.calls {
			if strings.HasPrefix(c, "image tag") {
				t.Errorf("the promote step tagged after resolve printed %q: %s", bad, c)
			}
		}
	}

	pinned := regexp.MustCompile(`--image ghcr\.io/smp/order-svc:(sha-[0-9a-f]{7}|[0-9]+\.[0-9]+\.[0-9]+(-rc\.[0-9]+)?)@sha256:[0-9a-f]{64}( |$)`)
	for _, tc := range []struct{ job, need, image string }{
		{"deploy-dev", "build", good},
		{"deploy-staging", "promote", "ghcr.io/smp/order-svc:3.3.0-rc.1@" + digestA},
		{"deploy-prod", "promote", "ghcr.io/smp/order-svc:3.3.0@" + digestA},
	} {
		scope := cdScope("refs/heads/main", map[string]any{
			"plan": outputs("source-time", "2026-11-25T10:00:00Z", "version", "3.3.0"), tc.need: outputs("image", tc.image),
		})
		step := "smpctl deploy (" + strings.TrimPrefix(tc.job, "deploy-") + ")"
		r := runStep(t, tc.job, step, scope)
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", tc.job, r.err, r.stderr)
		}
		deploys := 0
		for _, c := range r.calls {
			if !strings.HasPrefix(c, "deploy ") {
				continue
			}
			deploys++
			if !pinned.MatchString(c) {
				t.Errorf("%s deploys without a digest-pinned immutable reference: smpctl %s", tc.job, c)
			}
			if !strings.Contains(c, "--source-commit "+fakeSHA) || !strings.Contains(c, "--run https://github.com/smp/order-svc/actions/runs/7") {
				t.Errorf("%s: the deploy lacks the audit trailers' inputs: smpctl %s", tc.job, c)
			}
			// prod refuses a deploy without a deployer (exit 2); every environment records one.
			if !strings.Contains(c, "--by dev") {
				t.Errorf("%s deploys without --by \"$GITHUB_ACTOR\": smpctl %s", tc.job, c)
			}
		}
		if deploys != 1 {
			t.Errorf("%s ran smpctl deploy %d times, want once: %v", tc.job, deploys, r.calls)
		}
	}
}

// TestCommitsHaveAnIdentity: the seed's staging and prod jobs committed
// without user.name/email, so `git commit` failed. Every job that writes
// git (deploys, the release tag) runs with an author and committer.
func TestCommitsHaveAnIdentity(t *testing.T) {
	t.Parallel()
	scope := cdScope("refs/heads/main", map[string]any{})
	checked := 0
	for _, rel := range []string{".github/workflows/cd.yml", ".github/workflows/release.yml"} {
		f := mustLoad(t, rel)
		for _, id := range f.JobIDs() {
			steps, err := f.Steps(id, scope)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if !strings.Contains(s.Run, "smpctl deploy") && !strings.Contains(s.Run, "smpctl approve") && !strings.Contains(s.Run, "smpctl release tag") {
					continue
				}
				checked++
				for _, k := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"} {
					if s.Env[k] == "" {
						t.Errorf("%s job %s step %q writes git without %s", rel, id, s.Name, k)
					}
				}
			}
		}
	}
	if checked < 6 {
		t.Fatalf("found %d git-writing steps; expected three deploys, two approvals and the release tag", checked)
	}
}

// TestGitOpsPushesRetry: the seed pushed with a bare `git push`, so two CD
// runs at once lost one deploy. Every GitOps write goes through `smpctl
// deploy` (which re-applies the change on the new head and retries — tested
// in its package); no script commits or pushes by hand, and each deploy job
// queues per environment instead of cancelling a push half-way.
func TestGitOpsPushesRetry(t *testing.T) {
	t.Parallel()
	f := mustLoad(t, ".github/workflows/cd.yml")
	byHand := regexp.MustCompile(`\bgit\s+(push|commit)\b|\byq\b`)
	for _, id := range f.JobIDs() {
		job := f.Workflow.Jobs[id]
		steps, err := f.Steps(id, cdScope("refs/heads/main", map[string]any{}))
		if err != nil {
			t.Fatal(err)
		}
		deploys := false
		for _, s := range steps {
			if byHand.MatchString(s.Run) {
				t.Errorf("job %s step %q writes git by hand; use smpctl deploy", id, s.Name)
			}
			deploys = deploys || strings.Contains(s.Run, "smpctl deploy")
		}
		if !strings.HasPrefix(id, "deploy-") {
			continue
		}
		if !deploys {
			t.Errorf("job %s does not run smpctl deploy", id)
		}
		env := strings.TrimPrefix(id, "deploy-")
		if job.Concurrency == nil || job.Concurrency.Group == nil || job.Concurrency.Group.Value != "gitops-"+env {
			t.Errorf("job %s has no concurrency group gitops-%s", id, env)
		}
		if job.Concurrency != nil && (job.Concurrency.CancelInProgress == nil || job.Concurrency.CancelInProgress.Value) {
			t.Errorf("job %s: cancel-in-progress must be false, or a newer run kills a push half-way", id)
		}
	}
}
