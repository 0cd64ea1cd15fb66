package kubeschema_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/testkit/kubeschema"
	"github.com/smp/delivery/internal/testkit/testctx"
)

func validator(t testing.TB) *kubeschema.Validator {
	t.Helper()
	v, err := kubeschema.Default(testctx.New(t))
	if err != nil {
		t.Fatalf("load schemas: %v", err)
	}
	return v
}

func TestValidFilesPass(t *testing.T) {
	t.Parallel()
	v := validator(t)
	for _, f := range []string{"testdata/builtin.yaml", "testdata/argocd-apps.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEveryDefaultCRDKindIsKnown(t *testing.T) {
	t.Parallel()
	v := validator(t)
	for _, k := range []struct{ apiVersion, kind string }{
		{"apps/v1", "Deployment"},
		{"autoscaling/v2", "HorizontalPodAutoscaler"},
		{"policy/v1", "PodDisruptionBudget"},
		{"batch/v1", "Job"},
		{"v1", "ConfigMap"},
		{"argoproj.io/v1alpha1", "Rollout"},
		{"argoproj.io/v1alpha1", "Application"},
		{"argoproj.io/v1alpha1", "ApplicationSet"},
		{"argoproj.io/v1alpha1", "AppProject"},
		{"monitoring.coreos.com/v1", "ServiceMonitor"},
		{"monitoring.coreos.com/v1", "PrometheusRule"},
		{"kyverno.io/v1", "ClusterPolicy"},
	} {
		if !v.Knows(k.apiVersion, k.kind) {
			t.Errorf("no schema for %s %s", k.apiVersion, k.kind)
		}
	}
}

// Each case breaks a valid object in one way a cluster would refuse; the error must name
// the object and the path.
func TestInvalidObjectsAreRejectedWithTheirPath(t *testing.T) {
	t.Parallel()
	v := validator(t)
	cases := []struct {
		name, doc, want string
	}{
		{"an unknown field in a built-in kind fails", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: x, imagePullPolicy: IfNotPresent, livenessProbe: {httpGet: {path: /health, port: 8080}, initialDelay: 3}}]
`, "/spec/template/spec/containers/0/livenessProbe"},
		{"a string where an integer belongs fails", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: two
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x}]}
`, "/spec/replicas"},
		{"a missing required field fails", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec: {containers: [{name: web, image: x}]}
`, "selector"},
		{"an unknown field in metadata of a custom resource fails", `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, label: {a: b}}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http}]
`, "/metadata"},
		{"an unknown field in a Rollout's blue/green strategy fails", `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: x}]}
  strategy:
    blueGreen: {activeService: a, previewService: b, autoPromote: false}
`, "/spec/strategy/blueGreen"},
		{"an Application source with a misspelt field fails", `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  project: default
  destination: {server: https://kubernetes.default.svc, namespace: x}
  sources:
    - {repoURL: https://github.com/smp/x.git, targetRevision: main, path: chart, helm: {valuesFiles: [a.yaml]}}
    - {repoURL: https://github.com/smp/smp-gitops.git, targetRevision: main, ref: values}
`, "/spec/sources/0/helm"},
		{"an ApplicationSet git generator with a misspelt field fails", `
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: apps}
spec:
  generators:
    - git: {repoURL: https://github.com/smp/smp-gitops.git, revision: main, file: [{path: "environments/dev/*.yaml"}]}
  template:
    metadata: {name: x}
    spec:
      project: default
      destination: {server: https://kubernetes.default.svc, namespace: x}
`, "/spec/generators/0/git"},
		{"an enum value a ClusterPolicy does not allow fails", `
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: p}
spec:
  validationFailureAction: Reject
  rules:
    - name: r
      match: {any: [{resources: {kinds: [Pod]}}]}
      validate: {message: m, pattern: {spec: {containers: [{image: "ghcr.io/*"}]}}}
`, "/spec/validationFailureAction"},
		{"an unknown kind fails", `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
`, "no schema for apiVersion \"example.com/v1\" kind \"Widget\""},
		{"a duplicate key fails", `
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {a: "1", a: "2"}
`, "not valid YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := v.Validate([]byte(c.doc))
			if err == nil {
				t.Fatal("Validate accepted an invalid object")
			}
			if !errors.Is(err, kubeschema.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not mention %q:\n%v", c.want, err)
			}
		})
	}
}

func TestProblemsNameDocumentAndHelmSource(t *testing.T) {
	t.Parallel()
	v := validator(t)
	err := v.Validate([]byte("# only a comment\n---\n# Source: chart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 1}\n"))
	var ve *kubeschema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	p := ve.Problems[0]
	if p.Doc != 2 || p.Source != "chart/templates/cm.yaml" || p.Object != "v1 ConfigMap c" || p.Path != "/data/a" {
		t.Errorf("problem = %+v", p)
	}
}

func TestLoadFailsClearlyForAMissingModule(t *testing.T) {
	t.Parallel()
	_, err := kubeschema.Load(testctx.New(t), kubeschema.WithCRDModules(kubeschema.Module{
		Path: "github.com/argoproj/argo-rollouts", Version: "v1.8.5", Files: []string{"manifests/crds/no-such-crd.yaml"},
	}))
	if err == nil || !strings.Contains(err.Error(), "no-such-crd.yaml") {
		t.Fatalf("want an error naming the missing file, got %v", err)
	}
}

// BenchmarkLoad measures parsing every schema with the modules already in the module cache
// (what each test process pays once).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := kubeschema.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate measures validating a Deployment and a Service.
func BenchmarkValidate(b *testing.B) {
	v := validator(b)
	data, err := os.ReadFile("testdata/builtin.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := v.Validate(data); err != nil {
			b.Fatal(err)
		}
	}
}
