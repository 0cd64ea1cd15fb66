//go:build integration

package kube_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/smp/delivery/internal/cli"
	"github.com/smp/delivery/internal/demo"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// The whole story of docs/kubernetes.md on the real engines, as smpctl demo
// --engines kubernetes tells it (internal/demo's story, not a copy): an
// smp-gitops repository made by smpctl gitops init and served over git's
// smart HTTP, charts in an OCI registry, the scaffold's ApplicationSets
// applied as written to a cluster with Argo CD and Argo Rollouts; dev
// syncs by itself with the migration hook first, staging and prod through
// smpctl sync, prod pauses blue/green until smpctl rollout promote, and a
// bad release is caught on its preview by the gate watch (smpctl verify
// --for), which aborts it and rolls it back in git with no one typing a
// command. Every step
// checks the cluster's objects; the test requires each step, in order, and
// then what the story leaves behind outside prod.
func TestEndToEndStoryOnArgoCDAndArgoRollouts(t *testing.T) {
	t.Parallel() // its own cluster: it overlaps the faults test, which waits as long
	c := kubecluster.Start(t, kubecluster.WithRollouts(), kubecluster.WithArgoCD())
	t.Logf("figure: cluster up in %s (control plane); Argo CD and Argo Rollouts ready after it", c.UpIn().Round(time.Millisecond))
	ctx := testctx.New(t)
	var timeline bytes.Buffer
	res, err := demo.Run(ctx, demo.Options{
		Engines:    demo.EnginesKubernetes,
		Cluster:    c,
		ServiceDir: "../../examples/order-svc",
		Workspace:  t.TempDir(),
		Out:        &timeline,
		Main: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return cli.Main(ctx, args, strings.NewReader(""), stdout, stderr)
		},
	})
	t.Logf("the demo's timeline:\n%s", timeline.String())
	if err != nil {
		t.Fatalf("demo on the real engines: %v (every command: %s/demo.log)", err, res.Workspace)
	}
	want := []string{
		"engines up",
		"charts → OCI registry",
		"smp-gitops: init + order-svc",
		"release A in git (dev → prod)",
		"Argo CD: apps/*.yaml applied",
		"ApplicationSets → Applications",
		"dev syncs A by itself",
		"smpctl sync staging (A)",
		"smpctl sync prod (A)",
		"dev: B, migration hook first",
		"B approved; sync staging",
		"prod: B on the preview, paused",
		"smpctl rollout promote",
		"bad release on prod's preview",
		"gate watch: abort + rollback",
		"prod → B again (the watch's --sync)",
	}
	if len(res.Steps) != len(want) {
		t.Fatalf("the story has %d steps, want %d: %+v", len(res.Steps), len(want), res.Steps)
	}
	for i, st := range res.Steps {
		if st.Name != want[i] || !st.OK {
			t.Errorf("step %d: %q ok=%v (%s), want %q passed", i+1, st.Name, st.OK, st.Detail, want[i])
		}
	}
	if !res.OK || res.Kubeconfig != c.Kubeconfig() {
		t.Errorf("result OK %v, kubeconfig %q; want OK on the test's cluster %s", res.OK, res.Kubeconfig, c.Kubeconfig())
	}
	t.Logf("figure: the end-to-end story (after the cluster was up) took %s", res.Duration.Round(time.Millisecond))

	// The story checks prod at every step; outside prod, the bad release
	// reached git for every environment. dev's Application is automated and
	// runs it; staging's syncs only through smpctl sync, which the story
	// never ran for it, so staging still runs B.
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	for env, digest := range map[string]string{"dev": strings.Repeat("c", 64), "staging": strings.Repeat("b", 64)} {
		testctx.Eventually(t, 200*time.Millisecond, env+" Deployment on sha256:"+digest[:7]+"…", func() error {
			d, err := cs.AppsV1().Deployments(kube.Namespace(env)).Get(ctx, "order-svc", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "@sha256:"+digest) {
				return fmt.Errorf("image %s", img)
			}
			if d.Status.ReadyReplicas == 0 || d.Status.ReadyReplicas != d.Status.Replicas || d.Status.UpdatedReplicas != d.Status.Replicas {
				return fmt.Errorf("replicas %d, updated %d, ready %d", d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
			}
			return nil
		})
	}
}
