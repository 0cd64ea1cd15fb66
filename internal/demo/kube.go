package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/engines"
	"github.com/smp/delivery/internal/local/gitserve"
)

// The story on the real engines is the one docs/kubernetes.md tells: an
// smp-gitops repository made by smpctl gitops init and served over git's
// smart HTTP (TLS, a token), charts in an OCI registry, the scaffold's
// ApplicationSets applied as written to a cluster with Argo CD and Argo
// Rollouts; dev syncs by itself with the migration hook first, staging and
// prod through smpctl sync, prod pauses blue/green until smpctl rollout
// promote, and a bad release is aborted on its preview and rolled back in
// git. No container runs (KWOK makes pods Ready and Jobs succeed), so the
// builds are names: their digests are made up, and the checks read what
// the controllers did with them, on the cluster's own objects.

// kubeBuild is a build of order-svc: its image tag (sha-<short>), digest,
// and the chart version CD publishes with it.
type kubeBuild struct{ tag, digest, chart string }

func newKubeBuild(short string) kubeBuild {
	return kubeBuild{tag: "sha-" + short, digest: "sha256:" + strings.Repeat(short[:1], 64), chart: "0.1.0-sha-" + short}
}

func (b kubeBuild) ref() string { return imageName + ":" + b.tag + "@" + b.digest }

// serviceMonitorCRDs is the module whose ServiceMonitor CRD the cluster
// gets (the chart renders a ServiceMonitor, and production clusters have
// the Prometheus Operator): the version kubeschema validates the chart
// against, which a test checks.
const serviceMonitorCRDs = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// kubeWait bounds each wait for the controllers when the story's context
// has no deadline of its own (smpctl demo): Argo CD refreshes and syncs in
// seconds; the bound is for a loaded 2-core machine.
const kubeWait = 4 * time.Minute

// storyWait is how long a step waits for the controllers: until ctx's
// deadline when it has one (a test's, derived from go test -timeout), else
// kubeWait. A fixed bound under a caller's deadline is a guess about the
// machine: on a loaded one, Argo CD's application controller timed out
// loading the apiserver's OpenAPI schema (33 s), skipped the auto-sync and
// retried only at its next reconciliation, and dev synced three seconds
// before a fixed four minutes ran out.
func storyWait(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return kubeWait
}

var kubeEnvs = []string{"dev", "staging", "prod"}

// kubeStory is the state of the story on the real engines as it goes.
type kubeStory struct {
	o   Options
	ws  string
	log io.Writer // demo.log; the story writes it from one goroutine
	// last is the output of the last command that failed, for the timeline.
	last string

	c     *engines.Cluster
	cs    kubernetes.Interface
	dyn   dynamic.Interface
	k     *kube.Client
	git   *gitserve.Server
	reg   *chartRegistry
	token string
	caPEM string // file of the git server's certificate

	remote, work, repoURL, chartRepo string
	// committed is when the last smpctl write to smp-gitops returned.
	committed time.Time

	a, b, bad kubeBuild
	// metrics is the gate's Prometheus and the stand-in pods it scrapes
	// (kubemetrics.go).
	metrics *gateMetrics
	// stable is the prod ReplicaSet customers are on; preview and badHash
	// the ones releases B and the bad one paused on.
	stable, preview, badHash string
}

