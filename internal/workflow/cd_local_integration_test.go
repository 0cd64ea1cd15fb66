//go:build integration

package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rhysd/actionlint"

	"github.com/smp/delivery/internal/ciidentity/ciidentitytest"
	"github.com/smp/delivery/internal/testkit/imagetest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// The reusable CD's jobs, run for real: a service repository's CD
// (.github/workflows/cd.yml calling the reusable cd.yml) is simulated job
// by job (Simulate: triggers, `if:`s, needs and outputs as GitHub evaluates
// them), and every job that runs executes its run: steps exactly as
// written, with this checkout's smpctl, against an in-process OCI registry
// and a bare smp-gitops remote. Only what GitHub (or a third party) hosts is
// stood in:
//   - actions/checkout is the service repository at the pushed commit; jobs
//     without a checkout run in an empty workspace;
//   - actions/setup-go is this machine's go with GOTOOLCHAIN set to the newest
//     1.26 patch (setupGoVersion), what setup-go installs for "1.26";
//   - docker/login-action: the in-process registry takes no credentials;
//   - "Install ..." steps: the job's PATH holds only what its steps install
//     (smpctl built from this checkout, the go install'd tools from
//     scripts/tools.sh at the same pins) plus what an ubuntu runner has
//     (go, git, curl, jq): a tool a step uses but no step installs fails;
//   - the inputs naming GitHub-hosted places: image (ghcr.io → the registry),
//     gitops-repository (GitHub → the bare remote); and signing: key with a
//     fresh key pair, since keyless signing needs the job's GitHub OIDC token
//     (its step is covered by TestKeylessSigningSignsTheSBOMsThenTheImage,
//     with cosign stood in);
//   - the GitHub REST API's review history of the run (githubAPI, the
//     contract of GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals,
//     API version 2022-11-28) and Slack's incoming webhook (slackWebhook);
//   - the service's smoke job (smoke.yml), which needs the deployed service
//     to answer on its URL.
// The stand-in tests of defects_test.go and keyless_test.go check the same
// steps' plumbing with a recording smpctl; these are their twins with the
// real one.

// Who acts in the release these tests play: dave pushes the tags (github.actor,
// the deployer); alice (an approver) reviews staging and carol (a release
// manager) production, as delivery.yaml's scaffold lists them.
const (
	deployer        = "dave"
	stagingReviewer = "alice"
	prodReviewer    = "carol"
)

// review is one entry of the run's review history, as GitHub returns it.
type review struct {
	State        string           `json:"state"`
	Comment      string           `json:"comment"`
	Environments []map[string]any `json:"environments"`
	User         map[string]any   `json:"user"`
}

// approved is a review that approved env (a GitHub environment name) by login.
func approved(login, env string) review {
	return reviewBy(login, env, "approved")
}

func reviewBy(login, env, state string) review {
	return review{
		State:   state,
		Comment: "",
		Environments: []map[string]any{{
			"id": 161088068, "node_id": "MDExOkVudmlyb25tZW50MTYxMDg4MDY4", "name": env,
			"url":        "https://api.github.com/repos/smp/svc/environments/" + env,
			"html_url":   "https://github.com/smp/svc/deployments/activity_log?environments_filter=" + env,
			"created_at": "2026-11-20T09:00:00Z", "updated_at": "2026-11-20T09:00:00Z",
		}},
		User: map[string]any{"login": login, "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false},
	}
}

// githubAPI stands in for api.github.com: the review history of each run
// (GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals), answered
// only with the job's token; anything else is 404.
type githubAPI struct {
	srv     *httptest.Server
	token   string
	mu      sync.Mutex
	reviews map[string][]review // by request path
}

func newGitHubAPI(t *testing.T) *githubAPI {
	api := &githubAPI{token: "ghs_standin" + fmt.Sprint(time.Now().UnixNano()), reviews: map[string][]review{}}
	api.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		defer api.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+api.token {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		rs, ok := api.reviews[r.URL.Path]
		if r.Method != http.MethodGet || !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(rs)
	}))
	t.Cleanup(api.srv.Close)
	return api
}

func (a *githubAPI) setReviews(repo string, runID int, rs []review) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rs == nil {
		rs = []review{} // GitHub answers [] for a run nobody reviewed
	}
	a.reviews[fmt.Sprintf("/repos/%s/actions/runs/%d/approvals", repo, runID)] = rs
}

