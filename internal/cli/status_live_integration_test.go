//go:build integration

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const (
	liveOld = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	liveNew = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// liveRollout is a minimal blue/green Rollout with its two Services, image at digest.
func liveRollout(digest string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: order-svc}
spec:
  selector: {app: order-svc}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: order-svc-preview}
spec:
  selector: {app: order-svc}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: order-svc}
spec:
  replicas: 1
  selector: {matchLabels: {app: order-svc}}
  strategy:
    blueGreen: {activeService: order-svc, previewService: order-svc-preview, autoPromotionEnabled: false}
  template:
    metadata: {labels: {app: order-svc}}
    spec:
      containers: [{name: app, image: "ghcr.io/smp/order-svc@%s"}]
`, digest)
}

// TestStatusLiveShowsWhatTheClusterRuns: status --live puts each Application's sync and
// health and the Rollout's phase, active and preview digests next to the GitOps matrix, read
// from a real cluster with the real Argo Rollouts controller.
func TestStatusLiveShowsWhatTheClusterRuns(t *testing.T) {
	t.Parallel()
	c := kubecluster.Start(t, kubecluster.WithRollouts(), kubecluster.WithArgoCDCRDs())
	ctx := testctx.New(t)
	if err := c.Apply(ctx, "", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: smp-prod}\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, "smp-prod", []byte(liveRollout(liveOld))); err != nil {
		t.Fatal(err)
	}
	k, err := kube.New(c.RESTConfig(), "test")
	if err != nil {
		t.Fatal(err)
	}
	testctx.Eventually(t, 100*time.Millisecond, "the first version Healthy", func() error {
		st, err := k.Rollout(ctx, "prod", "order-svc")
		if err != nil || st.Phase != "Healthy" {
			return fmt.Errorf("%+v: %w", st, err)
		}
		return nil
	})
	if err := c.Apply(ctx, "smp-prod", []byte(liveRollout(liveNew))); err != nil {
		t.Fatal(err)
	}
	testctx.Eventually(t, 100*time.Millisecond, "the new version paused on the preview", func() error {
		st, err := k.Rollout(ctx, "prod", "order-svc")
		if err != nil || !st.Paused || st.Preview == nil || st.Preview.Digest != liveNew || st.Preview.Ready == 0 {
			return fmt.Errorf("%+v: %w", st, err)
		}
		return nil
	})
	// One list per environment (what status --live and the dashboard read) says what the
	// Rollout's own read says.
	testctx.Eventually(t, 100*time.Millisecond, "Rollouts reads what Rollout reads", func() error {
		one, err := k.Rollout(ctx, "prod", "order-svc")
		if err != nil {
			return err
		}
		all, err := k.Rollouts(ctx, "prod")
		if err != nil {
			return err
		}
		if len(all) != 1 || !reflect.DeepEqual(all["order-svc"], one) {
			return fmt.Errorf("rollouts = %+v; rollout = %+v", all, one)
		}
		return nil
	})
	// The Application Argo CD would report for it (no controller runs here: its status is
	// written as Argo CD writes it).
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": "smp-order-svc-prod", "namespace": "argocd",
			"labels": map[string]any{"smp.vn/service": "order-svc", "smp.vn/environment": "prod"}},
		"spec": map[string]any{"project": "default",
			"destination": map[string]any{"server": "https://kubernetes.default.svc", "namespace": "smp-prod"},
			"source":      map[string]any{"repoURL": "https://github.com/smp/smp-gitops.git", "path": "."}},
		"status": map[string]any{"sync": map[string]any{"status": "Synced", "revision": "abc"},
			"health": map[string]any{"status": "Suspended"}},
	}}
	if _, err := dyn.Resource(kube.ApplicationResource).Namespace("argocd").Create(ctx, app, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	gitops := liveGitops(t, liveNew)
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"status", "--gitops", gitops, "--live", "--kubeconfig", c.Kubeconfig(), "-o", "json"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("status --live exited %d: %s", code, errb.String())
	}
	var got struct {
		Live []liveService `json:"live"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(got.Live) != 1 {
		t.Fatalf("live: %+v", got.Live)
	}
	l := got.Live[0]
	if l.App == nil || l.App.Sync != "Synced" || l.App.Health != "Suspended" {
		t.Errorf("the Application's state: %+v", l.App)
	}
	if l.Rollout == nil || !l.Rollout.Paused || l.Rollout.Active == nil || l.Rollout.Active.Digest != liveOld ||
		l.Rollout.Preview == nil || l.Rollout.Preview.Digest != liveNew || l.Drift {
		t.Errorf("the Rollout's state: %+v (drift %v)", l.Rollout, l.Drift)
	}

	// The table a person reads, and drift when git asks for a digest the cluster does not run.
	out.Reset()
	if code := Main(ctx, []string{"status", "--gitops", liveGitops(t, "sha256:3333333333333333333333333333333333333333333333333333333333333333"), "--live", "--kubeconfig", c.Kubeconfig()}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("status --live exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "Synced") || !strings.Contains(out.String(), "Paused (paused)") || !strings.Contains(out.String(), "git asks for another digest") {
		t.Errorf("status --live table:\n%s", out.String())
	}

	// The dashboard's matrix reads the same cluster at each poll: the cell
	// a person sees says what runs there.
	url, _, stderr, cancel := serveDashboard(t, "--gitops", gitops, "--live", "--kubeconfig", c.Kubeconfig(), "--cache-dir", t.TempDir())
	defer cancel()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cell := regexp.MustCompile(`(?s)<tr id="s-order-svc">.*?</tr>|<tr id="s-order-svc">.*`).FindString(string(page))
	for _, want := range []string{"Synced · Suspended", "Paused (paused)", "active <code>" + history.ShortDigest(liveOld), "preview <code>" + history.ShortDigest(liveNew)} {
		if !strings.Contains(cell, want) {
			t.Errorf("the dashboard's order-svc row lacks %q (stderr %s):\n%s", want, stderr.String(), cell)
		}
	}
	if strings.Contains(cell, "not git's") {
		t.Errorf("git's digest is on the preview, yet the dashboard says it does not run:\n%s", cell)
	}
}

// liveGitops is a bare smp-gitops remote whose prod asks for order-svc at digest.
func liveGitops(t *testing.T, digest string) string {
	t.Helper()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed")
	files := map[string]string{
		"delivery.yaml": "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nenvironments:\n" +
			"  - {name: prod, sync: manual, trigger: release, approval: release-manager}\nreleaseManagers: [minh]\nservices:\n  - name: order-svc\n    critical: true\n",
		"environments/prod/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.3.0\n  digest: " + digest + "\nstrategy: blueGreen\n",
	}
	for p, b := range files {
		f := filepath.Join(seed, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remote := filepath.Join(dir, "remote.git")
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", remote},
		{"-C", seed, "init", "-q", "-b", "main"},
		{"-C", seed, "add", "-A"},
		{"-C", seed, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "gitops: init"},
		{"-C", seed, "push", "-q", remote, "HEAD:refs/heads/main"},
	} {
		if out, err := exec.CommandContext(context.Background(), "git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return remote
}