// runKube runs the story on the real engines.
func runKube(ctx context.Context, o Options) (Result, error) {
	if o.Main == nil {
		return Result{}, errors.New("demo on the real engines: Options.Main (smpctl in-process) is required")
	}
	if o.Cluster == nil {
		// Fail fast, before any workspace or timeline, when the engines are
		// not built: building them takes half an hour.
		if err := engines.Check(kubeOptions(o)...); err != nil {
			return Result{}, err
		}
	}
	ws, logf, err := newWorkspace(&o)
	if err != nil {
		return Result{}, err
	}
	defer logf.Close()
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return Result{}, err
	}
	s := &kubeStory{o: o, ws: ws, log: logf, token: hex.EncodeToString(tok), c: o.Cluster,
		a: newKubeBuild("aaaaaaa"), b: newKubeBuild("bbbbbbb"), bad: newKubeBuild("ccccccc")}
	defer s.close()
	res := Result{Workspace: ws}
	fmt.Fprintf(o.Out, "SMP delivery demo on the real engines (Kubernetes + KWOK, Argo CD, Argo Rollouts) in %s\n(every command and its output: demo.log)\n\n", ws)
	start := time.Now()
	res.Steps = walk(ctx, o, s.steps(), &s.last)
	res.Duration = time.Since(start)
	res.OK = passed(ctx, res.Steps)
	if s.c != nil {
		res.Kubeconfig = s.c.Kubeconfig()
	}
	res, err = verdict(ctx, o, res)
	if o.Keep && o.Cluster == nil && s.c != nil && ctx.Err() == nil {
		res.Kept = true
		fmt.Fprintf(o.Out, "\nkept running (--keep): the cluster's processes are this smpctl's children and stop with it.\n"+
			"  smpctl rollout status prod %s --kubeconfig %s\n"+
			"  export KUBECONFIG=%s; kubectl get applications -n argocd; kubectl get rollouts,pods -n smp-prod\n"+
			"stop with Ctrl-C (every process is stopped by its PID).\n",
			svcName, s.c.Kubeconfig(), s.c.Kubeconfig())
		<-ctx.Done()
		fmt.Fprintln(o.Out, "stopping the cluster, the registry and the git server")
	}
	return res, err
}

// kubeOptions are the engines the story needs.
func kubeOptions(o Options) []engines.Option {
	opts := []engines.Option{engines.WithRollouts(), engines.WithArgoCD()}
	if o.KubeBinDir != "" {
		opts = append(opts, engines.WithBinDir(o.KubeBinDir))
	}
	return opts
}

// close stops what the story started, the cluster last (and only its own).
func (s *kubeStory) close() {
	if s.metrics != nil {
		if err := s.metrics.close(); err != nil {
			fmt.Fprintf(s.o.Out, "stop the gate's Prometheus: %v\n", err)
		}
	}
	if s.git != nil {
		_ = s.git.Close()
	}
	if s.reg != nil {
		_ = s.reg.Close()
	}
	if s.c != nil && s.o.Cluster == nil {
		if err := s.c.Stop(); err != nil {
			fmt.Fprintf(s.o.Out, "stop the cluster: %v\n", err)
		}
		// etcd's data is most of the workspace's size and of no use once
		// the cluster is gone; the components' logs stay.
		_ = os.RemoveAll(filepath.Join(s.c.Dir(), "etcd"))
	}
}

func (s *kubeStory) steps() []stepFunc {
	return []stepFunc{
		{"engines up", s.up},
		{"charts → OCI registry", s.charts},
		{"smp-gitops: init + order-svc", s.gitopsInit},
		{"release A in git (dev → prod)", s.releaseA},
		{"Argo CD: apps/*.yaml applied", s.applyApps},
		{"ApplicationSets → Applications", s.generated},
		{"dev syncs A by itself", s.devA},
		{"smpctl sync staging (A)", s.stagingA},
		{"smpctl sync prod (A)", s.prodA},
		{"dev: B, migration hook first", s.devB},
		{"B approved; sync staging", s.stagingB},
		{"prod: B on the preview, paused", s.prodPreviewB},
		{"smpctl rollout promote", s.promoteB},
		{"bad release on prod's preview", s.badPreview},
		{"gate watch: abort + rollback", s.gateWatch},
		{"prod → B again (the watch's --sync)", s.rollbackB},
	}
}

// ---- steps ----

