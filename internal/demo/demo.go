// Package demo walks SMP's delivery story end to end on one machine, in a
// fresh workspace, with the same commands a newcomer would type: it starts
// the local platform (smpctl local up), adds order-svc to the smp-gitops
// repository, builds the real service from examples/order-svc without
// Docker, pushes it, and takes one change through dev, staging and prod —
// CI checks, build, push, deploy, smoke tests, rc and release tags,
// approvals, a blue/green preview, promotion — then ships a deliberately
// bad release whose error rate rises, lets the metric gate fail, rolls back
// and checks that prod serves the previous digest again.
//
// With Engines set to kubernetes the same story runs on the real engines
// instead (kube.go): Kubernetes, Argo CD and Argo Rollouts on this machine,
// smp-gitops served over HTTPS, charts in an OCI registry, each step
// checked on the cluster's own objects.
//
// It prints a timeline with the duration of each step, and succeeds only
// when every step's check passed. A step that cannot run says why and
// fails; nothing is faked. Every command, with its output, is in the
// workspace's demo.log.
package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smp/delivery/internal/local/cluster"
	"github.com/smp/delivery/internal/local/daemon"
	"github.com/smp/delivery/internal/local/engines"

	"github.com/smp/delivery/internal/fault"
)

// The engines the story runs on (Options.Engines).
const (
	// EnginesLocal is the local runtime of smpctl local up: the default.
	EnginesLocal = "local"
	// EnginesKubernetes is the real engines: Kubernetes (KWOK for the
	// kubelet), Argo CD and Argo Rollouts, as scripts/kube-bins.sh builds
	// them (internal/local/engines).
	EnginesKubernetes = "kubernetes"
)

// Options of a demo run.
type Options struct {
	// Engines is where the story runs: EnginesLocal (default) or
	// EnginesKubernetes.
	Engines string
	// Smpctl is the smpctl executable the story's commands run with.
	Smpctl string
	// ServiceDir is the source of the service to ship (examples/order-svc).
	ServiceDir string
	// Workspace is where everything is created; default a new temporary
	// folder. It must not exist or be empty.
	Workspace string
	// Keep leaves the local environment running (and the workspace) at the
	// end, to poke at. On the real engines, whose processes die with this
	// one, Run then waits, the cluster up, until ctx ends (Ctrl-C).
	Keep bool
	// Env is the environment of every command; default os.Environ().
	Env []string
	// Out receives the timeline; Progress, when true, also shows each step
	// as it starts (a terminal).
	Out      io.Writer
	Progress bool

	// The story on the real engines (EnginesKubernetes) only:

	// Main runs one smpctl command line in-process and returns its exit
	// code; required.
	Main func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// KubeBinDir is where scripts/kube-bins.sh built the engines; default
	// engines.DefaultBinDir.
	KubeBinDir string
	// Cluster, when set, is a running cluster with Argo CD and Argo
	// Rollouts to walk the story on instead of starting one (a test's); the
	// demo leaves it running.
	Cluster *engines.Cluster
}

// Step is one line of the timeline.
type Step struct {
	Name     string        `json:"name"`
	Detail   string        `json:"detail"`
	Duration time.Duration `json:"durationNs"`
	OK       bool          `json:"ok"`
	Skipped  bool          `json:"skipped,omitempty"`
}

