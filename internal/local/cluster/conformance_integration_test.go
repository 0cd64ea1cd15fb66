//go:build integration

package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/helmrender"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

// observed is what a blue/green service looks like from outside, on either engine: which
// version the active Service sends customers to, which one waits on the preview, whether
// the update waits for promotion.
type observed struct {
	Active, Preview string
	Paused          bool
}

func (o observed) String() string {
	return fmt.Sprintf("active %q, preview %q, paused %v", o.Active, o.Preview, o.Paused)
}

// engine is one implementation of the production path: the local runtime, or Kubernetes
// with the real Argo Rollouts controller.
type engine interface {
	// commit makes git ask for version in prod, and syncs it.
	commit(t *testing.T, version string)
	// setScaleDownDelay sets blueGreen.scaleDownDelaySeconds for the next commits.
	setScaleDownDelay(seconds int)
	// scaledDown returns nil once nothing of version runs any more.
	scaledDown(t *testing.T, version string) error
	promote() error
	abort() error
	observe(t *testing.T) (observed, error)
}

// TestEnginesConform plays one blue/green scenario on the local runtime and on Kubernetes
// with Argo Rollouts v1.8.5, and requires the same observable result after every step: the
// local runtime stands in for the engine, and where they differ the engine is right.
func TestEnginesConform(t *testing.T) {
	t.Parallel()
	for name, start := range map[string]func(t *testing.T) engine{
		"local":      startLocal,
		"kubernetes": startKube,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := start(t)
			want := func(step string, w observed) {
				t.Helper()
				testctx.Eventually(t, 50*time.Millisecond, step+": "+w.String(), func() error {
					got, err := e.observe(t)
					if err != nil {
						return err
					}
					if got != w {
						return fmt.Errorf("%s", got)
					}
					return nil
				})
			}
			e.commit(t, "1.0.0")
			want("install", observed{Active: "1.0.0"})

			e.commit(t, "2.0.0")
			want("a new version pauses on the preview", observed{Active: "1.0.0", Preview: "2.0.0", Paused: true})

			if err := e.abort(); err != nil {
				t.Fatalf("abort before promotion: %v", err)
			}
			want("abort before promotion keeps active", observed{Active: "1.0.0"})

			e.commit(t, "1.0.0") // the rollback commit brings git in line
			want("git back on the running version", observed{Active: "1.0.0"})

			e.commit(t, "3.0.0")
			want("the next version pauses", observed{Active: "1.0.0", Preview: "3.0.0", Paused: true})
			if err := e.promote(); err != nil {
				t.Fatalf("promote: %v", err)
			}
			want("promotion switches active", observed{Active: "3.0.0"})

			err := e.abort()
			if err == nil || !fault.IsRefused(err) {
				t.Fatalf("abort after promotion: %v; want a refusal (exit 1): there is no update in progress", err)
			}
			if err := e.promote(); err == nil || !fault.IsRefused(err) {
				t.Fatalf("promote with nothing paused: %v; want a refusal (exit 1)", err)
			}
			want("a refused abort changes nothing", observed{Active: "3.0.0"})

			// The way back after a promotion: the rollback commit, while 1.0.0 still runs
			// (within scaleDownDelaySeconds), makes it active without a pause.
			e.commit(t, "1.0.0")
			want("rollback within the scale-down delay switches back without a pause", observed{Active: "1.0.0"})

			// A rollback after the scale-down: the previous version's pods are gone, so
			// the rollback commit is a new update — it comes up on the preview and waits
			// for a promote, like any version. (The chart does not set Argo Rollouts'
			// rollbackWindow: with autoPromotionEnabled false, v1.8.5 clears the pause
			// but never cuts active over, "active service cutover pending" for ever,
			// argo-rollouts#3304; this test showed it.)
			e.setScaleDownDelay(30) // the chart's minimum
			e.commit(t, "4.0.0")
			want("a new version pauses", observed{Active: "1.0.0", Preview: "4.0.0", Paused: true})
			if err := e.promote(); err != nil {
				t.Fatalf("promote: %v", err)
			}
			want("promotion switches active", observed{Active: "4.0.0"})
			testctx.Eventually(t, 500*time.Millisecond, "1.0.0 scaled down after the 30s delay", func() error { return e.scaledDown(t, "1.0.0") })
			e.commit(t, "1.0.0")
			want("rollback after the scale-down pauses on the preview", observed{Active: "4.0.0", Preview: "1.0.0", Paused: true})
			if err := e.promote(); err != nil {
				t.Fatalf("promote the rollback: %v", err)
			}
			want("promoting the rollback switches active back", observed{Active: "1.0.0"})
		})
	}
}

// localEngine is the local runtime with real images of the test server.
type localEngine struct {
	f       *fixture
	digests map[string]string
	byDig   map[string]string
	delay   int
}

func startLocal(t *testing.T) engine {
	f := newFixture(t)
	e := &localEngine{f: f, digests: map[string]string{}, byDig: map[string]string{}, delay: 300}
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0"} {
		d := f.image(v, testimage.ModeOK)
		e.digests[v], e.byDig[d] = d, v
	}
	return e
}

