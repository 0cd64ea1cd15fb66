package helmrender_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/gitops/layout"
	"github.com/smp/delivery/internal/testkit/helmrender"
	"github.com/smp/delivery/internal/testkit/kubeschema"
	"github.com/smp/delivery/internal/testkit/testctx"
)

var update = flag.Bool("update", false, "rewrite the golden renders in testdata/golden")

const chartDir = "../../../examples/order-svc/deployments/helm/order-svc"

var envs = []string{"dev", "staging", "prod"}

// gitopsDir is an smp-gitops tree with order-svc's environment files as smpctl writes them:
// `gitops add-service --critical` (layout.EnvFileContent, chart.version included), then a
// deploy's image (envfile.Set).
var gitopsDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "helmrender-gitops-")
	if err != nil {
		return "", err
	}
	tags := map[string]string{"dev": "sha-3f9c2e1", "staging": "3.3.0-rc.1", "prod": "3.3.0"}
	for _, env := range envs {
		b := layout.EnvFileContent(env, "order-svc", layout.AddOptions{Critical: true, Image: "ghcr.io/smp/order-svc", ChartVersion: "0.1.0"})
		b, err = envfile.Set(b, envfile.Values{Image: envfile.Image{
			Repository: "ghcr.io/smp/order-svc",
			Tag:        tags[env],
			Digest:     "sha256:4f2a8c7d9e1b3a5c6d7e8f9012345678abcdef0123456789abcdef0123456789",
		}, ChartVersion: "0.1.0"})
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, filepath.FromSlash(layout.EnvFile(env, "order-svc")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := gitopsDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// renderEnv renders the chart as Argo CD does for env: the values files the scaffold's
// ApplicationSet (deploy/gitops/files/apps/<env>-apps.yaml) passes, in its order, over
// values.yaml — the chart's values-<env>.yaml, then the environment file — plus extra.
func renderEnv(t *testing.T, env string, extra ...string) ([]byte, error) {
	t.Helper()
	ctx := testctx.New(t)
	dir, err := gitopsDir()
	if err != nil {
		t.Fatal(err)
	}
	files := argoValueFiles(t, env, dir)
	return helmrender.Render(ctx, chartDir, helmrender.Options{
		ReleaseName: "order-svc",
		Namespace:   "smp-" + env,
		ValuesFiles: append(files, extra...),
	})
}

// argoValueFiles is the list of values files the scaffold's ApplicationSet for env passes
// for order-svc, resolved against the chart and the smp-gitops tree in dir.
func argoValueFiles(t *testing.T, env, dir string) []string {
	t.Helper()
	appset, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "gitops", "files", "apps", env+"-apps.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := helmrender.ApplicationSetValueFiles(appset, chartDir, dir, layout.EnvFile(env, "order-svc"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRenderLayersTheValuesFilesTheApplicationSetPasses(t *testing.T) {
	t.Parallel()
	dir, err := gitopsDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range envs {
		files := argoValueFiles(t, env, dir)
		want := []string{
			filepath.Join(chartDir, "values-"+env+".yaml"),
			filepath.Join(dir, "environments", env, "order-svc.yaml"),
		}
		if strings.Join(files, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: Argo CD renders with %q, want the chart's values-%s.yaml then the environment file %q", env, files, env, want)
		}
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("%s: %v", env, err)
			}
		}
	}
}

func TestOrderSvcChartRendersToGoldenForEveryEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		t.Run(env, func(t *testing.T) {
			t.Parallel()
			got, err := renderEnv(t, env)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", "order-svc-"+env+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/testkit/helmrender -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render of %s differs from %s (run with -update if the change is intended):\n%s", env, golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("first difference at line %d:\n- %s\n+ %s", i+1, a, b)
		}
	}
	return "(no line differs)"
}

func TestOrderSvcChartValidatesAgainstClusterSchemas(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	v, err := kubeschema.Default(ctx)
	if err != nil {
		t.Fatalf("load schemas: %v", err)
	}
	// Every environment with each strategy its environment file may select.
	for _, env := range envs {
		for _, strategy := range strategies {
			out, err := renderEnv(t, env, strategyFile(t, strategy))
			if err != nil {
				t.Fatalf("%s/%s: %v", env, strategy, err)
			}
			if err := v.Validate(out); err != nil {
				t.Errorf("%s/%s: %v", env, strategy, err)
			}
		}
	}
}