// slackWebhook stands in for a Slack incoming webhook: it keeps the bodies
// posted to it and answers "ok", as Slack does.
type slackWebhook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	posted []string
}

func newSlackWebhook(t *testing.T) *slackWebhook {
	s := &slackWebhook{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posted = append(s.posted, string(b))
		s.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// cdWorld is one service repository with everything its CD reaches.
type cdWorld struct {
	t        *testing.T
	svc      string
	checkout string // the service repository, at sha
	sha      string
	registry string
	gitops   string // the bare smp-gitops remote
	reusable *File
	service  *File
	keyPEM   string
	pubPEM   string
	api      *githubAPI
	slack    *slackWebhook
	runID    int
	failed   map[string]*stepFailure // by job path, for the last run
	// passed is the standard output of each step that passed in the last
	// run, by job path and step name.
	passed map[string]map[string]string
	// with are inputs the test adds to what the service's CD passes (the
	// places it starts itself, such as a Prometheus).
	with map[string]any
	// oidc stands in for GitHub's OIDC issuer: jobs with id-token: write
	// get its token request variables, as GitHub gives them.
	oidc *ciidentitytest.Issuer
	// jobWorkflow is the job_workflow_ref of the CD's jobs (exec sets it).
	jobWorkflow string
	// secrets are secrets the test adds to what the service's CD passes.
	secrets map[string]any
}

// newCDWorld commits the service in dir as a new repository on main, and
// makes a registry, a bare smp-gitops remote that knows the service (the
// scaffold's delivery.yaml, without its weekend freeze: the test runs any
// day; prod's notifications go to the Slack stand-in), a cosign key pair and the GitHub and Slack stand-ins.
func newCDWorld(t *testing.T, svc, dir string) *cdWorld {
	t.Helper()
	w := &cdWorld{t: t, svc: svc, checkout: dir, registry: imagetest.Registry(t),
		reusable: mustLoad(t, ".github/workflows/cd.yml"), api: newGitHubAPI(t), slack: newSlackWebhook(t), runID: 100,
		oidc: ciidentitytest.NewIssuer(t)}
	git(t, dir, "init", "-q", "--initial-branch=main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "feat: "+svc)
	w.sha = git(t, dir, "rev-parse", "HEAD")
	var err error
	if w.service, err = Load(filepath.Join(dir, ".github/workflows/cd.yml")); err != nil {
		t.Fatal(err)
	}

	smpctl := filepath.Join(realSmpctl(t), "smpctl")
	work := filepath.Join(t.TempDir(), "smp-gitops")
	w.gitops = filepath.Join(t.TempDir(), "smp-gitops.git")
	run(t, "", smpctl, "gitops", "init", work, "--remote", w.gitops)
	run(t, "", smpctl, "gitops", "add-service", svc, "--critical", "--image", w.image(), "--repository", "smp/"+svc, "--dir", work)
	// Prod's notifications, named as docs/workflows.md says the CD's
	// slack-webhook secret reaches smpctl; and every environment takes CI
	// writes only from a proven run of the service's repository, in the
	// CD's job of that environment (the scaffold says prod's runs in
	// "production"), in smp/delivery's CD at a release tag.
	cfg := readFile(t, filepath.Join(work, "delivery.yaml")) + "notifications:\n  slack:\n    - webhookEnv: SLACK_WEBHOOK_PROD\n      environments: [prod]\n"
	for _, env := range []string{"dev", "staging", "prod"} {
		ns := "    namespace: smp-" + env + "\n"
		if !strings.Contains(cfg, ns) {
			t.Fatalf("the scaffold's delivery.yaml has no %q", ns)
		}
		cfg = strings.Replace(cfg, ns, ns+"    requireOIDC: true\n", 1)
	}
	writeFile(t, work, "delivery.yaml", cfg)
	git(t, work, "commit", "-qam", "notifications: prod to Slack; requireOIDC everywhere")
	git(t, work, "push", "-q", "origin", "HEAD:main")
	run(t, "", smpctl, "freeze", "remove", "--gitops", w.gitops, "--name", "weekend-prod")

	keys := t.TempDir()
	cmd := exec.CommandContext(testctx.New(t), smpctl, "sign", "generate-key", "--output-dir", keys)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=cd-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smpctl sign generate-key: %v\n%s", err, out)
	}
	w.keyPEM, w.pubPEM = readFile(t, filepath.Join(keys, "cosign.key")), readFile(t, filepath.Join(keys, "cosign.pub"))
	return w
}

func (w *cdWorld) image() string { return w.registry + "/smp/" + w.svc }

// manifestType asks the registry for repo:tag's manifest (the distribution API) and returns
// its media type, or the HTTP status when there is none.
func (w *cdWorld) manifestType(repo, tag string) string {
	req, err := http.NewRequest(http.MethodHead, "http://"+w.registry+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.Status
	}
	return resp.Header.Get("Content-Type")
}

// push runs the service's CD for a push of ref at the service's commit:
// actor pushed it (and started the run: github.triggering_actor), reviews
// is the run's review history. It returns the outcome; w.failed holds the
// failing step of each failed job.
func (w *cdWorld) push(ref, actor string, reviews []review) *Outcome {
	t := w.t
	t.Helper()
	w.runID++
	repo := "smp/" + w.svc
	w.api.setReviews(repo, w.runID, reviews)
	w.failed, w.passed = map[string]*stepFailure{}, map[string]map[string]string{}
	gh := map[string]any{
		"ref": ref, "sha": w.sha, "event_name": "push", "repository": repo,
		"server_url": "https://github.com", "api_url": w.api.srv.URL, "run_id": float64(w.runID),
		"actor": actor, "triggering_actor": actor, "token": w.api.token,
	}
	triggered, err := w.service.TriggeredByPush(ref)
	if err != nil || !triggered {
		t.Fatalf("a push of %s does not trigger the service's CD (%v)", ref, err)
	}
	out, err := w.service.Simulate(Run{Github: gh, Exec: w.exec(gh), Resolve: resolver(repoRoot(t))})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exec runs the reusable CD's jobs; the service's own smoke job is not run.
func (w *cdWorld) exec(gh map[string]any) Executor {
	return func(path string, job *actionlint.Job, scope Scope) (Result, map[string]map[string]string) {
		t := w.t
		id, ok := strings.CutPrefix(path, "cd/")
		if !ok {
			t.Logf("job %s not run: smpctl smoke needs the deployed service answering on its URL", path)
			return Success, nil
		}
		// The reusable workflow the job runs in, as GitHub names it in the
		// token's job_workflow_ref: the caller's uses, its tag as a ref.
		caller := w.service.Workflow.Jobs["cd"]
		if caller == nil || caller.WorkflowCall == nil || caller.WorkflowCall.Uses == nil {
			t.Fatalf("the service's cd job does not call the reusable CD")
		}
		wf, ref, _ := strings.Cut(caller.WorkflowCall.Uses.Value, "@")
		if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(ref) {
			ref = "refs/tags/" + ref
		}
		w.jobWorkflow = wf + "@" + ref
		inputs := map[string]any{}
		for k, v := range scope.Contexts["inputs"].(map[string]any) {
			inputs[k] = v
		}
		// The GitHub-hosted places the service names, replaced (see the file comment).
		if got, want := inputs["image"], "ghcr.io/smp/"+w.svc; got != want {
			t.Fatalf("the service's CD passes image %v, want %s", got, want)
		}
		if got, want := inputs["chart-repository"], "ghcr.io/smp/charts"; got != want {
			t.Fatalf("the service's CD publishes charts to %v, want %s (what the scaffold's ApplicationSets read)", got, want)
		}
		inputs["image"], inputs["gitops-repository"] = w.image(), w.gitops
		inputs["chart-repository"] = w.registry + "/smp/charts"
		inputs["signing"], inputs["cosign-public-key"] = "key", w.pubPEM
		for k, v := range w.with {
			inputs[k] = v
		}
		ctx := map[string]any{}
		for k, v := range scope.Contexts {
			ctx[k] = v
		}
		ctx["inputs"] = inputs
		secrets := map[string]any{"GITOPS_TOKEN": "", "cosign-key": w.keyPEM, "cosign-password": "cd-test", "slack-webhook": w.slack.srv.URL}
		for k, v := range w.secrets {
			secrets[k] = v
		}
		ctx["secrets"] = secrets
		scope = Scope{Contexts: ctx, Status: scope.Status}

		steps, err := w.reusable.Steps(id, scope)
		if err != nil {
			t.Fatal(err)
		}
		workspace := t.TempDir() // no checkout: an empty workspace
		for _, s := range steps {
			if strings.HasPrefix(s.Uses, "actions/checkout@") {
				workspace = w.checkout
			}
		}
		bin, runnerTemp := t.TempDir(), t.TempDir()
		environ := w.runnerEnv(gh, bin, runnerTemp, id)
		outputs := map[string]map[string]string{}
		stepsCtx := map[string]any{}
		ctx["steps"] = stepsCtx
		for i := range steps {
			// A step's env may read the outputs of the steps before it: evaluate it now.
			if steps, err = w.reusable.Steps(id, scope); err != nil {
				t.Fatal(err)
			}
			s := steps[i]
			if s.If != "" {
				ok, err := EvalCondition(s.If, scope)
				if err != nil {
					t.Fatalf("job %s step %q: if: %v", id, s.Name, err)
				}
				if !ok {
					continue
				}
			}
			switch {
			case s.Uses != "":
				standInAction(t, id, s)
				continue
			case strings.HasPrefix(s.Name, "Install "):
				install(t, s, bin)
				continue
			}
			outFile := filepath.Join(t.TempDir(), "output")
			env := append(append([]string{}, environ...), "GITHUB_OUTPUT="+outFile, "GITHUB_PATH="+filepath.Join(t.TempDir(), "path"))
			var stdout, stderr bytes.Buffer
			built := func() {}
			if strings.Contains(s.Run, "smpctl build") {
				built = firstBuildAlone()
			}
			start := time.Now()
			err := s.Exec(testctx.New(t), workspace, env, 0, &stdout, &stderr)
			built()
			if err != nil {
				w.failed[path] = &stepFailure{Step: s.Name, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
				t.Logf("job %s: step %q failed: %v\n%s", id, s.Name, err, tail(stderr.String()))
				return Failure, nil
			}
			t.Logf("job %s: step %q passed in %s", id, s.Name, time.Since(start).Round(time.Millisecond))
			if w.passed[path] == nil {
				w.passed[path] = map[string]string{}
			}
			w.passed[path][s.Name] = stdout.String()
			if s.ID != "" {
				raw, _ := os.ReadFile(outFile)
				outs, err := ParseOutputs(string(raw))
				if err != nil {
					t.Fatal(err)
				}
				outputs[s.ID] = outs
				stepsCtx[s.ID] = map[string]any{"outputs": toAnyMap(outs), "outcome": "success", "conclusion": "success"}
			}
		}
		return Success, outputs
	}
}

// runnerEnv is job's environment on an ubuntu runner: this machine's
// environment without its PATH, workspace and smpctl settings, the PATH of
// a runner (the job's installs first), setup-go's Go, the GITHUB_*
// variables the runner sets and, where the job has id-token: write, the
// OIDC token request variables (w.oidc's, minting this run's claims).
func (w *cdWorld) runnerEnv(gh map[string]any, bin, runnerTemp, job string) []string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		w.t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "GOWORK" || k == "GOTOOLCHAIN" || strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "SMP_") || strings.HasPrefix(k, "RUNNER_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env,
		"PATH="+strings.Join([]string{bin, filepath.Dir(goBin), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}, string(os.PathListSeparator)),
		"GOTOOLCHAIN="+setupGoVersion,
		"RUNNER_TEMP="+runnerTemp,
		"GITHUB_SHA="+w.sha, "GITHUB_REF="+ToString(gh["ref"]), "GITHUB_REPOSITORY="+ToString(gh["repository"]),
		"GITHUB_RUN_ID="+ToString(gh["run_id"]), "GITHUB_ACTOR="+ToString(gh["actor"]),
		"GITHUB_TRIGGERING_ACTOR="+ToString(gh["triggering_actor"]),
		"GITHUB_SERVER_URL="+ToString(gh["server_url"]), "GITHUB_API_URL="+ToString(gh["api_url"]),
		// smpctl scan's database: built by the step itself, in a directory of
		// this test binary (a concurrent test binary could be writing the
		// user's cache); the CD tests run in parallel and share it, as
		// parallel jobs on one runner would (vulnscan.FetchDB's first build
		// wins the rename).
		"SMP_DB_CACHE="+binaryDir(w.t, "vulndb"),
	), w.oidcEnv(gh, job)...)
}

// oidcEnv is what GitHub sets in a job with id-token: write: the token
// request variables, here w.oidc's, whose tokens say this run (repository,
// run id, actor, commit, the job's environment). The issuer is GitHub's in
// production: SMP_OIDC_ISSUER points smpctl --oidc at the stand-in.
func (w *cdWorld) oidcEnv(gh map[string]any, job string) []string {
	j := w.reusable.Workflow.Jobs[job]
	if j == nil || j.Permissions == nil || j.Permissions.Scopes["id-token"] == nil ||
		j.Permissions.Scopes["id-token"].Value == nil || j.Permissions.Scopes["id-token"].Value.Value != "write" {
		return nil
	}
	repo, env := ToString(gh["repository"]), ""
	if j.Environment != nil && j.Environment.Name != nil {
		env = j.Environment.Name.Value
	}
	for k, v := range map[string]string{"repository": repo, "run_id": ToString(gh["run_id"]), "run_attempt": "1",
		"actor": ToString(gh["actor"]), "sha": w.sha, "ref": ToString(gh["ref"]), "environment": env,
		"sub": "repo:" + repo + ":environment:" + env, "workflow_ref": repo + "/.github/workflows/cd.yml@" + ToString(gh["ref"]),
		"job_workflow_ref": w.jobWorkflow} {
		w.oidc.Set(k, v)
	}
	out := []string{"SMP_OIDC_ISSUER=" + w.oidc.URL}
	for k, v := range w.oidc.Env() {
		out = append(out, k+"="+v)
	}
	return out
}

// standInAction accepts the actions GitHub hosts (see the file comment)
// and fails on any other: a new action needs a stand-in decided here.
func standInAction(t *testing.T, job string, s Step) {
	t.Helper()
	for _, a := range []string{"actions/checkout@", "actions/setup-go@", "docker/login-action@"} {
		if strings.HasPrefix(s.Uses, a) {
			return
		}
	}
	t.Fatalf("job %s uses %s, which this test has no stand-in for", job, s.Uses)
}

// firstBuild is held by the first CD build step of this test binary while
// it runs; the build steps of the other CD tests wait for it. They all
// compile the standard library and the services' dependencies with
// setupGoVersion's toolchain, and on a fresh machine concurrent go builds
// each compile what none has cached yet (the go command does not share work
// in progress between processes): the first fills the cache for the rest.
// Warm, the others wait one build's time.
var (
	firstBuild     sync.Mutex
	firstBuildDone bool
)

// firstBuildAlone waits until no first build runs and returns what the step
// calls when it is done.
func firstBuildAlone() (done func()) {
	firstBuild.Lock()
	if firstBuildDone {
		firstBuild.Unlock()
		return func() {}
	}
	return func() {
		firstBuildDone = true
		firstBuild.Unlock()
	}
}

var smpctlInstall = regexp.MustCompile(`go install "github\.com/smp/delivery/cmd/smpctl@\$SMPCTL_VERSION"`)

// install puts what an "Install ..." step installs into the job's bin:
// smpctl built from this checkout (no release of it exists to go install),
// and each go install'd tool from this machine's PATH, where
// scripts/tools.sh put it at the pin the step names.
func install(t *testing.T, s Step, bin string) {
	t.Helper()
	var links []string
	if smpctlInstall.MatchString(s.Run) {
		links = append(links, filepath.Join(realSmpctl(t), "smpctl"))
	}
	for _, m := range installed.FindAllStringSubmatch(s.Run, -1) {
		p, err := exec.LookPath(binaryOf(m[1]))
		if err != nil {
			t.Fatalf("step %q installs %s, which is not on PATH: run scripts/tools.sh %s", s.Name, m[1], binaryOf(m[1]))
		}
		links = append(links, p)
	}
	if len(links) == 0 {
		t.Fatalf("step %q installs nothing this test knows how to stand in for", s.Name)
	}
	for _, l := range links {
		if err := os.Symlink(l, filepath.Join(bin, filepath.Base(l))); err != nil {
			t.Fatal(err)
		}
	}
}

// gitopsFile is a file of the smp-gitops remote's main branch ("" if absent).
func (w *cdWorld) gitopsFile(path string) string {
	out, err := exec.Command("git", "--git-dir", w.gitops, "show", "main:"+path).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// lastCommit is the message of the newest commit on the remote's main.
func (w *cdWorld) lastCommit() string {
	return git(w.t, "", "--git-dir", w.gitops, "log", "-1", "--format=%B", "main")
}

var (
	builtRef = regexp.MustCompile(`^(\S+):sha-([0-9a-f]{7})@(sha256:[0-9a-f]{64})$`)
	yamlLine = func(k, v string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\s*` + k + `: "?` + regexp.QuoteMeta(v) + `"?(\s+#.*)?$`)
	}
)

// release plays a service's release through its CD: main builds once and
// deploys dev; v0.1.0-rc.1 tags that digest and deploys staging with the
// staging reviewer's approval; v0.1.0 without a reviewer stops at the
// approval (the deployer cannot approve their own prod release), and with
// the release manager's review deploys prod and tells Slack.
func (w *cdWorld) release() {
	t := w.t
	t.Helper()
	want := func(out *Outcome, jobs ...string) {
		t.Helper()
		if got := strings.Join(out.Ran(), " "); got != strings.Join(jobs, " ") {
			t.Fatalf("jobs that ran: %s\nwant:           %s", got, strings.Join(jobs, " "))
		}
		for p, f := range w.failed {
			t.Fatalf("job %s failed at step %q: %v", p, f.Step, f)
		}
	}

	// main: plan → build (the service's default main package) → deploy-dev.
	out := w.push("refs/heads/main", deployer, nil)
	want(out, "cd", "cd/build", "cd/deploy-dev", "cd/plan", "smoke", "smoke/smoke")
	built := out.Jobs["cd/build"].Outputs["image"]
	m := builtRef.FindStringSubmatch(built)
	if m == nil || m[1] != w.image() || m[2] != w.sha[:7] {
		t.Fatalf("the build job published image=%q, want %s:sha-%s@sha256:…", built, w.image(), w.sha[:7])
	}
	digest := m[3]
	if got := out.Jobs["cd"].Outputs["expect-version"]; got != "sha-"+w.sha[:7] {
		t.Errorf("the CD reports expect-version %q, want sha-%s", got, w.sha[:7])
	}
	dev := w.gitopsFile("environments/dev/" + w.svc + ".yaml")
	if !yamlLine("digest", digest).MatchString(dev) || !yamlLine("tag", "sha-"+w.sha[:7]).MatchString(dev) {
		t.Fatalf("environments/dev/%s.yaml after the main run:\n%s\nwant tag sha-%s, digest %s", w.svc, dev, w.sha[:7], digest)
	}
	if msg := w.lastCommit(); !strings.Contains(msg, "Deployed-By: "+deployer) || !strings.Contains(msg, "Source-Commit: "+w.sha) {
		t.Errorf("the dev deploy commit lacks Deployed-By: %s or Source-Commit:\n%s", deployer, msg)
	}
	// The run proved itself with its OIDC token (--oidc, id-token: write).
	if msg := w.lastCommit(); !strings.Contains(msg, fmt.Sprintf("OIDC-Run: %d/1\n", w.runID)) ||
		!strings.Contains(msg, "OIDC-Subject: repo:smp/"+w.svc+":environment:dev\n") || !strings.Contains(msg, "OIDC-Issuer: "+w.oidc.URL+"\n") {
		t.Errorf("the dev deploy commit lacks what the run's OIDC token proves:\n%s", msg)
	}
	// The chart travelled with the image: published by the build, pinned in dev.
	chartVersion := "0.1.0-sha-" + w.sha[:7]
	if got := out.Jobs["cd/build"].Outputs["chart-version"]; got != chartVersion {
		t.Errorf("the build job published chart-version %q, want %s", got, chartVersion)
	}
	if !yamlLine("version", chartVersion).MatchString(dev) {
		t.Errorf("environments/dev/%s.yaml pins no chart %s:\n%s", w.svc, chartVersion, dev)
	}
	if mt := w.manifestType("smp/charts/"+w.svc, chartVersion); mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("the chart repository holds %s:%s as %q, want an OCI manifest (helm push's format)", w.svc, chartVersion, mt)
	}

	// v0.1.0-rc.1: promote (no rebuild: the same digest) → approve + deploy staging.
	out = w.push("refs/tags/v0.1.0-rc.1", deployer, []review{approved(stagingReviewer, "staging")})
	want(out, "cd", "cd/deploy-staging", "cd/plan", "cd/promote", "smoke", "smoke/smoke")
	if got := out.Jobs["cd/promote"].Outputs["image"]; got != w.image()+":0.1.0-rc.1@"+digest {
		t.Fatalf("promote published image=%q, want the main build's digest tagged 0.1.0-rc.1", got)
	}
	if staging := w.gitopsFile("environments/staging/" + w.svc + ".yaml"); !yamlLine("version", chartVersion).MatchString(staging) {
		t.Errorf("staging did not get the build's chart %s with its image:\n%s", chartVersion, staging)
	}
	approval := w.gitopsFile("state/approvals/staging/" + w.svc + "/0.1.0-rc.1.yaml")
	if !yamlLine("approvedBy", stagingReviewer).MatchString(approval) || !yamlLine("digest", digest).MatchString(approval) {
		t.Fatalf("the staging approval recorded:\n%s\nwant approvedBy %s, digest %s", approval, stagingReviewer, digest)
	}
	if msg := w.lastCommit(); !strings.Contains(msg, "Deployed-By: "+deployer) || !strings.Contains(msg, "Approved-By: "+stagingReviewer) {
		t.Errorf("the staging deploy commit lacks Deployed-By: %s or Approved-By: %s:\n%s", deployer, stagingReviewer, msg)
	}

	// v0.1.0 with nobody's review: the approve step records nothing (who
	// started the run is no reviewer), and the deploy step refuses (exit 1)
	// for want of an approval in force, whoever pushed the tag — a release
	// manager included. Prod is not written.
	before := git(t, "", "--git-dir", w.gitops, "rev-parse", "main")
	for _, actor := range []string{deployer, prodReviewer} {
		w.push("refs/tags/v0.1.0", actor, nil)
		f := w.failed["cd/deploy-prod"]
		if f == nil || f.Step != "smpctl deploy (prod)" || !strings.Contains(f.Err.Error(), "exit status 1") || !strings.Contains(f.Stderr, "prod needs an approval") {
			t.Fatalf("v0.1.0 pushed by %s, no reviewer: deploy-prod failed at %v; want the deploy step refusing for want of an approval", actor, f)
		}
		if after := git(t, "", "--git-dir", w.gitops, "rev-parse", "main"); after != before {
			t.Fatalf("the refused prod release still wrote the GitOps repository: %s", w.lastCommit())
		}
	}
	if len(w.slack.posted) != 0 {
		t.Fatalf("Slack was told of a prod deploy that did not happen: %v", w.slack.posted)
	}

	// v0.1.0 reviewed: the review history also holds a rejection and another
	// environment's approval, which are not production's approval.
	out = w.push("refs/tags/v0.1.0", deployer, []review{
		reviewBy("bob", "production", "rejected"), approved(stagingReviewer, "staging"), approved(prodReviewer, "production"),
	})
	want(out, "cd", "cd/deploy-prod", "cd/plan", "cd/promote", "smoke", "smoke/smoke")
	if got := out.Jobs["cd"].Outputs["smoke-url"]; got == "" {
		t.Errorf("a prod release reports no smoke-url")
	}
	prod := w.gitopsFile("environments/prod/" + w.svc + ".yaml")
	if !yamlLine("digest", digest).MatchString(prod) || !yamlLine("tag", "0.1.0").MatchString(prod) {
		t.Fatalf("environments/prod/%s.yaml after the release:\n%s\nwant tag 0.1.0, digest %s", w.svc, prod, digest)
	}
	if !yamlLine("version", chartVersion).MatchString(prod) {
		t.Errorf("prod did not get the build's chart %s with its image:\n%s", chartVersion, prod)
	}
	approval = w.gitopsFile("state/approvals/prod/" + w.svc + "/0.1.0.yaml")
	if !yamlLine("approvedBy", prodReviewer).MatchString(approval) || !yamlLine("requestedBy", deployer).MatchString(approval) {
		t.Fatalf("the prod approval recorded:\n%s\nwant approvedBy %s, requestedBy %s", approval, prodReviewer, deployer)
	}
	if msg := w.lastCommit(); !strings.Contains(msg, "Deployed-By: "+deployer) || !strings.Contains(msg, "Approved-By: "+prodReviewer) {
		t.Errorf("the prod deploy commit lacks Deployed-By: %s or Approved-By: %s:\n%s", deployer, prodReviewer, msg)
	}
	// One event, one message: smpctl deploy's (delivery.yaml's
	// notifications); the job posts nothing of its own (#16).
	if len(w.slack.posted) != 1 || !strings.Contains(w.slack.posted[0], `"text":":rocket: Deploy: `+w.svc+` 0.1.0 to prod"`) ||
		!strings.Contains(w.slack.posted[0], "https://github.com/smp/"+w.svc+"/actions/runs/") {
		t.Fatalf("Slack got %d message(s): %v\nwant one, smpctl's prod deploy of %s 0.1.0 with the run", len(w.slack.posted), w.slack.posted, w.svc)
	}
}

// TestReusableCDReleasesOrderSvc runs the reusable CD's jobs for real on
// examples/order-svc, with the inputs its own cd.yml passes (the default
// main-package among them): main to dev, an rc to staging, a release to prod.
func TestReusableCDReleasesOrderSvc(t *testing.T) {
	t.Parallel() // its own registry and remotes (newCDWorld)
	dir := filepath.Join(t.TempDir(), "order-svc")
	copyTracked(t, filepath.Join(repoRoot(t), "examples/order-svc"), dir)
	newCDWorld(t, "order-svc", dir).release()
}

// TestReusableCDReleasesANewService does the same on what `smpctl new
// service` writes, as a new service's first release would.
func TestReusableCDReleasesANewService(t *testing.T) {
	t.Parallel() // its own registry and remotes (newCDWorld)
	dir := filepath.Join(t.TempDir(), "payment-svc")
	run(t, "", filepath.Join(realSmpctl(t), "smpctl"), "new", "service", "payment-svc",
		"--module", "github.com/smp/payment-svc", "--critical", "--dir", dir)
	newCDWorld(t, "payment-svc", dir).release()
}

// TestCDBuildOfTheModuleRootFails proves the release tests can fail on the
// old build step: `smpctl build --dir .` (the step before main-package) on
// order-svc, whose main package is ./cmd/server, exits with "not a main
// package" and publishes no image.
func TestCDBuildOfTheModuleRootFails(t *testing.T) {
	src := readFile(t, filepath.Join(repoRoot(t), ".github/workflows/cd.yml"))
	old := strings.Replace(src, `smpctl build --dir "$MAIN_PACKAGE"`, "smpctl build --dir .", 1)
	if old == src {
		t.Fatal(`cd.yml no longer builds with --dir "$MAIN_PACKAGE"; update this test`)
	}
	f, err := Parse("old-cd.yml", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "order-svc")
	copyTracked(t, filepath.Join(repoRoot(t), "examples/order-svc"), dir)
	git(t, dir, "init", "-q", "--initial-branch=main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "feat: order-svc")
	inputs, err := f.typedInputs(map[string]any{"service": "order-svc", "image": "127.0.0.1:9/smp/order-svc", "gitops-repository": "unused"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := f.Steps("build", Scope{Contexts: map[string]any{"inputs": inputs, "github": map[string]any{}, "secrets": map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.ID != "build" {
			continue
		}
		out := filepath.Join(t.TempDir(), "output")
		env := append(os.Environ(), "PATH="+realSmpctl(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"RUNNER_TEMP="+t.TempDir(), "GITHUB_OUTPUT="+out)
		var stderr bytes.Buffer
		err := s.Exec(testctx.New(t), dir, env, 0, &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(stderr.String(), "not a main package") {
			t.Fatalf("the old build step on order-svc: err %v, stderr:\n%s\nwant a failure saying: not a main package", err, stderr.String())
		}
		if raw, _ := os.ReadFile(out); len(raw) != 0 {
			t.Fatalf("the failed build step still published %s", raw)
		}
		return
	}
	t.Fatal("cd.yml's build job has no step with id build")
}

// copyTracked copies the files git tracks under from (as they are in the
// work tree) into to.
func copyTracked(t *testing.T, from, to string) {
	t.Helper()
	out, err := exec.Command("git", "-C", from, "ls-files", "-z", ".").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v", from, err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src, dst := filepath.Join(from, rel), filepath.Join(to, rel)
		fi, err := os.Lstat(src)
		if err != nil {
			continue // tracked but deleted in this work tree
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs a command in dir and fails the test when it fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testctx.New(t), name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}