func (e *localEngine) commit(t *testing.T, version string) {
	e.f.deploy("prod", svcFile{tag: version, digest: e.digests[version], replicas: 1, blueGreen: true, delay: e.delay})
	if _, err := e.f.rt.Sync(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
}

func (e *localEngine) setScaleDownDelay(seconds int) { e.delay = seconds }

func (e *localEngine) scaledDown(_ *testing.T, version string) error {
	s := e.f.svc("prod")
	for _, r := range []*RevisionStatus{s.Active, s.Preview, s.Previous} {
		if r != nil && r.Digest == e.digests[version] {
			return fmt.Errorf("%s still runs (%+v)", version, *r)
		}
	}
	return nil
}

func (e *localEngine) promote() error { return e.f.rt.Promote("prod", "order-svc") }
func (e *localEngine) abort() error   { return e.f.rt.Abort("prod", "order-svc") }

func (e *localEngine) observe(*testing.T) (observed, error) {
	s := e.f.svc("prod")
	var o observed
	if s.Active != nil {
		o.Active = e.byDig[s.Active.Digest]
	}
	if s.Preview != nil {
		o.Preview = e.byDig[s.Preview.Digest]
	}
	o.Paused = s.Health == HealthPaused
	return o, nil
}

// kubeEngine is a real cluster with the Argo Rollouts controller; a commit is what Argo CD
// applies for it: the chart rendered with the prod values and the new digest.
type kubeEngine struct {
	c     *kubecluster.Cluster
	k     *kube.Client
	byDig map[string]string
	delay int
}

func kubeDigest(version string) string {
	return "sha256:" + fmt.Sprintf("%064x", []byte(version))[:64]
}

func startKube(t *testing.T) engine {
	c := kubecluster.Start(t, kubecluster.WithRollouts())
	ctx := testctx.New(t)
	k, err := kube.New(c.RESTConfig(), "test cluster")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, "", []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+kube.Namespace("prod")+"\n")); err != nil {
		t.Fatal(err)
	}
	e := &kubeEngine{c: c, k: k, byDig: map[string]string{}, delay: 300}
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0"} {
		e.byDig[kubeDigest(v)] = v
	}
	return e
}

func (e *kubeEngine) commit(t *testing.T, version string) {
	t.Helper()
	if os.Getenv("CONFORMANCE_DEBUG") != "" {
		t.Logf("commit %s (%s)", version, kubeDigest(version))
	}
	if err := e.c.Apply(testctx.New(t), kube.Namespace("prod"), renderProd(t, version, kubeDigest(version), e.delay)); err != nil {
		t.Fatal(err)
	}
}

func (e *kubeEngine) setScaleDownDelay(seconds int) { e.delay = seconds }

// scaledDown: the controller scales version's ReplicaSet to 0 at its scale-down deadline
// (it keeps the ReplicaSet, within revisionHistoryLimit, for a rollback).
func (e *kubeEngine) scaledDown(t *testing.T, version string) error {
	cs, err := kubernetes.NewForConfig(e.c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	rss, err := cs.AppsV1().ReplicaSets(kube.Namespace("prod")).List(testctx.New(t), metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, rs := range rss.Items {
		img := rs.Spec.Template.Spec.Containers[0].Image
		if strings.HasSuffix(img, "@"+kubeDigest(version)) && (rs.Spec.Replicas == nil || *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0) {
			return fmt.Errorf("ReplicaSet %s of %s: spec %v, status %d replicas", rs.Name, version, rs.Spec.Replicas, rs.Status.Replicas)
		}
	}
	return nil
}

func (e *kubeEngine) promote() error {
	return e.k.Promote(context.Background(), "prod", "order-svc", nil)
}
func (e *kubeEngine) abort() error { return e.k.Abort(context.Background(), "prod", "order-svc", nil) }

func (e *kubeEngine) observe(t *testing.T) (observed, error) {
	st, err := e.k.Rollout(testctx.New(t), "prod", "order-svc")
	if errors.Is(err, kube.ErrNotFound) {
		return observed{}, err
	}
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CONFORMANCE_DEBUG") != "" {
		t.Logf("%+v active=%+v preview=%+v", st, st.Active, st.Preview)
	}
	var o observed
	// Only ready ReplicaSets serve: a selector on one that is scaling up is not yet a
	// version customers (or the preview) reach.
	if st.Active != nil && st.Active.Ready > 0 {
		o.Active = e.byDig[st.Active.Digest]
	}
	if st.Preview != nil && st.Preview.Ready > 0 {
		o.Preview = e.byDig[st.Preview.Digest]
	}
	o.Paused = st.Paused
	return o, nil
}

// renderProd renders the order-svc chart as Argo CD does for prod, with one replica and
// digest, without the ServiceMonitor (no Prometheus Operator in the test cluster).
func renderProd(t *testing.T, version, digest string, scaleDownDelay int) []byte {
	t.Helper()
	chartDir := filepath.Join("..", "..", "..", "examples", "order-svc", "deployments", "helm", "order-svc")
	vals := filepath.Join(t.TempDir(), "order-svc.yaml")
	env := fmt.Sprintf("image:\n  repository: ghcr.io/smp/order-svc\n  tag: %s\n  digest: %s\nreplicaCount: 2\n"+
		"strategy: blueGreen\nblueGreen:\n  autoPromotionEnabled: false\n  scaleDownDelaySeconds: %d\n"+
		"autoscaling: {enabled: false}\n", version, digest, scaleDownDelay)
	if err := os.WriteFile(vals, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := helmrender.Render(testctx.New(t), chartDir, helmrender.Options{
		ReleaseName: "order-svc", Namespace: kube.Namespace("prod"), KubeVersion: "v1.34.4",
		ValuesFiles: []string{filepath.Join(chartDir, "values-prod.yaml"), vals},
	})
	if err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		// Hooks are Argo CD's to run (the end-to-end story covers them); the ServiceMonitor
		// needs the Prometheus Operator's CRD.
		if len(m) == 0 || m["kind"] == "ServiceMonitor" || m["kind"] == "Job" {
			continue
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		kept.WriteString("---\n")
		kept.Write(b)
	}
	return kept.Bytes()
}