var strategies = []string{"rolling", "blueGreen"}

// strategyFile writes a values file that selects strategy, as an environment file may.
func strategyFile(t *testing.T, strategy string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), strategy+".yaml")
	if err := os.WriteFile(f, []byte("strategy: "+strategy+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOrderSvcChartLintsCleanForEveryEnvironment(t *testing.T) {
	t.Parallel()
	dir, err := gitopsDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range envs {
		err := helmrender.Lint(chartDir, helmrender.Options{
			Namespace: "smp-" + env,
			ValuesFiles: []string{
				filepath.Join(chartDir, "values-"+env+".yaml"),
				filepath.Join(dir, "environments", env, "order-svc.yaml"),
			},
		})
		if err != nil {
			t.Errorf("%s: %v", env, err)
		}
	}
}

// objects is the render of one environment, decoded into the API types (strictly, so a
// field the Go types do not know is an error here too).
type objects struct {
	deployments []appsv1.Deployment
	rollouts    []rollout
	services    map[string]corev1.Service
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	pdbs        []policyv1.PodDisruptionBudget
	jobs        []batchv1.Job
	kinds       map[string]int
}

// rollout holds the fields of an Argo Rollouts Rollout the tests read; the full object is
// checked against the Rollout CRD schema by kubeschema.
type rollout struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Replicas *int32 `json:"replicas"`
		Strategy struct {
			BlueGreen *struct {
				ActiveService         string `json:"activeService"`
				PreviewService        string `json:"previewService"`
				AutoPromotionEnabled  *bool  `json:"autoPromotionEnabled"`
				ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds"`
			} `json:"blueGreen"`
			Canary any `json:"canary"`
		} `json:"strategy"`
		Template corev1.PodTemplateSpec `json:"template"`
	} `json:"spec"`
}

func decode(t *testing.T, stream []byte) objects {
	t.Helper()
	o := objects{services: map[string]corev1.Service{}, kinds: map[string]int{}}
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		if head.Kind == "" {
			continue
		}
		o.kinds[head.Kind]++
		strict := func(into any) {
			t.Helper()
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("decode %s: %v", head.Kind, err)
			}
		}
		switch head.Kind {
		case "Deployment":
			var d appsv1.Deployment
			strict(&d)
			o.deployments = append(o.deployments, d)
		case "Rollout":
			var r rollout
			if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			o.rollouts = append(o.rollouts, r)
		case "Service":
			var s corev1.Service
			strict(&s)
			o.services[s.Name] = s
		case "HorizontalPodAutoscaler":
			var h autoscalingv2.HorizontalPodAutoscaler
			strict(&h)
			o.hpas = append(o.hpas, h)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			strict(&p)
			o.pdbs = append(o.pdbs, p)
		case "Job":
			var j batchv1.Job
			strict(&j)
			o.jobs = append(o.jobs, j)
		}
	}
	return o
}

// workload returns the pod template and the replica count of the one workload.
func (o objects) workload(t *testing.T) (kind, name string, tmpl corev1.PodTemplateSpec, replicas *int32) {
	t.Helper()
	if n := len(o.deployments) + len(o.rollouts); n != 1 {
		t.Fatalf("want exactly one Deployment or Rollout, got %d", n)
	}
	if len(o.deployments) == 1 {
		d := o.deployments[0]
		return "Deployment", d.Name, d.Spec.Template, d.Spec.Replicas
	}
	r := o.rollouts[0]
	return "Rollout", r.Metadata.Name, r.Spec.Template, r.Spec.Replicas
}

func TestProdRendersABlueGreenRolloutWithTheSeedSettings(t *testing.T) {
	t.Parallel()
	out, err := renderEnv(t, "prod")
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, out)
	if len(o.deployments) != 0 || len(o.rollouts) != 1 {
		t.Fatalf("prod: want one Rollout and no Deployment, got %d Rollouts, %d Deployments", len(o.rollouts), len(o.deployments))
	}
	bg := o.rollouts[0].Spec.Strategy.BlueGreen
	if bg == nil || o.rollouts[0].Spec.Strategy.Canary != nil {
		t.Fatal("prod Rollout: want strategy.blueGreen only")
	}
	if bg.AutoPromotionEnabled == nil || *bg.AutoPromotionEnabled {
		t.Error("autoPromotionEnabled must be present and false (manual promotion)")
	}
	if bg.ScaleDownDelaySeconds == nil || *bg.ScaleDownDelaySeconds != 300 {
		t.Errorf("scaleDownDelaySeconds = %v, want 300", bg.ScaleDownDelaySeconds)
	}
	for role, name := range map[string]string{"activeService": bg.ActiveService, "previewService": bg.PreviewService} {
		svc, ok := o.services[name]
		if !ok {
			t.Errorf("%s %q: no such Service in the render", role, name)
			continue
		}
		if !selects(svc.Spec.Selector, o.rollouts[0].Spec.Template.Labels) {
			t.Errorf("%s %q does not select the Rollout's pods", role, name)
		}
	}
	if bg.ActiveService == bg.PreviewService {
		t.Error("active and preview Service must differ")
	}
}

