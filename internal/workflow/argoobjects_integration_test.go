//go:build integration

package workflow

import (
	"fmt"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// argoObjects is a real cluster (etcd and kube-apiserver, with Argo CD's
// and Argo Rollouts' CRDs) holding, for one service, the objects the
// pipeline's steps act on with the kubeconfig secret: the scaffold's
// ApplicationSets (apps/<env>-apps.yaml, as committed in smp-gitops), the
// Application each generates for the service, and the chart's Rollout. No
// controller runs: what a step did is read back from the objects.
type argoObjects struct {
	t          *testing.T
	svc        string
	kubeconfig string // the kubeconfig's text, as the secret holds it
	dyn        dynamic.Interface
}

type argoApp struct {
	name      string
	operation map[string]any // what smpctl asked Argo CD to do, nil if nothing
	refreshed bool           // asked to read git again
	sources   []any
}

// newArgoObjects starts the cluster and makes the objects of svc in each
// environment of charts (env → the chart version its file pins), from
// the scaffold's apps file in the test world's smp-gitops.
func newArgoObjects(t *testing.T, w *cdWorld, charts map[string]string) *argoObjects {
	t.Helper()
	c := kubecluster.Start(t, kubecluster.WithArgoCDCRDs(), kubecluster.WithRolloutsCRDs())
	text, err := os.ReadFile(c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	o := &argoObjects{t: t, svc: w.svc, kubeconfig: string(text), dyn: dynamic.NewForConfigOrDie(c.RESTConfig())}
	ctx := testctx.New(t)
	for env, chart := range charts {
		apps := w.gitopsFile("apps/" + env + "-apps.yaml")
		if apps == "" {
			t.Fatalf("smp-gitops has no apps/%s-apps.yaml", env)
		}
		if err := c.Apply(ctx, kubecluster.ArgoCDNamespace, []byte(apps)); err != nil {
			t.Fatalf("apply apps/%s-apps.yaml: %v", env, err)
		}
		ns := kube.Namespace(env)
		if err := c.Apply(ctx, "", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n")); err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(ctx, ns, []byte(minimalRollout(w.svc, w.image()))); err != nil {
			t.Fatal(err)
		}
		set, err := o.dyn.Resource(kube.ApplicationSetResource).Namespace(kubecluster.ArgoCDNamespace).Get(ctx, "smp-"+env, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		file := w.gitopsFile("environments/" + env + "/" + w.svc + ".yaml")
		values, err := yaml.YAMLToJSON([]byte(file))
		if err != nil || file == "" {
			t.Fatalf("smp-gitops' environments/%s/%s.yaml: %q, %v", env, w.svc, file, err)
		}
		app := generatedApp(t, set, w.svc, env, chart, string(values))
		if _, err := o.dyn.Resource(kube.ApplicationResource).Namespace(kubecluster.ArgoCDNamespace).Create(ctx, app, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Application %s: %v", app.GetName(), err)
		}
	}
	return o
}

// generatedApp is the Application the ApplicationSet set generates for svc
// in env from its environment file (which pins chart; values is the file
// as JSON): the set's template with the file's name, path, chart version
// and content put in, as Argo CD's ApplicationSet controller does, and the
// state it reports once synced.
func generatedApp(t *testing.T, set *unstructured.Unstructured, svc, env, chart, values string) *unstructured.Unstructured {
	t.Helper()
	tmpl, ok, err := unstructured.NestedMap(set.Object, "spec", "template")
	if err != nil || !ok {
		t.Fatalf("ApplicationSet %s has no template (%v)", set.GetName(), err)
	}
	fill := strings.NewReplacer(
		`{{ trimSuffix ".yaml" .path.filename }}`, svc,
		`{{ .chart.version }}`, chart,
		`{{ .path.path }}`, "environments/"+env,
		`{{ .path.filename }}`, svc+".yaml",
		`{{ omit . "path" | toJson }}`, values,
	)
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		case string:
			s := fill.Replace(v)
			if strings.Contains(s, "{{") {
				t.Fatalf("ApplicationSet %s's template has %q, which this test does not fill in", set.GetName(), v)
			}
			return s
		}
		return v
	}
	tmpl = walk(tmpl).(map[string]any)
	meta, _ := tmpl["metadata"].(map[string]any)
	meta["namespace"] = kubecluster.ArgoCDNamespace
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": meta, "spec": tmpl["spec"],
		"status": map[string]any{"sync": map[string]any{"status": "Synced", "revision": "0000000"},
			"health": map[string]any{"status": "Healthy"}},
	}}
	if app.GetName() != kube.AppName(env, svc) {
		t.Fatalf("ApplicationSet %s names the Application %q, smpctl looks for %q", set.GetName(), app.GetName(), kube.AppName(env, svc))
	}
	return app
}

// minimalRollout is a blue/green Rollout of svc, as the chart names it.
func minimalRollout(svc, image string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  strategy:
    blueGreen: {activeService: %[1]s, previewService: %[1]s-preview, autoPromotionEnabled: false}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers: [{name: app, image: "%[2]s:0.0.9"}]
`, svc, image)
}

// app reads env's Application of the service back from the cluster.
func (o *argoObjects) app(env string) argoApp {
	o.t.Helper()
	name := kube.AppName(env, o.svc)
	u, err := o.dyn.Resource(kube.ApplicationResource).Namespace(kubecluster.ArgoCDNamespace).Get(testctx.New(o.t), name, metav1.GetOptions{})
	if err != nil {
		o.t.Fatal(err)
	}
	a := argoApp{name: name}
	a.operation, _, _ = unstructured.NestedMap(u.Object, "operation")
	a.refreshed = u.GetAnnotations()["argocd.argoproj.io/refresh"] != ""
	a.sources, _, _ = unstructured.NestedSlice(u.Object, "spec", "sources")
	return a
}

// appSetRefreshed says whether env's ApplicationSet was asked to read git again.
func (o *argoObjects) appSetRefreshed(env string) bool {
	o.t.Helper()
	u, err := o.dyn.Resource(kube.ApplicationSetResource).Namespace(kubecluster.ArgoCDNamespace).Get(testctx.New(o.t), "smp-"+env, metav1.GetOptions{})
	if err != nil {
		o.t.Fatal(err)
	}
	// The ApplicationSet controller reads the annotation's presence; smpctl
	// sets the time of its request (kube.RefreshApplicationSet).
	_, ok := u.GetAnnotations()["argocd.argoproj.io/application-set-refresh"]
	return ok
}