// Result of a demo run.
type Result struct {
	Workspace string        `json:"workspace"`
	Steps     []Step        `json:"steps"`
	Duration  time.Duration `json:"durationNs"`
	OK        bool          `json:"ok"`
	Kept      bool          `json:"kept"`
	Control   string        `json:"control,omitempty"`
	Dashboard string        `json:"dashboard,omitempty"`
	// Kubeconfig is the cluster's, on the real engines.
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// ErrStepFailed is returned when a step's check failed.
var ErrStepFailed = fault.Refusedf("a demo step failed")

const (
	svcName   = "order-svc"
	imageName = "ghcr.io/smp/order-svc" // the name in smp-gitops; the local registry mirrors it
)

// story is the demo's state as it goes.
type story struct {
	o      Options
	r      *runner
	state  daemon.State
	dir    string // .smp
	gitops string // work tree of smp-gitops
	svc    string // the service repository
	token  string
	local  string // <registry>/smp/order-svc

	base, good, bad built
	// gateFailed is when the gate watch returned its failed verdict.
	gateFailed time.Time
}

type built struct {
	commit, version, digest, shaTag string
}

// Run runs the story on the engines o.Engines names and returns the
// timeline.
func Run(ctx context.Context, o Options) (Result, error) {
	switch o.Engines {
	case "", EnginesLocal:
		return runLocal(ctx, o)
	case EnginesKubernetes:
		return runKube(ctx, o)
	}
	return Result{}, fault.Inputf("Engines", "%q: use %s or %s", o.Engines, EnginesLocal, EnginesKubernetes)
}

// runLocal runs the story on the local runtime (smpctl local up).
func runLocal(ctx context.Context, o Options) (Result, error) {
	if o.Env == nil {
		o.Env = os.Environ()
	}
	ws, logf, err := newWorkspace(&o)
	if err != nil {
		return Result{}, err
	}
	defer logf.Close()
	res := Result{Workspace: ws}
	s := &story{
		o:      o,
		r:      &runner{exe: o.Smpctl, env: append(o.Env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@smp.vn", "GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@smp.vn"), ws: ws, log: logf},
		dir:    filepath.Join(ws, ".smp"),
		gitops: filepath.Join(ws, "smp-gitops"),
		svc:    filepath.Join(ws, svcName),
	}
	fmt.Fprintf(o.Out, "SMP delivery demo in %s (every command and its output: demo.log)\n\n", ws)
	start := time.Now()
	res.Steps = walk(ctx, o, s.steps(), &s.r.last)
	res.Duration = time.Since(start)
	res.OK = passed(ctx, res.Steps)
	res.Control, res.Dashboard = s.state.Control, s.state.Dashboard
	if o.Keep && s.state.PID != 0 {
		res.Kept = true
		fmt.Fprintf(o.Out, "\nkept running (--keep): smpctl local status --dir %s; stop with: smpctl local down --purge --dir %s\n", s.dir, s.dir)
		fmt.Fprintf(o.Out, "dashboard: %s (read-only: what runs where, the approval queue, each service's history)\n", s.state.Dashboard)
	} else if s.state.PID != 0 {
		if _, err := s.r.smpctl(context.WithoutCancel(ctx), "local", "down", "--purge", "--dir", s.dir); err != nil {
			fmt.Fprintf(o.Out, "\nlocal down: %v\n", err)
		}
	}
	return verdict(ctx, o, res)
}

// newWorkspace makes o.Workspace (a new temporary folder when it is empty),
// which must not exist or be empty, and creates its demo.log. It fills the
// defaults of o.Out.
func newWorkspace(o *Options) (string, *os.File, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Workspace == "" {
		ws, err := os.MkdirTemp("", "smp-demo-")
		if err != nil {
			return "", nil, err
		}
		o.Workspace = ws
	} else if entries, err := os.ReadDir(o.Workspace); err == nil && len(entries) > 0 {
		return "", nil, fmt.Errorf("workspace %s is not empty: the demo starts fresh (give a new folder)", o.Workspace)
	}
	ws, err := filepath.Abs(o.Workspace)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(ws, 0o755); err != nil {
		return "", nil, err
	}
	logf, err := os.Create(filepath.Join(ws, "demo.log"))
	if err != nil {
		return "", nil, err
	}
	return ws, logf, nil
}

// walk runs the steps in order and prints each on the timeline; after a
// failed step the rest are skipped. *last is the output of the command
// that failed, if any (the runner sets it), shown under a failed step.
func walk(ctx context.Context, o Options, steps []stepFunc, last *string) []Step {
	var out []Step
	failed := false
	for _, st := range steps {
		if failed || ctx.Err() != nil {
			out = append(out, Step{Name: st.name, Skipped: true, Detail: "not run: an earlier step failed"})
			continue
		}
		if o.Progress {
			fmt.Fprintf(o.Out, "  …   %-34s", st.name)
		}
		t0 := time.Now()
		*last = ""
		detail, err := st.run(ctx)
		step := Step{Name: st.name, Detail: detail, Duration: time.Since(t0), OK: err == nil}
		if err != nil {
			step.Detail = err.Error()
			failed = true
		}
		out = append(out, step)
		if o.Progress {
			fmt.Fprint(o.Out, "\r")
		}
		printStep(o.Out, step)
		if err != nil && *last != "" {
			for _, l := range strings.Split(tail(*last, 1200), "\n") {
				fmt.Fprintf(o.Out, "        │ %s\n", l)
			}
		}
	}
	return out
}

// passed reports whether every step ran and passed.
func passed(ctx context.Context, steps []Step) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, st := range steps {
		if !st.OK {
			return false
		}
	}
	return true
}

// verdict prints the last line of the timeline and returns res with the
// error a failed run ends with.
func verdict(ctx context.Context, o Options, res Result) (Result, error) {
	v := fmt.Sprintf("all %d steps passed", len(res.Steps))
	if !res.OK {
		v = "FAILED"
	}
	fmt.Fprintf(o.Out, "\ndemo: %s in %s\n", v, res.Duration.Round(100*time.Millisecond))
	if !res.OK {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, ErrStepFailed
	}
	return res, nil
}

func printStep(w io.Writer, st Step) {
	mark := "ok  "
	switch {
	case st.Skipped:
		mark = "skip"
	case !st.OK:
		mark = "FAIL"
	}
	fmt.Fprintf(w, "  %s %-34s %7s  %s\n", mark, st.name(), fmtDur(st.Duration), st.Detail)
}

func (st Step) name() string { return st.Name }

func fmtDur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

type stepFunc struct {
	name string
	run  func(context.Context) (string, error)
}

func (s *story) steps() []stepFunc {
	return []stepFunc{
		{"local up", s.localUp},
		{"smp-gitops: add order-svc", s.addService},
		{"baseline 3.2.0 in every env", s.baseline},
		{"CI checks (fast subset)", s.ci},
		{"build (no Docker)", s.buildGood},
		{"push", s.push},
		{"deploy dev", s.deployDev},
		{"dev serving", s.devServing},
		{"smoke dev", s.smokeDev},
		{"tag v3.3.0-rc.1", s.tagRC},
		{"approve staging", s.approveStaging},
		{"staging (deploy, sync, smoke)", s.staging},
		{"release tag v3.3.0", s.tagRelease},
		{"release-manager approval", s.approveProd},
		{"prod preview (blue/green)", s.prodPreview},
		{"smoke on the preview", s.smokePreview},
		{"promote", s.promote},
		{"gate passes for 3.3.0", s.gateGood},
		{"bad release 3.3.1 → prod", s.badRelease},
		{"traffic: error rate rises", s.badTraffic},
		{"watch: gate fails → rollback", s.gateWatch},
		{"prod active again", s.activeAfterRollback},
		{"prod serves the previous digest", s.prodRestored},
		{"on-call: rollback --sync to 3.2.0", s.oncallRollback},
	}
}

// ---- steps ----

func (s *story) localUp(ctx context.Context) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	prefix := "demo" + hex.EncodeToString(b) + "_"
	if err := s.r.smpctlJSON(ctx, &s.state, "local", "up", "--dir", s.dir, "--db-prefix", prefix); err != nil {
		return "", err
	}
	s.token = filepath.Join(s.dir, "smoke.jwt")
	if _, err := os.Stat(s.token); err != nil {
		return "", fmt.Errorf("smoke token: %w", err)
	}
	s.local = s.state.Registry + "/smp/" + svcName
	return fmt.Sprintf("registry %s, prometheus %s, smp-gitops remote, runtime", s.state.Registry, s.state.Prometheus), nil
}

func (s *story) addService(ctx context.Context) (string, error) {
	if _, err := s.r.git(ctx, s.r.ws, "clone", "--quiet", s.state.GitOps, s.gitops); err != nil {
		return "", err
	}
	if _, err := s.r.smpctl(ctx, "gitops", "add-service", svcName, "--critical", "--image", imageName, "--dir", s.gitops); err != nil {
		return "", err
	}
	if _, err := s.r.git(ctx, s.gitops, "push", "--quiet", "origin", "HEAD:main"); err != nil {
		return "", err
	}
	// The scaffold freezes prod over the weekend; the demo must run any day.
	if _, err := s.r.smpctl(ctx, "freeze", "remove", "--gitops", s.state.GitOps, "--name", "weekend-prod"); err != nil {
		return "", err
	}
	return "gitops add-service order-svc --critical (blue/green in prod); freeze weekend-prod removed", nil
}

// build builds the service repository's HEAD and pushes it.
func (s *story) build(ctx context.Context) (built, error) {
	var out struct {
		Reference string `json:"reference"`
		Version   string `json:"version"`
		Commit    string `json:"commit"`
		Digest    string `json:"digest"`
		Pushed    bool   `json:"pushed"`
	}
	// The built-in base: the demo needs no network (CD pulls distroless by digest).
	if err := s.r.smpctlJSON(ctx, &out, "build", "--dir", filepath.Join(s.svc, "cmd", "server"), "--image", s.local, "--base", "builtin", "--push"); err != nil {
		return built{}, err
	}
	_, digest, ok := strings.Cut(out.Reference, "@")
	if !ok || !out.Pushed {
		return built{}, fmt.Errorf("build printed %q (pushed %v): want REPO:TAG@sha256:… pushed", out.Reference, out.Pushed)
	}
	name := strings.TrimSuffix(out.Reference, "@"+digest)
	tag := name[strings.LastIndex(name, ":")+1:]
	return built{commit: out.Commit, version: out.Version, digest: digest, shaTag: tag}, nil
}

func (s *story) commitService(ctx context.Context, msg string) (string, error) {
	if _, err := s.r.git(ctx, s.svc, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := s.r.git(ctx, s.svc, "commit", "--quiet", "-m", msg); err != nil {
		return "", err
	}
	return s.r.git(ctx, s.svc, "rev-parse", "HEAD")
}

func (s *story) deploy(ctx context.Context, env string, b built, tag, by string) error {
	t, err := s.r.git(ctx, s.svc, "show", "-s", "--format=%cI", b.commit)
	if err != nil {
		return err
	}
	_, err = s.r.smpctl(ctx, "deploy", "--gitops", s.state.GitOps, "--env", env, "--service", svcName,
		"--image", imageName+":"+tag+"@"+b.digest, "--source-commit", b.commit, "--source-time", t, "--by", by)
	return err
}

func (s *story) approve(ctx context.Context, env, version, digest, by, requestedBy string) error {
	args := []string{"approve", "--gitops", s.state.GitOps, "--env", env, "--service", svcName, "--version", version, "--digest", digest, "--by", by}
	if requestedBy != "" {
		args = append(args, "--requested-by", requestedBy)
	}
	_, err := s.r.smpctl(ctx, args...)
	return err
}

func (s *story) sync(ctx context.Context, env string) error {
	_, err := s.r.smpctl(ctx, "sync", env, "--dir", s.dir)
	return err
}

func (s *story) tagImage(ctx context.Context, digest, tag string) error {
	_, err := s.r.smpctl(ctx, "image", "tag", "--image", s.local+"@"+digest, "--tag", tag)
	return err
}

func (s *story) baseline(ctx context.Context) (string, error) {
	if s.o.ServiceDir == "" {
		return "", errors.New("no service source: pass --service-dir (examples/order-svc of this repository)")
	}
	if _, err := os.Stat(filepath.Join(s.o.ServiceDir, "cmd", "server")); err != nil {
		return "", fmt.Errorf("service source %s has no cmd/server: run from the repository root or pass --service-dir examples/order-svc", s.o.ServiceDir)
	}
	if err := copyTree(s.o.ServiceDir, s.svc); err != nil {
		return "", fmt.Errorf("copy %s: %w", s.o.ServiceDir, err)
	}
	if _, err := s.r.git(ctx, s.svc, "init", "--quiet", "--initial-branch=main"); err != nil {
		return "", err
	}
	if _, err := s.commitService(ctx, "feat: order-svc 3.2.0"); err != nil {
		return "", err
	}
	b, err := s.build(ctx)
	if err != nil {
		return "", err
	}
	s.base = b
	if err := s.tagImage(ctx, b.digest, "3.2.0"); err != nil {
		return "", err
	}
	if err := s.deploy(ctx, "dev", b, b.shaTag, "ci"); err != nil {
		return "", err
	}
	if err := s.approve(ctx, "staging", "3.2.0", b.digest, "alice", ""); err != nil {
		return "", err
	}
	if err := s.deploy(ctx, "staging", b, "3.2.0", "ci"); err != nil {
		return "", err
	}
	if err := s.approve(ctx, "prod", "3.2.0", b.digest, "carol", "dave"); err != nil {
		return "", err
	}
	if err := s.deploy(ctx, "prod", b, "3.2.0", "dave"); err != nil {
		return "", err
	}
	for _, env := range []string{"staging", "prod"} {
		if err := s.sync(ctx, env); err != nil {
			return "", err
		}
	}
	var prod cluster.ServiceStatus
	for _, env := range []string{"dev", "staging", "prod"} {
		sv, err := s.waitActive(ctx, env, b.digest, 2*time.Minute)
		if err != nil {
			return "", err
		}
		prod = sv
	}
	// Customers use prod: its latency is the baseline the gate compares with.
	n, _ := s.traffic(ctx, prod.URL, 8*time.Second)
	return fmt.Sprintf("%s (%s) serving in dev, staging and prod; %d requests on prod", short(b.digest), b.version, n), nil
}

func (s *story) ci(ctx context.Context) (string, error) {
	// The change that will travel: a new endpoint description in the
	// README stands in for a feature; CI checks the whole service.
	f, err := os.OpenFile(filepath.Join(s.svc, "README.md"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	fmt.Fprintln(f, "\n<!-- 3.3.0: partner platform pricing -->")
	if err := f.Close(); err != nil {
		return "", err
	}
	if _, err := s.commitService(ctx, "feat: partner platform pricing"); err != nil {
		return "", err
	}
	out, err := s.r.run(ctx, time.Minute, s.svc, "gofmt", "-l", ".")
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(out) != "" {
		return "", fmt.Errorf("gofmt would change: %s", out)
	}
	if _, err := s.r.run(ctx, 10*time.Minute, s.svc, "go", "vet", "./..."); err != nil {
		return "", err
	}
	var p struct {
		Environment string `json:"environment"`
		CI          bool   `json:"ci"`
	}
	if err := s.r.smpctlJSON(ctx, &p, "plan", "--ref", "refs/heads/main"); err != nil {
		return "", err
	}
	if p.Environment != "dev" || !p.CI {
		return "", fmt.Errorf("plan refs/heads/main: CI %v, deploys to %q; want CI and dev", p.CI, p.Environment)
	}
	return "gofmt, go vet; plan refs/heads/main → CI + dev", nil
}

func (s *story) buildGood(ctx context.Context) (string, error) {
	b, err := s.build(ctx)
	if err != nil {
		return "", err
	}
	s.good = b
	if b.digest == s.base.digest {
		return "", fmt.Errorf("the new commit built the baseline's digest %s", short(b.digest))
	}
	return fmt.Sprintf("%s:%s %s (version %s)", s.local, b.shaTag, short(b.digest), b.version), nil
}

func (s *story) push(ctx context.Context) (string, error) {
	out, err := s.r.smpctl(ctx, "image", "resolve", "--image", s.local, "--source-commit", s.good.commit)
	if err != nil {
		return "", err
	}
	if !strings.Contains(out, s.good.digest) {
		return "", fmt.Errorf("the registry resolves commit %s to %q, want %s", short(s.good.commit), strings.TrimSpace(out), s.good.digest)
	}
	return "registry resolves commit " + short(s.good.commit) + " to " + short(s.good.digest), nil
}

func (s *story) deployDev(ctx context.Context) (string, error) {
	if err := s.deploy(ctx, "dev", s.good, s.good.shaTag, "ci"); err != nil {
		return "", err
	}
	return fmt.Sprintf("deploy(dev): order-svc → %s (commit in smp-gitops)", s.good.shaTag), nil
}

func (s *story) devServing(ctx context.Context) (string, error) {
	start := time.Now()
	sv, err := s.waitActive(ctx, "dev", s.good.digest, 2*time.Minute)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("dev synced by itself (automated) in %s; %s", time.Since(start).Round(10*time.Millisecond), sv.URL), nil
}

func (s *story) smoke(ctx context.Context, url, version, junit string) error {
	_, err := s.r.smpctl(ctx, "smoke", "--url", url, "--token-file", s.token, "--expect-version", version, "--junit", filepath.Join(s.r.ws, junit))
	return err
}

func (s *story) smokeDev(ctx context.Context) (string, error) {
	sv, err := s.service(ctx, "dev")
	if err != nil {
		return "", err
	}
	if err := s.smoke(ctx, sv.URL, s.good.version, "smoke-dev.xml"); err != nil {
		return "", err
	}
	return "health, JWT read, echo create → " + s.good.version, nil
}

func (s *story) planTag(ctx context.Context, tag, wantEnv string) error {
	if _, err := s.r.git(ctx, s.svc, "tag", "-a", tag, "-m", "Release "+tag); err != nil {
		return err
	}
	var p struct {
		Environment string `json:"environment"`
		Version     string `json:"version"`
	}
	if err := s.r.smpctlJSON(ctx, &p, "plan", "--ref", "refs/tags/"+tag); err != nil {
		return err
	}
	if p.Environment != wantEnv {
		return fmt.Errorf("plan refs/tags/%s deploys to %q, want %s", tag, p.Environment, wantEnv)
	}
	return nil
}

func (s *story) tagRC(ctx context.Context) (string, error) {
	if err := s.planTag(ctx, "v3.3.0-rc.1", "staging"); err != nil {
		return "", err
	}
	if err := s.tagImage(ctx, s.good.digest, "3.3.0-rc.1"); err != nil {
		return "", err
	}
	return "plan → staging; image tagged 3.3.0-rc.1, same digest (no rebuild)", nil
}

func (s *story) approveStaging(ctx context.Context) (string, error) {
	if err := s.approve(ctx, "staging", "3.3.0-rc.1", s.good.digest, "alice", ""); err != nil {
		return "", err
	}
	return "approve(staging): order-svc 3.3.0-rc.1 by alice", nil
}

func (s *story) staging(ctx context.Context) (string, error) {
	if err := s.deploy(ctx, "staging", s.good, "3.3.0-rc.1", "ci"); err != nil {
		return "", err
	}
	sv, err := s.service(ctx, "staging")
	if err != nil {
		return "", err
	}
	if sv.Active == nil || sv.Active.Digest != s.base.digest {
		return "", fmt.Errorf("staging changed before smpctl sync (manual sync policy): active %s", tagOf(sv.Active))
	}
	if err := s.sync(ctx, "staging"); err != nil {
		return "", err
	}
	sv, err = s.waitActive(ctx, "staging", s.good.digest, time.Minute)
	if err != nil {
		return "", err
	}
	if err := s.smoke(ctx, sv.URL, s.good.version, "smoke-staging.xml"); err != nil {
		return "", err
	}
	return "manual sync; rolling update; smoke passed", nil
}

func (s *story) tagRelease(ctx context.Context) (string, error) {
	if err := s.planTag(ctx, "v3.3.0", "prod"); err != nil {
		return "", err
	}
	if err := s.tagImage(ctx, s.good.digest, "3.3.0"); err != nil {
		return "", err
	}
	return "plan → prod (release manager); image tagged 3.3.0", nil
}

func (s *story) approveProd(ctx context.Context) (string, error) {
	if err := s.approve(ctx, "prod", "3.3.0", s.good.digest, "carol", "dave"); err != nil {
		return "", err
	}
	return "approve(prod): order-svc 3.3.0 by carol (release manager), requested by dave", nil
}

func (s *story) prodPreview(ctx context.Context) (string, error) {
	if err := s.deploy(ctx, "prod", s.good, "3.3.0", "dave"); err != nil {
		return "", err
	}
	if err := s.sync(ctx, "prod"); err != nil {
		return "", err
	}
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	if sv.Preview == nil || sv.Preview.Digest != s.good.digest || sv.Active == nil || sv.Active.Digest != s.base.digest || sv.Health != cluster.HealthPaused {
		return "", fmt.Errorf("prod: health %s, active %v, preview %v; want 3.2.0 active and 3.3.0 on the preview", sv.Health, tagOf(sv.Active), tagOf(sv.Preview))
	}
	return fmt.Sprintf("3.3.0 on the preview URL %s, 3.2.0 still active", sv.PreviewURL), nil
}

func (s *story) smokePreview(ctx context.Context) (string, error) {
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	if err := s.smoke(ctx, sv.PreviewURL, s.good.version, "smoke-prod-preview.xml"); err != nil {
		return "", err
	}
	return "the preview passes before any customer sees it", nil
}

func (s *story) promote(ctx context.Context) (string, error) {
	if _, err := s.r.smpctl(ctx, "rollout", "promote", "prod", svcName, "--dir", s.dir); err != nil {
		return "", err
	}
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	if err := s.smoke(ctx, sv.URL, s.good.version, "smoke-prod.xml"); err != nil {
		return "", err
	}
	return "active swapped to 3.3.0; 3.2.0 kept for scaleDownDelaySeconds", nil
}

// traffic sends customer requests to url for d: the catalog read and an
// order lookup, as the gate needs traffic to judge. It returns the count
// of requests and of 5xx answers.
func (s *story) traffic(ctx context.Context, url string, d time.Duration) (int64, int64) {
	tok, _ := os.ReadFile(s.token)
	bearer := "Bearer " + strings.TrimSpace(string(tok))
	var n, bad atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan struct{})
	const workers = 4
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			c := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ctx.Err() == nil; i++ {
				path := "/api/v1/catalog/services"
				if i%2 == 1 {
					path = "/api/v1/orders/1"
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
				req.Header.Set("Authorization", bearer)
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				n.Add(1)
				if resp.StatusCode >= 500 {
					bad.Add(1)
				}
				time.Sleep(40 * time.Millisecond)
			}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	return n.Load(), bad.Load()
}

func (s *story) verify(ctx context.Context) (string, int, error) {
	out, err := s.r.smpctl(ctx, "verify", "--prometheus", s.state.Prometheus, "--service", svcName, "--env", "prod", "--window", "30s")
	return out, exitCode(err), err
}

func (s *story) gateGood(ctx context.Context) (string, error) {
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	// The gate compares 3.3.0's p95 with 3.2.0's over the last window in
	// which 3.2.0 served. Latency on one machine depends on what else runs
	// on it (CI runs this beside the race suites): a baseline measured a
	// minute earlier compares two loads, not two versions. So the same
	// traffic also goes to 3.2.0, which blue/green keeps running for
	// scaleDownDelaySeconds: a control group, and the gate compares the two
	// side by side over one window.
	control, err := controlURL(sv)
	if err != nil {
		return "", err
	}
	// 15 s of traffic first, and on while the gate reads it, so that its
	// window holds both versions' answers however long smpctl takes to
	// start on a loaded machine.
	var n, bad, cn int64
	tctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { cn, _ = s.traffic(tctx, control, 10*time.Minute) })
	wg.Go(func() { n, bad = s.traffic(tctx, sv.URL, 10*time.Minute) })
	select {
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	out, code, err := s.verify(ctx)
	stop()
	wg.Wait()
	if err != nil {
		return "", fmt.Errorf("gate on 3.3.0 (exit %d) after %d requests (%d 5xx), %d to the control 3.2.0: %w", code, n, bad, cn, err)
	}
	return fmt.Sprintf("%d requests (and %d to the control 3.2.0); %s", n, cn, gateLine(out)), nil
}

// controlURL is the address of a ready pod of the previous revision, which
// blue/green keeps running (without customer traffic) after a promotion.
func controlURL(sv cluster.ServiceStatus) (string, error) {
	if sv.Previous != nil {
		for _, p := range sv.Previous.Pods {
			if p.Phase == cluster.PhaseReady && p.Addr != "" {
				return "http://" + p.Addr, nil
			}
		}
	}
	return "", fmt.Errorf("%s in prod keeps no ready previous revision after the promotion (want 3.2.0 for scaleDownDelaySeconds): %+v", sv.Name, sv.Previous)
}

func gateLine(out string) string {
	var parts []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "FAIL") {
			if f := strings.Fields(l); len(f) > 1 {
				parts = append(parts, strings.Join(f, " "))
			}
		}
	}
	return strings.Join(parts, "; ")
}

func (s *story) badRelease(ctx context.Context) (string, error) {
	// A refactoring that breaks order lookups: every GET /api/v1/orders/{id}
	// answers 500. The smoke test does not read orders, so it passes; the
	// metric gate must catch it.
	p := filepath.Join(s.svc, "internal", "api", "orders.go")
	src, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	anchor := "\traw := r.PathValue(\"id\")\n"
	i := strings.Index(string(src), "func (s *server) getOrder(")
	if i < 0 || !strings.Contains(string(src[i:]), anchor) {
		return "", fmt.Errorf("cannot introduce the bad change: %s no longer has getOrder with %q", p, strings.TrimSpace(anchor))
	}
	j := i + strings.Index(string(src[i:]), anchor) + len(anchor)
	bug := "\tif raw != \"\" { // 3.3.1: the lookup refactoring broke every read\n\t\twriteError(w, r, http.StatusInternalServerError, codeInternal, \"order lookup failed\")\n\t\treturn\n\t}\n"
	if err := os.WriteFile(p, append(append(append([]byte{}, src[:j]...), bug...), src[j:]...), 0o644); err != nil { //nolint:gosec // a file of the demo's own workspace copy
		return "", err
	}
	if _, err := s.commitService(ctx, "refactor: order lookup"); err != nil {
		return "", err
	}
	b, err := s.build(ctx)
	if err != nil {
		return "", err
	}
	s.bad = b
	if err := s.planTag(ctx, "v3.3.1", "prod"); err != nil {
		return "", err
	}
	if err := s.tagImage(ctx, b.digest, "3.3.1"); err != nil {
		return "", err
	}
	if err := s.approve(ctx, "prod", "3.3.1", b.digest, "carol", "dave"); err != nil {
		return "", err
	}
	if err := s.deploy(ctx, "prod", b, "3.3.1", "dave"); err != nil {
		return "", err
	}
	if err := s.sync(ctx, "prod"); err != nil {
		return "", err
	}
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	if err := s.smoke(ctx, sv.PreviewURL, b.version, "smoke-prod-preview-3.3.1.xml"); err != nil {
		return "", err
	}
	if _, err := s.r.smpctl(ctx, "rollout", "promote", "prod", svcName, "--dir", s.dir); err != nil {
		return "", err
	}
	if _, err := s.waitActive(ctx, "prod", b.digest, time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("build %s, tag, approve, deploy, preview smoke passes, promoted", short(b.digest)), nil
}

func (s *story) badTraffic(ctx context.Context) (string, error) {
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	n, bad := s.traffic(ctx, sv.URL, 15*time.Second)
	if n == 0 || bad == 0 {
		return "", fmt.Errorf("%d requests, %d answered 5xx: the bad release does not show", n, bad)
	}
	return fmt.Sprintf("%d requests, %d answered 5xx (%.0f%%)", n, bad, 100*float64(bad)/float64(n)), nil
}

// gateWatch is the pipeline's watch after the prod promotion (cd.yml's
// watch job): smpctl verify --for sees the gate fail twice in a row and,
// as delivery.yaml's onGateFailure (default rollback) says, writes the
// rollback(prod) commit with the gate's figures and a hold. 3.3.1 was
// promoted, so there is no update in progress to abort (as with Argo
// Rollouts); the way back is git.
func (s *story) gateWatch(ctx context.Context) (string, error) {
	// Users keep calling while the watch runs, as in production: the
	// watch's window then always holds the bad release's answers, however
	// long smpctl takes to start on a loaded machine.
	sv, err := s.service(ctx, "prod")
	if err != nil {
		return "", err
	}
	tctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.traffic(tctx, sv.URL, 10*time.Minute)
	}()
	defer func() { stop(); <-done }()
	out, err := s.r.smpctl(ctx, "verify", "--prometheus", s.state.Prometheus, "--service", svcName, "--env", "prod", "--window", "30s",
		"--for", "2m", "--every", "2s", "--failure-limit", "2", "--gitops", s.state.GitOps, "--dir", s.dir, "--run", "demo", "--sync")
	if code := exitCode(err); code != 1 || !strings.Contains(out, "rollback: rollback(prod)") || !strings.Contains(out, "sync: ") {
		return "", fmt.Errorf("smpctl verify --for --sync exited %d; want 1 with the rollback written and synced:\n%s\n%w", code, out, err)
	}
	s.gateFailed = time.Now()
	return "exit 1: " + firstLine(out, "watch failed") + "; " + firstLine(out, "rollback:") + "; " + firstLine(out, "sync:"), nil
}

// firstLine returns the first line of out that starts with prefix.
func firstLine(out, prefix string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// activeAfterRollback checks what the watch's --sync did: prod syncs
// manually, and the watch applied its rollback commit; the previous version
// still runs within scaleDownDelaySeconds, so it is active again at once,
// with no sync typed.
func (s *story) activeAfterRollback(ctx context.Context) (string, error) {
	if _, err := s.waitActive(ctx, "prod", s.good.digest, 30*time.Second); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s active again (still running, no pause) %s after the watch's verdict", short(s.good.digest), time.Since(s.gateFailed).Round(time.Millisecond)), nil
}

func (s *story) prodRestored(ctx context.Context) (string, error) {
	sv, err := s.waitActive(ctx, "prod", s.good.digest, 30*time.Second)
	if err != nil {
		return "", err
	}
	var st daemon.StatusReport
	if err := s.r.smpctlJSON(ctx, &st, "local", "status", "--dir", s.dir); err != nil {
		return "", err
	}
	for _, e := range st.Runtime.Envs {
		if e.Name == "prod" && e.SyncStatus != cluster.SyncSynced {
			return "", fmt.Errorf("prod is %s after the rollback commit: %s", e.SyncStatus, e.SyncError)
		}
	}
	if sv.Health != cluster.HealthHealthy {
		return "", fmt.Errorf("prod %s: %s", sv.Health, sv.Message)
	}
	if err := s.smoke(ctx, sv.URL, s.good.version, "smoke-prod-restored.xml"); err != nil {
		return "", err
	}
	return fmt.Sprintf("3.3.0 %s again, Healthy, Synced; smoke passed", short(s.good.digest)), nil
}

// oncallRollback is the on-call engineer's way back to an older release:
// 3.2.0 stopped when 3.3.1 was promoted (one previous version is kept, for
// scaleDownDelaySeconds), so the rollback starts it again as prod's preview,
// where prod waits for a person to promote. rollback --sync applies the
// commit and promotes the preview itself: 3.2.0 ran in prod before, so
// approval and soak do not apply (the commit's Fast-Lane trailer).
func (s *story) oncallRollback(ctx context.Context) (string, error) {
	out, err := s.r.smpctl(ctx, "rollback", "--gitops", s.state.GitOps, "--env", "prod", "--service", svcName,
		"--to", s.base.digest, "--by", "oncall", "--reason", "back to the release before 3.3",
		"--sync", "--dir", s.dir, "--sync-timeout", "5m")
	if err != nil {
		return "", err
	}
	line := firstLine(out, "rollback: ")
	if !strings.Contains(line, "was promoted") {
		return "", fmt.Errorf("smpctl rollback --sync to 3.2.0: want it promoted from the preview (it had been scaled down), got:\n%s", out)
	}
	sv, err := s.waitActive(ctx, "prod", s.base.digest, 30*time.Second)
	if err != nil {
		return "", err
	}
	if sv.Preview != nil {
		return "", fmt.Errorf("prod still has a preview after rollback --sync: %s", tagOf(sv.Preview))
	}
	if err := s.smoke(ctx, sv.URL, s.base.version, "smoke-prod-oncall.xml"); err != nil {
		return "", err
	}
	_, took, _ := strings.Cut(line, " after ")
	took, _, _ = strings.Cut(took, ":")
	return fmt.Sprintf("3.2.0 %s was scaled down: back on the preview and promoted by rollback --sync in %s; smoke passed", short(s.base.digest), took), nil
}

// ---- status helpers ----

func (s *story) service(ctx context.Context, env string) (cluster.ServiceStatus, error) {
	var st daemon.StatusReport
	if err := s.r.smpctlJSON(ctx, &st, "local", "status", "--dir", s.dir); err != nil {
		return cluster.ServiceStatus{}, err
	}
	for _, e := range st.Runtime.Envs {
		if e.Name != env {
			continue
		}
		for _, sv := range e.Services {
			if sv.Name == svcName {
				return sv, nil
			}
		}
	}
	return cluster.ServiceStatus{}, fmt.Errorf("%s runs no %s", env, svcName)
}

// waitActive waits until env's active version is digest and ready.
func (s *story) waitActive(ctx context.Context, env, digest string, within time.Duration) (cluster.ServiceStatus, error) {
	deadline := time.Now().Add(within)
	var sv cluster.ServiceStatus
	var err error
	for time.Now().Before(deadline) {
		sv, err = s.service(ctx, env)
		if err == nil && sv.Active != nil && sv.Active.Digest == digest && sv.Active.Ready == sv.Active.Replicas && sv.Active.Replicas > 0 {
			return sv, nil
		}
		select {
		case <-ctx.Done():
			return sv, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return sv, err
	}
	return sv, fmt.Errorf("%s does not serve %s within %s: %s %s (active %v)", env, short(digest), within, sv.Health, sv.Message, tagOf(sv.Active))
}

func tagOf(r *cluster.RevisionStatus) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s %d/%d", r.Tag, short(r.Digest), r.Ready, r.Replicas)
}

func short(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