func TestDevAndStagingRollWithoutEverDroppingCapacity(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"dev", "staging"} {
		out, err := renderEnv(t, env)
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, out)
		if len(o.rollouts) != 0 || len(o.deployments) != 1 {
			t.Fatalf("%s: want one Deployment and no Rollout", env)
		}
		s := o.deployments[0].Spec.Strategy
		if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable == nil {
			t.Fatalf("%s: want RollingUpdate with maxUnavailable, got %+v", env, s)
		}
		if mu := s.RollingUpdate.MaxUnavailable; mu.IntValue() != 0 || mu.String() != "0" {
			t.Errorf("%s: maxUnavailable = %s, want 0", env, mu.String())
		}
		if _, ok := o.services["order-svc-preview"]; ok {
			t.Errorf("%s: a preview Service exists without blue/green", env)
		}
	}
}

func TestPreviewServiceExistsOnlyForBlueGreen(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		for _, strategy := range strategies {
			out, err := renderEnv(t, env, strategyFile(t, strategy))
			if err != nil {
				t.Fatal(err)
			}
			o := decode(t, out)
			previews := 0
			for _, s := range o.services {
				if s.Labels["app.kubernetes.io/component"] == "preview" {
					previews++
				}
			}
			want, kind := 0, "Deployment"
			if strategy == "blueGreen" {
				want, kind = 1, "Rollout"
			}
			if previews != want {
				t.Errorf("%s/%s: %d preview Services, want %d", env, strategy, previews, want)
			}
			if got, _, _, _ := o.workload(t); got != kind {
				t.Errorf("%s/%s: workload is a %s, want a %s", env, strategy, got, kind)
			}
		}
	}
}

func TestEveryContainerHasProbesLimitsAndRunsHardened(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		out, err := renderEnv(t, env)
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, out)
		_, _, tmpl, _ := o.workload(t)
		pods := map[string]corev1.PodSpec{"workload": tmpl.Spec}
		for _, j := range o.jobs {
			pods["job "+j.Name] = j.Spec.Template.Spec
		}
		for where, pod := range pods {
			cs := append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...)
			if len(cs) == 0 {
				t.Errorf("%s %s: no containers", env, where)
			}
			for _, c := range cs {
				at := fmt.Sprintf("%s %s container %s", env, where, c.Name)
				// A Job's container runs to completion: probes make no sense there.
				if where == "workload" {
					checkProbe(t, at+" liveness", c.LivenessProbe, "/health")
					checkProbe(t, at+" readiness", c.ReadinessProbe, "/ready")
				}
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if _, ok := c.Resources.Limits[r]; !ok {
						t.Errorf("%s: no %s limit", at, r)
					}
					if _, ok := c.Resources.Requests[r]; !ok {
						t.Errorf("%s: no %s request", at, r)
					}
				}
				checkHardened(t, at, pod.SecurityContext, c.SecurityContext)
			}
		}
	}
}

func checkProbe(t *testing.T, at string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe", at)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s: path %q, want %q", at, p.HTTPGet.Path, path)
	}
}

func checkHardened(t *testing.T, at string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if c == nil {
		t.Errorf("%s: no securityContext", at)
		return
	}
	nonRoot := c.RunAsNonRoot != nil && *c.RunAsNonRoot
	if c.RunAsNonRoot == nil && pod != nil && pod.RunAsNonRoot != nil {
		nonRoot = *pod.RunAsNonRoot
	}
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", at)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", at)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", at)
	}
	if c.Capabilities == nil || len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: capabilities must drop ALL", at)
	}
	seccomp := c.SeccompProfile
	if seccomp == nil && pod != nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccomp profile is not RuntimeDefault", at)
	}
}

