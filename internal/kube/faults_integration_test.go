//go:build integration

package kube_test

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/smp/delivery/internal/cli"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/image/helmchart"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/imagetest"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// The faults an SRE meets on the real engines, each on a cluster that serves release A
// everywhere: smpctl says what went wrong, where, and what to do, with the exit code of
// its kind (2 for input, 1 for a refusal), and the version that served keeps serving —
// nothing is half-applied. The bad input that needs no cluster (no kubeconfig, a wrong
// context, an unreachable API server) is in internal/cli's kube_bad_input.txtar.
func TestFaultsOnTheRealEnginesKeepThePreviousVersionServing(t *testing.T) {
	t.Parallel() // its own cluster
	b := newBuild("bbbbbbb")
	s, e := startWithReleaseA(t, b)
	c, a, srv, work, chartRepo := s.c, e.a, e.srv, e.work, e.chartRepo
	stable := s.waitRollout("prod Healthy on A", func(r kube.RolloutStatus) error {
		if r.Phase != "Healthy" || r.Active == nil || r.Active.Digest != a.digest {
			return fmt.Errorf("phase %s, active %+v", r.Phase, r.Active)
		}
		return nil
	}).Stable

	viewer := s.viewerKubeconfig()
	t.Run("RBAC forbids the write: exit 1, the verbs to ask for, the Application untouched", func(t *testing.T) {
		s := s.on(t)
		code, out := s.smpctlCode("sync", "staging", "--kubeconfig", viewer)
		wantExit(t, code, 1, out)
		// The first write a sync makes is the ApplicationSet's refresh.
		for _, want := range []string{"forbidden by the cluster's RBAC: read ApplicationSet argocd/smp-staging", "cannot get resource \"applicationsets\"", "docs/kubernetes.md lists the verbs smpctl uses"} {
			if !strings.Contains(out, want) {
				t.Errorf("smpctl sync as a viewer says\n%s\nwant %q", out, want)
			}
		}
		if op, ok := s.app(kube.AppName("staging", service)).Object["operation"]; ok {
			t.Errorf("the refused sync left an operation on the Application: %v", op)
		}
	})

	t.Run("an Application or Rollout that does not exist: exit 2, how to make it", func(t *testing.T) {
		s := s.on(t)
		code, out := s.smpctlCode("sync", "qa", "--kubeconfig", c.Kubeconfig())
		wantExit(t, code, 2, out)
		if !strings.Contains(out, "no Application of environment qa in namespace argocd") || !strings.Contains(out, "apps/qa-apps.yaml") {
			t.Errorf("smpctl sync qa says\n%s", out)
		}
		code, out = s.smpctlCode("rollout", "promote", "prod", "no-such-svc", "--kubeconfig", c.Kubeconfig())
		wantExit(t, code, 2, out)
		if !strings.Contains(out, "not found in the cluster: Rollout smp-prod/no-such-svc") {
			t.Errorf("smpctl rollout promote of a missing Rollout says\n%s", out)
		}
	})

	// B runs in dev; the faults below happen on its way to staging and prod.
	s.write("deploy", "--env", "dev", "--service", service, "--image", b.ref(), "--chart-version", b.chart, "--chart-repo", chartRepo, "--by", "ci")
	s.webhook(map[string]string{"dev": b.chart})
	s.waitSyncedHealthy("dev", "dev syncs release B by itself")
	s.checkDeployment("dev", b)

	t.Run("a preview that never gets ready: sync says where it is stuck, promote is refused, A keeps serving", func(t *testing.T) {
		s := s.on(t)
		// Someone asks prod for more CPU than any node has (KWOK's node: 1k cores): B's
		// pods stay Pending, the migration hook (its own requests) still runs.
		gitcmdtest.Git(t, work, "pull", "--quiet", "--ff-only", "origin", "main")
		prodFile := filepath.Join(work, "environments", "prod", service+".yaml")
		f, err := os.OpenFile(prodFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString("resources:\n  requests: {cpu: \"2000\", memory: 64Mi}\n  limits: {cpu: \"2000\", memory: 256Mi}\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		gitcmdtest.Git(t, work, "-c", "user.name=dev", "-c", "user.email=dev@smp.vn", "commit", "--quiet", "-am", "prod: order-svc asks for 2000 CPUs")
		gitcmdtest.Git(t, work, "push", "--quiet", "origin", "main")
		s.promoteThroughGates(b)
		s.webhook(map[string]string{"prod": b.chart})

		code, out := s.smpctlCode("sync", "prod", "--kubeconfig", c.Kubeconfig(), "--timeout", "20s")
		wantExit(t, code, 1, out)
		for _, want := range []string{"not Synced and Healthy after 20s", kube.AppName("prod", service) + " is ", "The previous version keeps serving"} {
			if !strings.Contains(out, want) {
				t.Errorf("smpctl sync prod with a preview that cannot schedule says\n%s\nwant %q", out, want)
			}
		}
		// Where the sync stands after 20 s depends on the machine's load:
		// done, with the Rollout waiting for B's pods, or still running its
		// hooks. Either way the message says which, and a preview named
		// comes with how to see why its pods are not ready.
		// While the hooks run the Rollout is still healthy on A, and a
		// healthy Rollout is not listed: it is named once the sync is done.
		switch {
		case strings.Contains(out, kube.AppName("prod", service)+" is Synced, Progressing"):
			if !strings.Contains(out, "Rollout smp-prod/order-svc: ") {
				t.Errorf("smpctl sync prod says the Rollout progresses without naming it:\n%s", out)
			}
		case !strings.Contains(out, "(operation Running"):
			t.Errorf("smpctl sync prod says neither that the sync is done with the Rollout progressing nor that its operation still runs:\n%s", out)
		}
		if strings.Contains(out, "; preview ") && !strings.Contains(out, "pods ready (kubectl -n smp-prod get pods -l rollouts-pod-template-hash=") {
			t.Errorf("smpctl sync prod names the preview without how to see why its pods are not ready:\n%s", out)
		}
		// The sync goes on in Argo CD: B reaches the preview, its pods
		// Pending. Promote is refused from then on.
		s.waitRollout("B on the preview, its pods not ready", func(r kube.RolloutStatus) error {
			if r.Preview == nil || r.Preview.Digest != b.digest || r.Preview.Ready != 0 {
				return fmt.Errorf("phase %s, preview %+v", r.Phase, r.Preview)
			}
			return nil
		})
		code, out = s.smpctlCode("rollout", "promote", "prod", service, "--kubeconfig", c.Kubeconfig())
		wantExit(t, code, 1, out)
		for _, want := range []string{"the new version is not ready for promotion (preview", "pods ready", "kubectl -n smp-prod get pods -l rollouts-pod-template-hash="} {
			if !strings.Contains(out, want) {
				t.Errorf("smpctl rollout promote of a preview that is not ready says\n%s\nwant %q", out, want)
			}
		}
		// RBAC: a viewer cannot abort the update either.
		code, out = s.smpctlCode("rollout", "abort", "prod", service, "--kubeconfig", viewer)
		wantExit(t, code, 1, out)
		if !strings.Contains(out, "forbidden by the cluster's RBAC: abort Rollout smp-prod/order-svc") {
			t.Errorf("smpctl rollout abort as a viewer says\n%s", out)
		}
		s.checkActive(stable, a)

		// The way out: abort the update; A never stopped serving.
		s.smpctl("rollout", "abort", "prod", service, "--kubeconfig", c.Kubeconfig())
		s.waitRollout("aborted, A active", func(r kube.RolloutStatus) error {
			if !r.Aborted || r.Active == nil || r.Active.Digest != a.digest {
				return fmt.Errorf("phase %s, aborted %v, active %+v", r.Phase, r.Aborted, r.Active)
			}
			return nil
		})
		s.checkActive(stable, a)
	})

	t.Run("a chart version the chart repository does not have: exit 1 with the repository's answer, B keeps serving", func(t *testing.T) {
		s := s.on(t)
		missing := newBuild("ddddddd")
		// Without --chart-repo deploy cannot check the version: what registry gc or a hand
		// edit can also leave behind.
		s.write("deploy", "--env", "dev", "--service", service, "--image", missing.ref(), "--chart-version", missing.chart, "--by", "ci")
		s.webhook(map[string]string{"dev": missing.chart})
		code, out := s.smpctlCode("sync", "dev", "--kubeconfig", c.Kubeconfig(), "--timeout", "30s")
		wantExit(t, code, 1, out)
		for _, want := range []string{kube.AppName("dev", service), missing.chart, "The previous version keeps serving"} {
			if !strings.Contains(out, want) {
				t.Errorf("smpctl sync dev with a missing chart says\n%s\nwant %q", out, want)
			}
		}
		s.keepsServing("dev", b, missing)
	})

	t.Run("smp-gitops unreachable: sync refuses with the ApplicationSet's words, nothing synced, A keeps serving", func(t *testing.T) {
		s := s.on(t)
		app := kube.AppName("staging", service)
		pinned := kube.PinnedChart(s.app(app))
		srv.Close()
		// The Applications render from what the ApplicationSet's generator read (their
		// values travel inline): with git unreachable nothing new is generated, and a sync
		// of what they hold would apply what git said before, saying nothing of git. Staging
		// asks for B in git (the preview case promoted it) and, synced only by hand, still
		// runs A.
		code, out := s.smpctlCode("sync", "staging", "--kubeconfig", c.Kubeconfig())
		wantExit(t, code, 1, out)
		t.Logf("smpctl sync staging with smp-gitops unreachable said:\n%s", out)
		host := strings.TrimPrefix(srv.URL, "https://")
		for _, want := range []string{"Argo CD could not generate the Applications from smp-gitops: ApplicationSet argocd/smp-staging", host, "nothing was synced", "Check that Argo CD reaches", "smpctl sync staging"} {
			if !strings.Contains(out, want) {
				t.Errorf("smpctl sync staging with smp-gitops unreachable says\n%s\nwant %q", out, want)
			}
		}
		u := s.app(app)
		if op, ok := u.Object["operation"]; ok {
			t.Errorf("the refused sync left an operation on the Application: %v", op)
		}
		if got := kube.PinnedChart(u); got != pinned {
			t.Errorf("with smp-gitops unreachable, staging's Application pins %q, want what it pinned before, %q", got, pinned)
		}
		s.checkDeployment("staging", a)

		// Argo CD's own report says the same, in the ApplicationSet's conditions.
		set, err := s.dyn.Resource(kube.ApplicationSetResource).Namespace(kubecluster.ArgoCDNamespace).Get(testctx.New(t), "smp-staging", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(set.Object, "status", "conditions")
		reported := false
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "ErrorOccurred" && m["status"] == "True" && strings.Contains(fmt.Sprint(m["message"]), host) {
				reported = true
			}
		}
		if !reported {
			t.Errorf("ApplicationSet smp-staging's conditions do not name %s: %v", host, conds)
		}
	})
}

// checkActive checks that prod's active Service selects the ReplicaSet hash, which runs bl
// with every replica ready.
func (s *story) checkActive(hash string, bl build) {
	s.t.Helper()
	svc, err := s.cs.CoreV1().Services("smp-prod").Get(testctx.New(s.t), service, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if h := svc.Spec.Selector[hashLabel]; h != hash {
		s.t.Errorf("Service %s selects %s=%q, want %q", service, hashLabel, h, hash)
	}
	s.checkReplicaSet(hash, bl)
}

// on is the story as seen by subtest t: its helpers fail t, not the parent.
func (s *story) on(t testing.TB) *story {
	c := *s
	c.t = t
	return &c
}

// smpctlCode runs the CLI in-process and returns its exit code and all it printed.
func (s *story) smpctlCode(args ...string) (int, string) {
	s.t.Helper()
	var out bytes.Buffer
	code := cli.Main(testctx.New(s.t), args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

func wantExit(t *testing.T, got, want int, out string) {
	t.Helper()
	if got != want {
		t.Fatalf("exit %d, want %d:\n%s", got, want, out)
	}
}

// viewerKubeconfig is a kubeconfig for a service account that may read Applications and
// Rollouts but change nothing: what an engineer without the deployer role has.
func (s *story) viewerKubeconfig() string {
	s.t.Helper()
	ctx := testctx.New(s.t)
	const name = "viewer"
	ns := kubecluster.ArgoCDNamespace
	if _, err := s.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	read := []rbacv1.PolicyRule{
		{APIGroups: []string{"argoproj.io"}, Resources: []string{"applications", "rollouts"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"", "apps"}, Resources: []string{"services", "replicasets", "pods"}, Verbs: []string{"get", "list", "watch"}},
	}
	if _, err := s.cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "smp-viewer"}, Rules: read}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "smp-viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "smp-viewer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	tok, err := s.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatalf("token for the viewer: %v", err)
	}
	cfg, err := clientcmd.LoadFromFile(s.c.Kubeconfig())
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{name: {Token: tok.Status.Token}}
	for _, kc := range cfg.Contexts {
		kc.AuthInfo = name
	}
	file := filepath.Join(s.t.TempDir(), "viewer.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		s.t.Fatal(err)
	}
	return file
}

// applyApps applies the scaffold's apps/*.yaml as gitops init wrote them.
func (s *story) applyApps(work, repoURL, chartRepo string) {
	s.t.Helper()
	for _, env := range envs {
		manifest, err := os.ReadFile(filepath.Join(work, "apps", env+"-apps.yaml"))
		if err != nil {
			s.t.Fatal(err)
		}
		if err := s.c.Apply(testctx.New(s.t), kubecluster.ArgoCDNamespace, manifest); err != nil {
			s.t.Fatalf("apply apps/%s-apps.yaml: %v", env, err)
		}
	}
}

// storyEnv is what startWithReleaseA made: smp-gitops (its bare remote is story.remote, a
// clone in work, served at repoURL by srv) and the chart repository.
type storyEnv struct {
	work, repoURL, chartRepo string
	srv                      *httptest.Server
	a                        build
}

// startWithReleaseA starts a cluster with Argo CD and Argo Rollouts and brings release A to
// every environment as the story does: charts for A and builds pushed, gitops init, the
// scaffold's apps applied, dev synced by itself, staging and prod through smpctl sync.
func startWithReleaseA(t testing.TB, builds ...build) (*story, storyEnv) {
	t.Helper()
	c := kubecluster.Start(t, kubecluster.WithRollouts(), kubecluster.WithArgoCD())
	ctx := testctx.New(t)
	s := &story{t: t, c: c, cs: kubernetes.NewForConfigOrDie(c.RESTConfig()), dyn: dynamic.NewForConfigOrDie(c.RESTConfig())}
	e := storyEnv{chartRepo: imagetest.Registry(t) + "/charts", a: newBuild("aaaaaaa")}
	for _, bl := range append([]build{e.a}, builds...) {
		if _, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: orderChart, Repo: e.chartRepo, Version: bl.chart}); err != nil {
			t.Fatalf("push chart %s: %v", bl.chart, err)
		}
	}
	root := t.TempDir()
	s.remote = filepath.Join(root, "smp-gitops.git")
	e.srv, _ = gitopstest.HTTPSRemote(t, root, gitToken)
	e.repoURL = e.srv.URL + "/smp-gitops.git"
	e.work = filepath.Join(t.TempDir(), "smp-gitops")
	s.smpctl("gitops", "init", e.work, "--remote", s.remote, "--repo-url", e.repoURL, "--chart-repo", e.chartRepo)
	s.smpctl("gitops", "add-service", service, "--critical", "--dir", e.work, "--chart-version", e.a.chart)
	gitcmdtest.Git(t, e.work, "push", "--quiet", "origin", "main")
	s.write("freeze", "remove", "--name", "weekend-prod")
	s.write("deploy", "--env", "dev", "--service", service, "--image", e.a.ref(), "--chart-version", e.a.chart, "--chart-repo", e.chartRepo, "--by", "ci")
	s.promoteThroughGates(e.a)
	s.applyServiceMonitorCRD()
	s.repositorySecrets(e.repoURL, e.chartRepo)
	s.applyApps(e.work, e.repoURL, e.chartRepo)
	for _, env := range envs {
		s.eventuallyGenerated(env, func(u *unstructured.Unstructured) error {
			return kube.CheckSources(u, env, service, e.repoURL, e.chartRepo, e.a.chart)
		})
	}
	s.waitSyncedHealthy("dev", "dev syncs release A by itself")
	s.sync("staging", "release A")
	s.sync("prod", "release A")
	return s, e
}
