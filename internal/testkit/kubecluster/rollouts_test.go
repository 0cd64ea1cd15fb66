//go:build integration

package kubecluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/helmrender"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const (
	chartDir  = "../../../examples/order-svc/deployments/helm/order-svc"
	namespace = "smp-prod" // kube.Namespace("prod")
	digestOld = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digestNew = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	hashLabel = "rollouts-pod-template-hash"
)

var rolloutsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// The prod release of order-svc, as Argo CD renders the chart, goes
// through the real Argo Rollouts controller: Healthy on the first digest, a
// paused blue/green on the next (preview on the new ReplicaSet, customers
// still on the old), and promotion as `kubectl argo rollouts promote` does it.
func orderSvcBlueGreen(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rollouts := dyn.Resource(rolloutsGVR).Namespace(namespace)

	syncLikeArgoCD(t, c, cs, digestOld)
	var stable string
	eventually(t, "order-svc Rollout Healthy on the first digest", func() error {
		r, err := rollouts.Get(ctx, "order-svc", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if phase := str(r, "status", "phase"); phase != "Healthy" {
			return fmt.Errorf("phase %q (%s)", phase, str(r, "status", "message"))
		}
		stable = str(r, "status", "stableRS")
		return nil
	})
	if got := selectorHash(t, cs, "order-svc"); got != stable {
		t.Fatalf("active Service selects %s=%q, want the stable ReplicaSet %q", hashLabel, got, stable)
	}

	syncLikeArgoCD(t, c, cs, digestNew)
	var preview string
	eventually(t, "a paused blue/green on the new digest (BlueGreenPause)", func() error {
		r, err := rollouts.Get(ctx, "order-svc", metav1.GetOptions{})
		if err != nil {
			return err
		}
		preview = str(r, "status", "currentPodHash")
		if preview == stable {
			return errors.New("no new ReplicaSet yet")
		}
		conds, _, _ := unstructured.NestedSlice(r.Object, "status", "pauseConditions")
		for _, pc := range conds {
			if m, ok := pc.(map[string]any); ok && m["reason"] == "BlueGreenPause" {
				return nil
			}
		}
		return fmt.Errorf("phase %q, pause conditions %v", str(r, "status", "phase"), conds)
	})
	if got := selectorHash(t, cs, "order-svc-preview"); got != preview {
		t.Errorf("while paused, the preview Service selects %q, want the new ReplicaSet %q", got, preview)
	}
	if got := selectorHash(t, cs, "order-svc"); got != stable {
		t.Errorf("while paused, the active Service selects %q, want the old ReplicaSet %q", got, stable)
	}
	checkReplicaSets(t, cs, map[string]string{stable: digestOld, preview: digestNew})

	// Promote as smpctl rollout promote does: clear the pause conditions
	// through the status subresource, as the kubectl plugin does, then see
	// that the controller acted (kube.Client.Promote says why that is
	// needed: this test once waited 18 min on a Rollout still Paused).
	k, err := kube.New(c.RESTConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	if err := k.Promote(ctx, "prod", "order-svc", &progress); err != nil {
		t.Fatal(err)
	}
	if progress.Len() > 0 {
		t.Logf("promote said:\n%s", progress.String())
	}
	eventually(t, "promotion switches the active Service to the new ReplicaSet", func() error {
		r, err := rollouts.Get(ctx, "order-svc", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := str(r, "status", "stableRS"); got != preview {
			return fmt.Errorf("stableRS %q, want %q (phase %q)", got, preview, str(r, "status", "phase"))
		}
		if got := selectorHash(t, cs, "order-svc"); got != preview {
			return fmt.Errorf("active Service selects %q, want %q", got, preview)
		}
		return nil
	})
}

// syncLikeArgoCD applies the prod render for digest as an Argo CD sync
// does: the PreSync hook (the migration Job) first, until it succeeds
// (KWOK completes its pod), deleted then (HookSucceeded), then the rest.
func syncLikeArgoCD(t *testing.T, c *kubecluster.Cluster, cs kubernetes.Interface, digest string) {
	t.Helper()
	ctx := testctx.New(t)
	hooks, rest := renderProd(t, digest)
	if err := c.Apply(ctx, namespace, hooks); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the migration Job (PreSync hook) succeeds", func() error {
		j, err := cs.BatchV1().Jobs(namespace).Get(ctx, "order-svc-migrate", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if j.Status.Succeeded == 0 {
			return fmt.Errorf("job status %+v", j.Status)
		}
		return nil
	})
	bg := metav1.DeletePropagationBackground
	if err := cs.BatchV1().Jobs(namespace).Delete(ctx, "order-svc-migrate", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, namespace, rest); err != nil {
		t.Fatal(err)
	}
}

// renderProd renders the chart with the prod values for image digest,
// blue/green with manual promotion said explicitly, split into the PreSync
// hooks and the rest, without what this cluster has no API for: the
// ServiceMonitor (Prometheus Operator).
func renderProd(t *testing.T, digest string) (hooks, rest []byte) {
	t.Helper()
	vals := filepath.Join(t.TempDir(), "order-svc.yaml")
	env := fmt.Sprintf("image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.3.0\n  digest: %s\n"+
		"strategy: blueGreen\nblueGreen:\n  autoPromotionEnabled: false\n", digest)
	if err := os.WriteFile(vals, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := helmrender.Render(testctx.New(t), chartDir, helmrender.Options{
		ReleaseName: "order-svc", Namespace: namespace, KubeVersion: "v1.34.4",
		ValuesFiles: []string{filepath.Join(chartDir, "values-prod.yaml"), vals},
	})
	if err != nil {
		t.Fatal(err)
	}
	var h, r bytes.Buffer
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		if len(m) == 0 || m["kind"] == "ServiceMonitor" {
			continue
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		u := unstructured.Unstructured{Object: m}
		to := &r
		if u.GetAnnotations()["argocd.argoproj.io/hook"] == "PreSync" {
			to = &h
		}
		to.WriteString("---\n")
		to.Write(b)
	}
	if h.Len() == 0 {
		t.Fatal("the prod render has no PreSync hook: the migration Job is expected")
	}
	return h.Bytes(), r.Bytes()
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func selectorHash(t *testing.T, cs kubernetes.Interface, svc string) string {
	t.Helper()
	s, err := cs.CoreV1().Services(namespace).Get(context.Background(), svc, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.Selector[hashLabel]
}

// checkReplicaSets checks that each ReplicaSet hash runs its digest and has
// every replica ready: while paused, old and new run side by side.
func checkReplicaSets(t *testing.T, cs kubernetes.Interface, want map[string]string) {
	t.Helper()
	rss, err := cs.AppsV1().ReplicaSets(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, rs := range rss.Items {
		hash := rs.Labels[hashLabel]
		digest, ok := want[hash]
		if !ok {
			continue
		}
		seen[hash] = true
		img := rs.Spec.Template.Spec.Containers[0].Image
		if !bytes.HasSuffix([]byte(img), []byte("@"+digest)) {
			t.Errorf("ReplicaSet %s runs %s, want digest %s", rs.Name, img, digest)
		}
		if rs.Spec.Replicas == nil || *rs.Spec.Replicas == 0 || rs.Status.ReadyReplicas != *rs.Spec.Replicas {
			t.Errorf("ReplicaSet %s: %d of %v replicas ready, want all of at least one", rs.Name, rs.Status.ReadyReplicas, rs.Spec.Replicas)
		}
	}
	for hash := range want {
		if !seen[hash] {
			t.Errorf("no ReplicaSet with %s=%s", hashLabel, hash)
		}
	}
}