func TestDisruptionBudgetAndAutoscalerAgreeWithReplicas(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		out, err := renderEnv(t, env)
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, out)
		kind, name, tmpl, replicas := o.workload(t)
		// The workload always says how many pods a first install starts with; with an HPA
		// that is the HPA's floor (the ApplicationSets then ignore spec.replicas).
		if replicas == nil || *replicas < 1 {
			t.Fatalf("%s: the workload renders no replicas: a first install would start at 1 pod", env)
		}
		floor := *replicas
		for _, h := range o.hpas {
			if h.Spec.ScaleTargetRef.Kind != kind || h.Spec.ScaleTargetRef.Name != name {
				t.Errorf("%s: HPA targets %s/%s, want %s/%s", env, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, kind, name)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
				t.Errorf("%s: HPA minReplicas %v, maxReplicas %d", env, h.Spec.MinReplicas, h.Spec.MaxReplicas)
				continue
			}
			if *h.Spec.MinReplicas != floor {
				t.Errorf("%s: the first install starts %d pods but the HPA's floor is %d", env, floor, *h.Spec.MinReplicas)
			}
		}
		for _, p := range o.pdbs {
			if p.Spec.MinAvailable != nil {
				t.Errorf("%s: PDB minAvailable %s: its selector spans both colours of a blue/green pair, so a drain could evict every active pod", env, p.Spec.MinAvailable)
			}
			if p.Spec.MaxUnavailable == nil {
				t.Errorf("%s: PDB without maxUnavailable", env)
				continue
			}
			// During a blue/green pause the selector matches floor active + floor preview
			// pods; a drain evicts at most maxUnavailable of them, so at least
			// floor-maxUnavailable active pods keep serving.
			if max := int32(p.Spec.MaxUnavailable.IntValue()); max < 1 || floor-max < 1 {
				t.Errorf("%s: PDB maxUnavailable %d with %d replicas: a drain could take every active pod (or none)", env, max, floor)
			}
			if !selects(p.Spec.Selector.MatchLabels, tmpl.Labels) {
				t.Errorf("%s: PDB does not select the workload's pods", env)
			}
		}
		if floor > 1 && len(o.pdbs) == 0 && env != "dev" {
			t.Errorf("%s: %d replicas and no PodDisruptionBudget", env, floor)
		}
	}
}

func TestMigrationHookRunsTheWorkloadsImageBeforeTheRollout(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		out, err := renderEnv(t, env)
		if err != nil {
			t.Fatal(err)
		}
		o := decode(t, out)
		if len(o.jobs) != 1 {
			t.Fatalf("%s: want one migration Job, got %d", env, len(o.jobs))
		}
		j := o.jobs[0]
		_, _, tmpl, _ := o.workload(t)
		want := map[string]string{
			"helm.sh/hook":                          "pre-install,pre-upgrade",
			"helm.sh/hook-weight":                   "-5",
			"helm.sh/hook-delete-policy":            "before-hook-creation,hook-succeeded",
			"argocd.argoproj.io/hook":               "PreSync",
			"argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation,HookSucceeded",
		}
		for k, v := range want {
			if j.Annotations[k] != v {
				t.Errorf("%s: Job annotation %s = %q, want %q", env, k, j.Annotations[k], v)
			}
		}
		if j.Spec.ActiveDeadlineSeconds == nil || *j.Spec.ActiveDeadlineSeconds <= 0 {
			t.Errorf("%s: Job has no deadline", env)
		}
		img := j.Spec.Template.Spec.Containers[0].Image
		if wimg := tmpl.Spec.Containers[0].Image; img != wimg {
			t.Errorf("%s: migration image %q, workload image %q", env, img, wimg)
		}
		if !strings.Contains(img, "@sha256:") {
			t.Errorf("%s: image %q is not pinned by digest although the environment file sets one", env, img)
		}
		c := j.Spec.Template.Spec.Containers[0]
		if got := strings.Join(append(append([]string(nil), c.Command...), c.Args...), " "); got != "/app/server migrate up" {
			t.Errorf("%s: migration runs %q, want /app/server migrate up", env, got)
		}
		if len(c.Env) != 1 || c.Env[0].Name != "MYSQL_DSN" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: MYSQL_DSN must come from a Secret, got %+v", env, c.Env)
		}
		for _, s := range o.services {
			if selects(s.Spec.Selector, j.Spec.Template.Labels) {
				t.Errorf("%s: Service %s selects the migration pod", env, s.Name)
			}
		}
	}
}

