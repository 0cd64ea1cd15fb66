//go:build integration

package kube_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/smp/delivery/internal/cli"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/kubeschema"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const (
	orderChart = "../../examples/order-svc/deployments/helm/order-svc"
	service    = "order-svc"
	image      = "ghcr.io/smp/order-svc"
	gitToken   = "e2e-token"
	hashLabel  = "rollouts-pod-template-hash"
)

// These are the faults test's steps on the real engines: the story it starts from is the
// demo's (internal/demo/kube.go), whose helpers are internal to that package.

// A build of order-svc: its image tag (sha-<short>), digest, and the chart
// version CD publishes with it.
type build struct{ tag, digest, chart string }

func newBuild(short string) build {
	return build{tag: "sha-" + short, digest: "sha256:" + strings.Repeat(short[:1], 64), chart: "0.1.0-sha-" + short}
}

func (b build) ref() string { return image + ":" + b.tag + "@" + b.digest }

var appGVR = kube.ApplicationResource

var envs = []string{"dev", "staging", "prod"}

type story struct {
	t      testing.TB
	c      *kubecluster.Cluster
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	remote string
	// committed is when the last smpctl write to smp-gitops returned.
	committed time.Time
}

// smpctl runs the CLI in-process and fails the test unless it exits 0.
func (s *story) smpctl(args ...string) string {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	if code := cli.Main(testctx.New(s.t), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		s.t.Fatalf("smpctl %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// write runs a write command of smpctl against smp-gitops.
func (s *story) write(args ...string) string {
	s.t.Helper()
	out := s.smpctl(append(args, "--gitops", s.remote)...)
	s.committed = time.Now()
	return out
}

// promoteThroughGates takes a build from dev to prod in git: an approver
// for staging, a release manager who is not the deployer for prod.
func (s *story) promoteThroughGates(bl build) {
	s.t.Helper()
	s.write("approve", "--env", "staging", "--service", service, "--version", bl.tag, "--by", "alice")
	s.write("promote", "--service", service, "--from", "dev", "--to", "staging", "--by", "ci")
	s.write("approve", "--env", "prod", "--service", service, "--version", bl.tag, "--by", "carol", "--requested-by", "dave")
	s.write("promote", "--service", service, "--from", "staging", "--to", "prod", "--by", "dave")
}

// webhook does what the push webhook GitHub sends to Argo CD does, with
// kube.Client.Regenerate (which smpctl rollback runs too): it refreshes the
// ApplicationSets (their Applications' chart versions come from the
// environment files) and the Applications, and waits until each
// Application named in charts pins that chart version.
func (s *story) webhook(charts map[string]string) {
	s.t.Helper()
	ctx := testctx.New(s.t)
	k := s.kube()
	for _, env := range envs {
		wait := time.Hour
		if d, ok := ctx.Deadline(); ok {
			wait = time.Until(d)
		}
		if err := k.Regenerate(ctx, env, service, charts[env], wait); err != nil {
			s.t.Fatalf("%s: %v", kube.AppName(env, service), err)
		}
	}
}

// kube is a kube.Client of the story's cluster.
func (s *story) kube() *kube.Client {
	s.t.Helper()
	k, err := kube.New(s.c.RESTConfig(), "")
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

// sync runs smpctl sync ENV on the cluster and logs how long the
// Applications took to be Synced and Healthy (or Suspended).
func (s *story) sync(env, what string) {
	s.t.Helper()
	began := time.Now()
	s.smpctl("sync", env, "--kubeconfig", s.c.Kubeconfig())
	s.t.Logf("figure: smpctl sync %s (%s): Synced and Healthy/Suspended in %s, %s after the commit", env, what,
		time.Since(began).Round(time.Millisecond), time.Since(s.committed).Round(time.Millisecond))
	app := s.app(kube.AppName(env, service))
	if st, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status"); st != "Synced" {
		s.t.Fatalf("after smpctl sync %s, %s is %s", env, app.GetName(), st)
	}
}

func (s *story) app(name string) *unstructured.Unstructured {
	s.t.Helper()
	u, err := s.dyn.Resource(appGVR).Namespace(kubecluster.ArgoCDNamespace).Get(testctx.New(s.t), name, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// eventuallyApp waits until the Application of env satisfies cond, and
// fails with its status conditions.
func (s *story) eventuallyApp(env, what string, cond func(*unstructured.Unstructured) error) {
	s.t.Helper()
	name := kube.AppName(env, service)
	testctx.Eventually(s.t, 200*time.Millisecond, name+": "+what, func() error {
		u, err := s.dyn.Resource(appGVR).Namespace(kubecluster.ArgoCDNamespace).Get(testctx.New(s.t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := cond(u); err != nil {
			return fmt.Errorf("%w; conditions %v", err, conditions(u))
		}
		return nil
	})
}

// eventuallyGenerated waits until the ApplicationSet has generated env's
// Application and it satisfies cond, refreshing the ApplicationSet as the
// push webhook would (kube.Client.WaitGenerated): the controller requeues an
// ApplicationSet 3 minutes after each reconcile, and under make test's load
// a first reconcile that generated nothing once cost the faults test those
// 3 minutes.
func (s *story) eventuallyGenerated(env string, cond func(*unstructured.Unstructured) error) {
	s.t.Helper()
	if _, err := s.kube().WaitGenerated(testctx.New(s.t), env, service, func(u *unstructured.Unstructured) error {
		if err := cond(u); err != nil {
			return fmt.Errorf("%w; conditions %v", err, conditions(u))
		}
		return nil
	}); err != nil {
		s.t.Fatalf("%s: generated by the ApplicationSet: %v", kube.AppName(env, service), err)
	}
}

func conditions(u *unstructured.Unstructured) []string {
	var out []string
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		out = append(out, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	if msg, _, _ := unstructured.NestedString(u.Object, "status", "operationState", "message"); msg != "" {
		out = append(out, "operation: "+msg)
	}
	return out
}

// waitSyncedHealthy waits until the Application of env is Synced and
// Healthy on the head of smp-gitops.
func (s *story) waitSyncedHealthy(env, what string) {
	s.t.Helper()
	began := time.Now()
	head := strings.TrimSpace(gitcmdtest.Git(s.t, s.remote, "rev-parse", "main"))
	file := gitcmdtest.Git(s.t, s.remote, "show", head+":environments/"+env+"/"+service+".yaml")
	s.eventuallyApp(env, what, func(u *unstructured.Unstructured) error {
		sync, _, _ := unstructured.NestedString(u.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(u.Object, "status", "health", "status")
		at, err := kube.ComparedWith(u, []byte(file))
		if err != nil {
			return err
		}
		if sync != "Synced" || health != "Healthy" || !at {
			return fmt.Errorf("%s, %s, compared with the environment file at %s: %v; want Synced and Healthy on it", sync, health, head, at)
		}
		return nil
	})
	s.t.Logf("figure: %s: %s", what, time.Since(began).Round(time.Millisecond))
}

// checkDeployment checks that the rolling workload of env runs bl, with
// every replica ready.
func (s *story) checkDeployment(env string, bl build) {
	s.t.Helper()
	testctx.Eventually(s.t, 200*time.Millisecond, env+" Deployment on "+bl.tag, func() error {
		_, err := s.deploymentOn(env, bl)
		return err
	})
}

// keepsServing checks that the rolling workload of env still runs bl, with
// every replica ready, after a release bad failed to reach it. A Deployment
// on bad fails the test at once: it will not go back by itself.
func (s *story) keepsServing(env string, bl, bad build) {
	s.t.Helper()
	testctx.Eventually(s.t, 200*time.Millisecond, env+" Deployment still on "+bl.tag, func() error {
		img, err := s.deploymentOn(env, bl)
		if strings.HasSuffix(img, "@"+bad.digest) {
			// What Argo CD did when the chart and the values were read
			// apart (docs/kubernetes.md, "The chart and its values come
			// from one read of git"): the new environment file rendered
			// with the chart the Application still pinned.
			s.t.Fatalf("%s's Deployment runs %s (%s), whose chart is not in the repository: Argo CD rendered the new environment file with the chart the Application still pinned (argo-cd#26441)", env, img, bad.tag)
		}
		return err
	})
}

// deploymentOn returns the image of env's rolling workload, and nil when
// it is bl's with every replica ready.
func (s *story) deploymentOn(env string, bl build) (string, error) {
	d, err := s.cs.AppsV1().Deployments(kube.Namespace(env)).Get(testctx.New(s.t), service, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	img := d.Spec.Template.Spec.Containers[0].Image
	if !strings.HasSuffix(img, "@"+bl.digest) {
		return img, fmt.Errorf("image %s", img)
	}
	if d.Status.UpdatedReplicas != d.Status.Replicas || d.Status.ReadyReplicas != d.Status.Replicas || d.Status.Replicas == 0 {
		return img, fmt.Errorf("replicas %d, updated %d, ready %d", d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
	}
	return img, nil
}

// waitRollout waits until prod's Rollout, as smpctl reads it, satisfies
// cond, and returns it.
func (s *story) waitRollout(what string, cond func(kube.RolloutStatus) error) kube.RolloutStatus {
	s.t.Helper()
	k := s.kube()
	var last kube.RolloutStatus
	testctx.Eventually(s.t, 200*time.Millisecond, what, func() error {
		r, err := k.Rollout(testctx.New(s.t), "prod", service)
		if err != nil {
			return err
		}
		last = r
		return cond(r)
	})
	return last
}

// checkReplicaSet checks that prod's ReplicaSet hash runs bl, all ready.
func (s *story) checkReplicaSet(hash string, bl build) {
	s.t.Helper()
	rss, err := s.cs.AppsV1().ReplicaSets("smp-prod").List(testctx.New(s.t), metav1.ListOptions{LabelSelector: hashLabel + "=" + hash})
	if err != nil || len(rss.Items) != 1 {
		s.t.Fatalf("ReplicaSets %s=%s: %d, %v", hashLabel, hash, len(rss.Items), err)
	}
	rs := rss.Items[0]
	if img := rs.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "@"+bl.digest) {
		s.t.Errorf("ReplicaSet %s runs %s, want %s", rs.Name, img, bl.digest)
	}
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas == 0 || rs.Status.ReadyReplicas != *rs.Spec.Replicas {
		s.t.Errorf("ReplicaSet %s: %d of %v ready", rs.Name, rs.Status.ReadyReplicas, rs.Spec.Replicas)
	}
}

// applyServiceMonitorCRD installs the Prometheus Operator's ServiceMonitor
// CRD, at the version the chart is validated against (kubeschema).
func (s *story) applyServiceMonitorCRD() {
	s.t.Helper()
	for _, m := range kubeschema.CRDModules {
		if m.Path != "github.com/prometheus-operator/prometheus-operator" {
			continue
		}
		cmd := exec.CommandContext(testctx.New(s.t), "go", "mod", "download", "-json", m.String())
		cmd.Dir = os.TempDir()
		out, err := cmd.Output()
		if err != nil {
			s.t.Fatalf("go mod download %s: %v", m, err)
		}
		var mod struct{ Dir string }
		if err := json.Unmarshal(out, &mod); err != nil {
			s.t.Fatal(err)
		}
		crd, err := os.ReadFile(filepath.Join(mod.Dir, "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"))
		if err != nil {
			s.t.Fatal(err)
		}
		if err := s.c.Apply(testctx.New(s.t), "", crd); err != nil {
			s.t.Fatalf("apply the ServiceMonitor CRD: %v", err)
		}
		return
	}
	s.t.Fatal("kubeschema pins no prometheus-operator module")
}

// repositorySecrets gives Argo CD the credentials of smp-gitops (git over
// HTTPS with a token; the test server's certificate is self-signed) and
// declares the chart repository an OCI Helm repository.
func (s *story) repositorySecrets(repoURL, chartRepo string) {
	s.t.Helper()
	ctx := testctx.New(s.t)
	for name, data := range map[string]map[string]string{
		"smp-gitops": {"type": "git", "url": repoURL, "username": "x-access-token", "password": gitToken, "insecure": "true"},
		"smp-charts": {"type": "helm", "url": chartRepo, "name": "smp-charts", "enableOCI": "true"},
	} {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: kubecluster.ArgoCDNamespace,
				Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
			StringData: data,
		}
		if _, err := s.cs.CoreV1().Secrets(kubecluster.ArgoCDNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			s.t.Fatalf("create repository secret %s: %v", name, err)
		}
	}
}