func (s *kubeStory) up(ctx context.Context) (string, error) {
	began := time.Now()
	if s.c == nil {
		// A minute on an idle laptop; without a deadline, the bound is for a
		// loaded 2-core one.
		wait := 2 * kubeWait
		if _, ok := ctx.Deadline(); ok {
			wait = storyWait(ctx)
		}
		sctx, cancel := context.WithTimeout(ctx, wait)
		c, err := engines.Start(sctx, filepath.Join(s.ws, "cluster"), kubeOptions(s.o)...)
		cancel()
		if err != nil {
			return "", err
		}
		s.c = c
	}
	var err error
	if s.cs, err = kubernetes.NewForConfig(s.c.RESTConfig()); err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	if s.dyn, err = dynamic.NewForConfig(s.c.RESTConfig()); err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	if s.k, err = kube.New(s.c.RESTConfig(), "the demo's cluster"); err != nil {
		return "", err
	}
	v, err := s.cs.Discovery().ServerVersion()
	if err != nil {
		return "", fmt.Errorf("ask the apiserver its version: %w", err)
	}
	n, err := s.cs.CoreV1().Nodes().Get(ctx, engines.NodeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if !nodeReady(n.Status.Conditions) {
		return "", fmt.Errorf("node %s is not Ready", engines.NodeName)
	}
	up := fmt.Sprintf("control plane in %s, all in %s", s.c.UpIn().Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	if s.o.Cluster != nil {
		up = "the caller's cluster"
	}
	return fmt.Sprintf("Kubernetes %s (node %s Ready, KWOK), Argo Rollouts, Argo CD; %s", v.GitVersion, engines.NodeName, up), nil
}

func (s *kubeStory) charts(ctx context.Context) (string, error) {
	reg, err := startChartRegistry()
	if err != nil {
		return "", err
	}
	s.reg = reg
	s.chartRepo = reg.Host + "/charts"
	chart := filepath.Join(s.o.ServiceDir, "deployments", "helm", svcName)
	if _, err := os.Stat(filepath.Join(chart, "Chart.yaml")); err != nil {
		return "", fmt.Errorf("no chart in %s: run from the repository root or pass --service-dir examples/order-svc", chart)
	}
	var versions []string
	for _, b := range []kubeBuild{s.a, s.b, s.bad} {
		// As CD publishes a chart per build: smpctl chart push --build.
		var out struct {
			Version string `json:"version"`
			Ref     string `json:"ref"`
			Digest  string `json:"digest"`
		}
		if err := s.smpctlJSON(ctx, &out, "chart", "push", "--dir", chart, "--repo", s.chartRepo, "--build", b.tag); err != nil {
			return "", err
		}
		if out.Version != b.chart || !strings.HasPrefix(out.Digest, "sha256:") {
			return "", fmt.Errorf("chart push --build %s published %s %s, want version %s with a digest", b.tag, out.Version, out.Digest, b.chart)
		}
		versions = append(versions, out.Version)
	}
	return fmt.Sprintf("%s/%s: %s", s.chartRepo, svcName, strings.Join(versions, ", ")), nil
}

func (s *kubeStory) gitopsInit(ctx context.Context) (string, error) {
	root := filepath.Join(s.ws, "git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	srv, err := gitserve.Start(root, s.token)
	if err != nil {
		return "", err
	}
	s.git = srv
	s.caPEM = filepath.Join(s.ws, "git-ca.pem")
	if err := os.WriteFile(s.caPEM, srv.CA, 0o600); err != nil {
		return "", err
	}
	s.remote = filepath.Join(root, "smp-gitops.git")
	s.repoURL = srv.URL + "/smp-gitops.git"
	s.work = filepath.Join(s.ws, "smp-gitops")
	if _, err := s.smpctl(ctx, "gitops", "init", s.work, "--remote", s.remote, "--repo-url", s.repoURL, "--chart-repo", s.chartRepo); err != nil {
		return "", err
	}
	if _, err := s.smpctl(ctx, "gitops", "add-service", svcName, "--critical", "--dir", s.work, "--chart-version", s.a.chart); err != nil {
		return "", err
	}
	if _, err := s.runGit(ctx, s.work, "push", "--quiet", "origin", "main"); err != nil {
		return "", err
	}
	// The scaffold's weekend freeze would make the story depend on the day
	// it runs.
	if _, err := s.write(ctx, "freeze", "remove", "--name", "weekend-prod"); err != nil {
		return "", err
	}
	// Argo CD reads what smpctl wrote, over HTTPS with the token.
	head, err := s.runGit(ctx, s.remote, "rev-parse", "main")
	if err != nil {
		return "", err
	}
	served, err := s.lsRemote(ctx)
	if err != nil {
		return "", err
	}
	if served != head {
		return "", fmt.Errorf("%s serves main at %q, the repository is at %s", s.repoURL, served, head)
	}
	return fmt.Sprintf("gitops init, add-service order-svc --critical, freeze weekend-prod removed; served at %s (TLS, token)", s.repoURL), nil
}

func (s *kubeStory) releaseA(ctx context.Context) (string, error) {
	before, err := s.commits(ctx)
	if err != nil {
		return "", err
	}
	if err := s.deployDev(ctx, s.a); err != nil {
		return "", err
	}
	if err := s.promoteThroughGates(ctx, s.a); err != nil {
		return "", err
	}
	after, err := s.commits(ctx)
	if err != nil {
		return "", err
	}
	if after-before < 5 {
		return "", fmt.Errorf("smp-gitops gained %d commits, want 5 (deploy, 2 approvals, 2 promotions)", after-before)
	}
	return fmt.Sprintf("%s: deploy dev, approve + promote staging and prod (%d commits)", s.a.tag, after-before), nil
}

func (s *kubeStory) applyApps(ctx context.Context) (string, error) {
	if err := s.applyServiceMonitorCRD(ctx); err != nil {
		return "", err
	}
	if err := s.repositorySecrets(ctx); err != nil {
		return "", err
	}
	for _, env := range kubeEnvs {
		manifest, err := os.ReadFile(filepath.Join(s.work, "apps", env+"-apps.yaml"))
		if err != nil {
			return "", err
		}
		if !bytes.Contains(manifest, []byte(s.repoURL)) || !bytes.Contains(manifest, []byte(s.chartRepo)) {
			return "", fmt.Errorf("apps/%s-apps.yaml does not name the repositories gitops init was given (%s, %s)", env, s.repoURL, s.chartRepo)
		}
		if err := s.c.Apply(ctx, engines.ArgoCDNamespace, manifest); err != nil {
			return "", fmt.Errorf("apply apps/%s-apps.yaml: %w", env, err)
		}
		if _, err := s.dyn.Resource(kube.ApplicationSetResource).Namespace(engines.ArgoCDNamespace).Get(ctx, "smp-"+env, metav1.GetOptions{}); err != nil {
			return "", fmt.Errorf("ApplicationSet smp-%s: %w", env, err)
		}
	}
	return "ServiceMonitor CRD, repository credentials, ApplicationSets smp-dev, smp-staging, smp-prod", nil
}

// generated waits for the ApplicationSets' Applications. The ApplicationSet
// controller requeues each ApplicationSet 3 minutes after every reconcile,
// so a first reconcile that generated nothing (seen under make test's load)
// would stall the story for 3 minutes: kube.Client.WaitGenerated refreshes
// the ApplicationSet, as GitHub's push webhook would, until the Application
// is there.
func (s *kubeStory) generated(ctx context.Context) (string, error) {
	for _, env := range kubeEnvs {
		wctx, cancel := context.WithTimeout(ctx, storyWait(ctx))
		_, err := s.k.WaitGenerated(wctx, env, svcName, func(u *unstructured.Unstructured) error {
			if err := kube.CheckSources(u, env, svcName, s.repoURL, s.chartRepo, s.a.chart); err != nil {
				return fmt.Errorf("%w; conditions %v", err, appConditions(u))
			}
			return nil
		})
		cancel()
		if err != nil {
			return "", fmt.Errorf("%s: generated by the ApplicationSet with chart %s: %w", kube.AppName(env, svcName), s.a.chart, err)
		}
	}
	return fmt.Sprintf("%s, %s, %s: chart %s from the registry, values from smp-gitops", kube.AppName("dev", svcName), kube.AppName("staging", svcName), kube.AppName("prod", svcName), s.a.chart), nil
}

func (s *kubeStory) devA(ctx context.Context) (string, error) {
	took, err := s.waitSyncedHealthy(ctx, "dev")
	if err != nil {
		return "", err
	}
	if err := s.checkDeployment(ctx, "dev", s.a); err != nil {
		return "", err
	}
	return fmt.Sprintf("automated: Synced and Healthy in %s; Deployment on %s, every replica ready", took, s.a.tag), nil
}

func (s *kubeStory) stagingA(ctx context.Context) (string, error) {
	detail, err := s.sync(ctx, "staging")
	if err != nil {
		return "", err
	}
	if err := s.checkDeployment(ctx, "staging", s.a); err != nil {
		return "", err
	}
	return detail + "; Deployment on " + s.a.tag, nil
}

func (s *kubeStory) prodA(ctx context.Context) (string, error) {
	detail, err := s.sync(ctx, "prod")
	if err != nil {
		return "", err
	}
	r, err := s.waitRollout(ctx, "prod Rollout Healthy on A", func(r kube.RolloutStatus) error {
		if r.Phase != "Healthy" || r.Active == nil || r.Active.Digest != s.a.digest {
			return fmt.Errorf("phase %s, active %+v", r.Phase, r.Active)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.stable = r.Stable
	if err := s.checkSelectors(ctx, s.stable, s.stable); err != nil {
		return "", err
	}
	return detail + "; Rollout Healthy on " + s.a.tag + ", both Services on " + s.stable, nil
}

func (s *kubeStory) devB(ctx context.Context) (string, error) {
	hooks, err := s.watchHooksAndReplicaSets(ctx, kube.Namespace("dev"))
	if err != nil {
		return "", err
	}
	defer hooks.stop()
	if err := s.deployDev(ctx, s.b); err != nil {
		return "", err
	}
	if err := s.webhook(ctx, map[string]string{"dev": s.b.chart}); err != nil {
		return "", err
	}
	took, err := s.waitSyncedHealthy(ctx, "dev")
	if err != nil {
		return "", err
	}
	if err := s.checkDeployment(ctx, "dev", s.b); err != nil {
		return "", err
	}
	order, err := hooks.migrationBefore(ctx, s.b)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Synced and Healthy in %s, %s after the commit; %s", took, time.Since(s.committed).Round(100*time.Millisecond), order), nil
}

func (s *kubeStory) stagingB(ctx context.Context) (string, error) {
	if err := s.promoteThroughGates(ctx, s.b); err != nil {
		return "", err
	}
	if err := s.webhook(ctx, map[string]string{"staging": s.b.chart, "prod": s.b.chart}); err != nil {
		return "", err
	}
	detail, err := s.sync(ctx, "staging")
	if err != nil {
		return "", err
	}
	if err := s.checkDeployment(ctx, "staging", s.b); err != nil {
		return "", err
	}
	return "approve + promote staging and prod; " + detail + "; Deployment on " + s.b.tag, nil
}

func (s *kubeStory) prodPreviewB(ctx context.Context) (string, error) {
	detail, err := s.sync(ctx, "prod")
	if err != nil {
		return "", err
	}
	r, err := s.waitRollout(ctx, "prod paused with B on the preview", func(r kube.RolloutStatus) error {
		if !r.Paused || r.Preview == nil || r.Preview.Digest != s.b.digest || r.Active == nil || r.Active.Digest != s.a.digest {
			return fmt.Errorf("phase %s, paused %v, active %+v, preview %+v", r.Phase, r.Paused, r.Active, r.Preview)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.preview = r.Current
	if err := s.checkSelectors(ctx, s.stable, s.preview); err != nil {
		return "", err
	}
	if err := s.checkReplicaSet(ctx, s.stable, s.a); err != nil {
		return "", err
	}
	if err := s.checkReplicaSet(ctx, s.preview, s.b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; paused: active %s (A), preview %s (B), both ReplicaSets ready", detail, s.stable, s.preview), nil
}

func (s *kubeStory) promoteB(ctx context.Context) (string, error) {
	began := time.Now()
	if _, err := s.smpctl(ctx, "rollout", "promote", "prod", svcName, "--kubeconfig", s.c.Kubeconfig()); err != nil {
		return "", err
	}
	if _, err := s.waitRollout(ctx, "promotion switches active to B", func(r kube.RolloutStatus) error {
		if r.Stable != s.preview || r.Active == nil || r.Active.Digest != s.b.digest {
			return fmt.Errorf("phase %s, stable %s, active %+v", r.Phase, r.Stable, r.Active)
		}
		return nil
	}); err != nil {
		return "", err
	}
	switched := time.Since(began)
	if err := s.checkSelectors(ctx, s.preview, s.preview); err != nil {
		return "", err
	}
	// A's ReplicaSet stays up for scaleDownDelaySeconds (the way back without a cold
	// start): Argo Rollouts marks it with the time it will scale it down, and removes
	// the mark when it does. Read before the wait for Argo CD below, which once
	// outlasted the delay (prod's Application Progressing until A's ReplicaSet was
	// scaled down), and the mark was gone.
	deadline, err := s.scaleDownDeadline(ctx, s.stable)
	if err != nil {
		return "", err
	}
	if _, err := s.waitSyncedHealthy(ctx, "prod"); err != nil {
		return "", err
	}
	// The promotion happened between began and now (the annotation has
	// whole seconds): how long the checks above took does not matter.
	if deadline.Before(began.Add(prodScaleDownDelay-time.Second)) || deadline.After(time.Now().Add(prodScaleDownDelay)) {
		return "", fmt.Errorf("release A's ReplicaSet %s scales down at %s, %s from now; want %s after the promotion (scaleDownDelaySeconds), which happened after %s", s.stable, deadline.Format(time.RFC3339), time.Until(deadline).Round(time.Second), prodScaleDownDelay, began.Format(time.RFC3339))
	}
	old := s.stable
	s.stable = s.preview
	return fmt.Sprintf("active on B (%s) in %s; prod Synced and Healthy; A's ReplicaSet %s kept until %s (scaleDownDelaySeconds)", s.stable, switched.Round(100*time.Millisecond), old, deadline.Format("15:04:05")), nil
}

// prodScaleDownDelay is values-prod.yaml's blueGreen.scaleDownDelaySeconds.
const prodScaleDownDelay = 300 * time.Second

// scaleDownDeadline reads when Argo Rollouts will scale prod's ReplicaSet hash down (its
// scale-down-deadline annotation, set by the controller without a domain prefix), waiting
// until it is set.
func (s *kubeStory) scaleDownDeadline(ctx context.Context, hash string) (time.Time, error) {
	var deadline time.Time
	err := eventually(ctx, "ReplicaSet "+hash+" gets its scale-down deadline", func(ctx context.Context) error {
		rss, err := s.cs.AppsV1().ReplicaSets(kube.Namespace("prod")).List(ctx, metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
		if err != nil {
			return err
		}
		if len(rss.Items) != 1 {
			return fmt.Errorf("%d ReplicaSets", len(rss.Items))
		}
		v := rss.Items[0].Annotations["scale-down-deadline"]
		if v == "" {
			return errors.New("no scale-down-deadline annotation yet")
		}
		deadline, err = time.Parse(time.RFC3339, v)
		return err
	})
	return deadline, err
}

func (s *kubeStory) badPreview(ctx context.Context) (string, error) {
	// B serves prod's customers: its (stand-in) pods' metrics are what the
	// gate will compare the bad release with.
	m, err := startGateMetrics(ctx, s.ws)
	if err != nil {
		return "", err
	}
	s.metrics = m
	if err := m.add(ctx, "prod", s.b.tag, false); err != nil {
		return "", err
	}
	if err := s.deployDev(ctx, s.bad); err != nil {
		return "", err
	}
	if err := s.promoteThroughGates(ctx, s.bad); err != nil {
		return "", err
	}
	if err := s.webhook(ctx, map[string]string{"dev": s.bad.chart, "staging": s.bad.chart, "prod": s.bad.chart}); err != nil {
		return "", err
	}
	detail, err := s.sync(ctx, "prod")
	if err != nil {
		return "", err
	}
	r, err := s.waitRollout(ctx, "prod paused with the bad release on the preview", func(r kube.RolloutStatus) error {
		if !r.Paused || r.Preview == nil || r.Preview.Digest != s.bad.digest {
			return fmt.Errorf("phase %s, paused %v, preview %+v", r.Phase, r.Paused, r.Preview)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.badHash = r.Current
	if err := s.checkSelectors(ctx, s.stable, s.badHash); err != nil {
		return "", err
	}
	// The preview gets traffic (the smoke job's, a tester's), and its order
	// reads fail.
	if err := m.add(ctx, "prod", s.bad.tag, true); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s) through the gates; %s; paused: preview %s, customers still on B", s.bad.tag, short(s.bad.digest), detail, s.badHash), nil
}

// gateWatch is the reusable CD's gate watch on prod (cd.yml): smpctl verify
// --for sees the preview's order reads fail twice in a row and, as
// delivery.yaml's onGateFailure (default rollback) says, aborts the paused
// Rollout on the cluster and writes the rollback(prod) commit with the
// gate's figures and a hold; with --sync it then has the ApplicationSet
// regenerate prod's Application with B's chart and syncs it. No one types
// a command.
func (s *kubeStory) gateWatch(ctx context.Context) (string, error) {
	// --migrations none: the story's images are names and made-up digests
	// (KWOK runs no containers), in no registry, so there is no schema to
	// read; the check itself runs in the local demo and internal/cli.
	out, code, err := s.smpctlCode(ctx, "verify", "--prometheus", s.metrics.prom.URL, "--env", "prod", "--service", svcName,
		"--window", "10s", "--for", "2m", "--every", "1s", "--failure-limit", "2", "--migrations", "none",
		"--gitops", s.remote, "--kubeconfig", s.c.Kubeconfig(), "--run", "demo", "--sync")
	s.committed = time.Now()
	if code != 1 || !strings.Contains(out, "abort: aborted") || !strings.Contains(out, "rollback: rollback(prod)") || !strings.Contains(out, "sync: ") || !strings.Contains(out, "active in prod") {
		return "", fmt.Errorf("smpctl verify --for --sync exited %d; want 1, the Rollout aborted, the rollback written and synced:\n%s\n%w", code, out, err)
	}
	// The watch's --sync has already applied the rollback by now, so the
	// aborted state it went through is gone: the next step checks where
	// the Rollout and both Services ended.
	msg, err := s.runGit(ctx, s.remote, "log", "-1", "--format=%B", "main")
	if err != nil {
		return "", err
	}
	for _, want := range []string{"rollback(prod): " + svcName, "Gate-Verdict: failed", "Gate-Version: " + s.bad.tag, "Gate-Baseline: " + s.b.tag, "Gate-Failed: error rate"} {
		if !strings.Contains(msg, want) {
			return "", fmt.Errorf("the watch's commit lacks %q:\n%s", want, msg)
		}
	}
	if _, err := s.runGit(ctx, s.remote, "cat-file", "-e", "main:state/holds/prod/"+svcName+".yaml"); err != nil {
		return "", fmt.Errorf("the watch placed no hold on prod: %w", err)
	}
	return "exit 1: " + firstLine(out, "watch failed") + "; Rollout aborted, active never left B; rollback(prod) commit with the gate's figures + hold; " + firstLine(out, "sync:"), nil
}

// rollbackB checks what the watch's --sync did with its rollback commit:
// the ApplicationSet regenerated prod's Application with B's chart, Argo
// CD put B's spec back, and the Rollout left its aborted state Healthy on
// B — with no sync typed.
func (s *kubeStory) rollbackB(ctx context.Context) (string, error) {
	if err := s.eventuallyApp(ctx, "prod", "regenerated with chart "+s.b.chart, func(u *unstructured.Unstructured) error {
		return checkChart(u, s.b.chart)
	}); err != nil {
		return "", err
	}
	if _, err := s.waitRollout(ctx, "prod back on B, Healthy, no abort", func(r kube.RolloutStatus) error {
		if r.Phase != "Healthy" || r.Aborted || r.Current != s.stable || r.Active == nil || r.Active.Digest != s.b.digest {
			return fmt.Errorf("phase %s, aborted %v, current %s, active %+v", r.Phase, r.Aborted, r.Current, r.Active)
		}
		return nil
	}); err != nil {
		return "", err
	}
	if err := s.checkSelectors(ctx, s.stable, s.stable); err != nil {
		return "", err
	}
	return fmt.Sprintf("chart %s; Rollout Healthy on B (%s), no abort, no sync typed",
		s.b.chart, short(s.b.digest)), nil
}

// ---- commands ----

func (s *kubeStory) logf(format string, args ...any) {
	fmt.Fprintf(s.log, format, args...)
}

// smpctl runs smpctl in-process (Options.Main) with a timeout and returns
// its standard output; an exit code other than 0 is an error.
func (s *kubeStory) smpctl(ctx context.Context, args ...string) (string, error) {
	out, _, err := s.smpctlCode(ctx, args...)
	return out, err
}

// smpctlCode is smpctl that also returns the exit code.
func (s *kubeStory) smpctlCode(ctx context.Context, args ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	began := time.Now()
	code := s.o.Main(ctx, args, &stdout, &stderr)
	s.logf("$ smpctl %s  # %s, exit %d\n%s%s\n", strings.Join(args, " "), time.Since(began).Round(time.Millisecond), code, stdout.String(), stderr.String())
	if code != 0 {
		s.last = strings.TrimSpace(stderr.String() + "\n" + tail(stdout.String(), 600))
		return stdout.String(), code, fmt.Errorf("smpctl %s: exit %d: %s", strings.Join(args, " "), code, tail(strings.TrimSpace(stderr.String()), 800))
	}
	return stdout.String(), 0, nil
}

// smpctlJSON runs smpctl -o json and decodes its output into v.
func (s *kubeStory) smpctlJSON(ctx context.Context, v any, args ...string) error {
	return runJSON(ctx, s.smpctl, v, args...)
}

// write runs a write command of smpctl against smp-gitops.
func (s *kubeStory) write(ctx context.Context, args ...string) (string, error) {
	out, err := s.smpctl(ctx, append(args, "--gitops", s.remote)...)
	s.committed = time.Now()
	return out, err
}

func (s *kubeStory) deployDev(ctx context.Context, b kubeBuild) error {
	_, err := s.write(ctx, "deploy", "--env", "dev", "--service", svcName, "--image", b.ref(), "--chart-version", b.chart, "--chart-repo", s.chartRepo, "--by", "ci")
	return err
}

// promoteThroughGates takes a build from dev to prod in git: an approver
// for staging, a release manager who is not the deployer for prod.
func (s *kubeStory) promoteThroughGates(ctx context.Context, b kubeBuild) error {
	for _, args := range [][]string{
		{"approve", "--env", "staging", "--service", svcName, "--version", b.tag, "--by", "alice"},
		{"promote", "--service", svcName, "--from", "dev", "--to", "staging", "--by", "ci"},
		{"approve", "--env", "prod", "--service", svcName, "--version", b.tag, "--by", "carol", "--requested-by", "dave"},
		{"promote", "--service", svcName, "--from", "staging", "--to", "prod", "--by", "dave"},
	} {
		if _, err := s.write(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// sync runs smpctl sync ENV on the cluster and checks the Application
// Synced; it says how long that took, and how long after the commit.
func (s *kubeStory) sync(ctx context.Context, env string) (string, error) {
	began := time.Now()
	if _, err := s.smpctl(ctx, "sync", env, "--kubeconfig", s.c.Kubeconfig()); err != nil {
		return "", err
	}
	took := time.Since(began)
	app, err := s.app(ctx, env)
	if err != nil {
		return "", err
	}
	if st, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status"); st != "Synced" {
		return "", fmt.Errorf("after smpctl sync %s, %s is %s", env, app.GetName(), st)
	}
	return fmt.Sprintf("smpctl sync %s: Synced in %s, %s after the commit", env, took.Round(100*time.Millisecond), time.Since(s.committed).Round(100*time.Millisecond)), nil
}

// runGit runs git in dir and returns its trimmed standard output. The git
// server's certificate is trusted through GIT_SSL_CAINFO, which wins over
// any http.sslCAInfo setting.
func (s *kubeStory) runGit(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_SSL_CAINFO="+s.caPEM)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	s.logf("$ (cd %s && git %s)  # %v\n%s%s\n", dir, strings.Join(args, " "), errOr(err), stdout.String(), stderr.String())
	if err != nil {
		s.last = strings.TrimSpace(stderr.String())
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, tail(strings.TrimSpace(stderr.String()), 800))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// lsRemote returns main's commit as the git server serves it to a client
// with the token.
func (s *kubeStory) lsRemote(ctx context.Context) (string, error) {
	url := strings.Replace(s.repoURL, "https://", "https://x-access-token:"+s.token+"@", 1)
	out, err := s.runGit(ctx, s.ws, "ls-remote", url, "refs/heads/main")
	if err != nil {
		return "", err
	}
	head, _, _ := strings.Cut(out, "\t")
	return head, nil
}

// commits counts the commits of smp-gitops's main.
func (s *kubeStory) commits(ctx context.Context) (int, error) {
	out, err := s.runGit(ctx, s.remote, "rev-list", "--count", "main")
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscan(out, &n); err != nil {
		return 0, fmt.Errorf("git rev-list --count: %q: %w", out, err)
	}
	return n, nil
}

// ---- Argo CD's inputs ----

// applyServiceMonitorCRD installs the Prometheus Operator's ServiceMonitor
// CRD from its module (the go command fetches it into the module cache).
func (s *kubeStory) applyServiceMonitorCRD(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(dctx, "go", "mod", "download", "-json", serviceMonitorCRDs)
	// Outside any module: no go.mod is read or changed.
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go mod download %s (for the ServiceMonitor CRD): %w: %s", serviceMonitorCRDs, err, tail(stderr.String(), 400))
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return fmt.Errorf("go mod download %s: %w", serviceMonitorCRDs, err)
	}
	crd, err := os.ReadFile(filepath.Join(mod.Dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"))
	if err != nil {
		return err
	}
	if err := s.c.Apply(ctx, "", crd); err != nil {
		return fmt.Errorf("apply the ServiceMonitor CRD: %w", err)
	}
	return nil
}