// The hook is placed where the workload is: on nodes reserved for the service (a label, a
// taint), a migration Job without the workload's nodeSelector and tolerations would stay
// Pending and block every sync.
func TestMigrationHookRunsWhereTheWorkloadRuns(t *testing.T) {
	t.Parallel()
	placement := filepath.Join(t.TempDir(), "placement.yaml")
	if err := os.WriteFile(placement, []byte("nodeSelector: {pool: orders}\ntolerations:\n  - {key: dedicated, operator: Equal, value: orders, effect: NoSchedule}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := renderEnv(t, "prod", placement)
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, out)
	_, _, tmpl, _ := o.workload(t)
	if len(o.jobs) != 1 {
		t.Fatalf("want one migration Job, got %d", len(o.jobs))
	}
	job := o.jobs[0].Spec.Template.Spec
	if job.NodeSelector["pool"] != "orders" || !reflect.DeepEqual(job.NodeSelector, tmpl.Spec.NodeSelector) {
		t.Errorf("migration Job nodeSelector %v, workload %v", job.NodeSelector, tmpl.Spec.NodeSelector)
	}
	if len(job.Tolerations) != 1 || !reflect.DeepEqual(job.Tolerations, tmpl.Spec.Tolerations) {
		t.Errorf("migration Job tolerations %v, workload %v", job.Tolerations, tmpl.Spec.Tolerations)
	}
}

func TestImageIsRepositoryAtDigestWheneverADigestIsSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tagOnly := filepath.Join(dir, "tag-only.yaml")
	if err := os.WriteFile(tagOnly, []byte("image: {tag: sha-1a2b3c4, digest: \"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := renderEnv(t, "prod")
	if err != nil {
		t.Fatal(err)
	}
	_, _, tmpl, _ := decode(t, out).workload(t)
	const want = "ghcr.io/smp/order-svc@sha256:4f2a8c7d9e1b3a5c6d7e8f9012345678abcdef0123456789abcdef0123456789"
	if got := tmpl.Spec.Containers[0].Image; got != want {
		t.Errorf("with tag and digest: image %q, want %q", got, want)
	}
	out, err = renderEnv(t, "dev", tagOnly)
	if err != nil {
		t.Fatal(err)
	}
	_, _, tmpl, _ = decode(t, out).workload(t)
	if got := tmpl.Spec.Containers[0].Image; got != "ghcr.io/smp/order-svc:sha-1a2b3c4" {
		t.Errorf("dev with a tag only: image %q", got)
	}
}

func TestBadValuesFailAtRenderTimeNamingTheValuesPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, env, values, want string
	}{
		{"replicas as a word", "dev", `replicaCount: two`, "/replicaCount"},
		{"an unknown strategy", "dev", `strategy: canary`, "/strategy"},
		{"no image repository", "dev", `image: {repository: ""}`, "/image/repository"},
		{"neither tag nor digest", "dev", `image: {tag: "", digest: ""}`, "/image"},
		{"the latest tag", "dev", `image: {tag: latest, digest: ""}`, "/image/tag"},
		{"a digest that is not sha256", "dev", `image: {digest: "md5:abc"}`, "/image/digest"},
		{"a misspelt top-level key", "dev", `replicacount: 3`, "replicacount"},
		{"a tag but no digest in prod", "prod", `image: {tag: 3.3.0, digest: ""}`, "image.digest"},
		{"a PDB by minAvailable", "staging", `podDisruptionBudget: {enabled: true, minAvailable: 1}`, "podDisruptionBudget.minAvailable"},
		{"a PDB that lets a drain take every pod", "staging", `podDisruptionBudget: {enabled: true, maxUnavailable: 2}`, "podDisruptionBudget.maxUnavailable"},
		{"a chart version that is not SemVer", "staging", `chart: {version: ">=0.1.0"}`, "/chart/version"},
		{"an unknown key in the chart block", "staging", `chart: {pinned: 0.1.0}`, "pinned"},
		{"an HPA ceiling below the floor", "prod", `autoscaling: {enabled: true, maxReplicas: 2}`, "autoscaling.maxReplicas"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(f, []byte(c.values+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := renderEnv(t, c.env, f)
			if err == nil {
				t.Fatalf("rendered bad values %q:\n%.300s", c.values, out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %q:\n%v", c.want, err)
			}
			t.Log(err)
		})
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
