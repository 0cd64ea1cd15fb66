// Package helmrender renders and lints Helm charts in-process with the Helm SDK, client-only,
// the way Argo CD does before it applies anything: values files are layered in order
// (values.yaml, values-<env>.yaml, then the environment file from the GitOps repository) and
// the output includes the hooks, because Argo CD applies hooks as ordinary resources.
package helmrender

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"

	"github.com/smp/delivery/internal/fault"
)

// ErrLint is wrapped by Lint's error when the chart has lint warnings or errors.
var ErrLint = fault.Refusedf("chart lint failed")

// DefaultKubeVersion is the cluster version charts are rendered for; it matches the
// k8s.io/kubernetes schemas the output is validated against.
const DefaultKubeVersion = "v1.35.0"

// Options say how to render.
type Options struct {
	ReleaseName string   // default: the chart's name
	Namespace   string   // default: "default"
	ValuesFiles []string // layered in order; later files win
	KubeVersion string   // default: DefaultKubeVersion
}

func (o Options) withDefaults(chartName string) Options {
	if o.ReleaseName == "" {
		o.ReleaseName = chartName
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.KubeVersion == "" {
		o.KubeVersion = DefaultKubeVersion
	}
	return o
}

// Render renders the chart in chartDir and returns every object — hooks first, in the order
// Helm would run them, then the release's manifests in install order — as one multi-document
// YAML stream. Values that break values.schema.json, and templates that call `fail`, make it
// return an error that names the values path.
func Render(ctx context.Context, chartDir string, o Options) ([]byte, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", chartDir, err)
	}
	o = o.withDefaults(chrt.Name())
	vals, err := (&values.Options{ValueFiles: o.ValuesFiles}).MergeValues(getter.Providers{})
	if err != nil {
		return nil, fmt.Errorf("read values %v: %w", o.ValuesFiles, err)
	}
	kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version %q: %w", o.KubeVersion, err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = o.ReleaseName
	install.Namespace = o.Namespace
	install.KubeVersion = kv
	rel, err := install.RunWithContext(ctx, chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("render %s with %s: %w", chartDir, strings.Join(o.ValuesFiles, ", "), err)
	}
	return joinRelease(rel), nil
}

func joinRelease(rel *release.Release) []byte {
	hooks := append([]*release.Hook(nil), rel.Hooks...)
	sort.SliceStable(hooks, func(i, j int) bool {
		if hooks[i].Weight != hooks[j].Weight {
			return hooks[i].Weight < hooks[j].Weight
		}
		return hooks[i].Name < hooks[j].Name
	})
	var b strings.Builder
	for _, h := range hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
	b.WriteString(strings.TrimSpace(rel.Manifest))
	b.WriteString("\n")
	return []byte(b.String())
}

// Lint runs Helm's linter (what `helm lint --strict -f ...` runs) and fails on warnings as
// well as errors; informational messages (a missing icon) are ignored.
func Lint(chartDir string, o Options) error {
	o = o.withDefaults("")
	vals, err := (&values.Options{ValueFiles: o.ValuesFiles}).MergeValues(getter.Providers{})
	if err != nil {
		return fmt.Errorf("read values %v: %w", o.ValuesFiles, err)
	}
	kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return fmt.Errorf("kube version %q: %w", o.KubeVersion, err)
	}
	res := lint.AllWithKubeVersion(chartDir, vals, o.Namespace, kv)
	var msgs []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			msgs = append(msgs, m.Error())
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%w: %s with %s:\n  %s", ErrLint, chartDir, strings.Join(o.ValuesFiles, ", "), strings.Join(msgs, "\n  "))
	}
	return nil
}
