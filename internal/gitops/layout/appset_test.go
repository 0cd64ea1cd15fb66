package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"gopkg.in/yaml.v3"

	scaffold "github.com/smp/delivery/deploy/gitops"
)

// TestApplicationSetTemplatesRenderForAnAddedService renders every Go
// template of the ApplicationSets the way Argo CD's git files generator
// does (goTemplate, missingkey=error; the file's keys plus .path) for the
// files add-service writes: the chart version the Application pins is the
// environment file's chart.version, and the names are the service's.
func TestApplicationSetTemplatesRenderForAnAddedService(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "g")
	ctx := context.Background()
	if _, err := Init(ctx, dir, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := AddService(ctx, dir, "order-svc", AddOptions{ChartVersion: "1.4.2", Critical: true}); err != nil {
		t.Fatal(err)
	}
	// Argo CD's goTemplate functions are Sprig's (less env, expandenv and getHostByName).
	funcs := sprig.TxtFuncMap()
	for _, env := range []string{"dev", "staging", "prod"} {
		rel := EnvFile(env, "order-svc")
		var params map[string]any
		if err := yaml.Unmarshal([]byte(read(t, filepath.Join(dir, rel))), &params); err != nil {
			t.Fatal(err)
		}
		params["path"] = map[string]any{
			"path": filepath.ToSlash(filepath.Dir(rel)), "filename": filepath.Base(rel),
			"basename": filepath.Base(filepath.Dir(rel)),
		}
		b, err := fs.ReadFile(scaffold.FS(), "apps/"+env+"-apps.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var set map[string]any
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for dec.Decode(&set) == nil && set["kind"] != "ApplicationSet" {
			set = nil
		}
		tmpl := set["spec"].(map[string]any)["template"]
		rendered := map[string]string{}
		walkStrings(tmpl, "", func(path, s string) {
			if !strings.Contains(s, "{{") {
				return
			}
			tp, err := template.New(path).Option("missingkey=error").Funcs(funcs).Parse(s)
			if err != nil {
				t.Fatalf("%s: %s: %v", env, path, err)
			}
			var out bytes.Buffer
			if err := tp.Execute(&out, params); err != nil {
				t.Fatalf("%s: %s: %v", env, path, err)
			}
			rendered[path] = out.String()
		})
		want := map[string]string{
			".metadata.name":                    "smp-order-svc-" + env,
			".spec.sources[0].chart":            "order-svc",
			".spec.sources[0].targetRevision":   "1.4.2",
			".spec.sources[0].helm.releaseName": "order-svc",
			".metadata.labels.smp.vn/service":   "order-svc",
		}
		for k, v := range want {
			if rendered[k] != v {
				t.Errorf("%s: %s = %q, want %q", env, k, rendered[k], v)
			}
		}
		// The environment file's values travel inline, from the generator's
		// read: the file's keys, nothing of .path, nothing more.
		var inline map[string]any
		if err := json.Unmarshal([]byte(rendered[".spec.sources[0].helm.values"]), &inline); err != nil {
			t.Fatalf("%s: helm.values %q: %v", env, rendered[".spec.sources[0].helm.values"], err)
		}
		delete(params, "path")
		if got, want := fmt.Sprint(inline), fmt.Sprint(jsonRoundTrip(t, params)); got != want {
			t.Errorf("%s: helm.values = %s, want the environment file's values %s", env, got, want)
		}
		if n := len(set["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["sources"].([]any)); n != 1 {
			t.Errorf("%s: %d sources, want the chart alone (no $values source read apart from the generator)", env, n)
		}
	}
	// A file without chart.version fails generation instead of deploying
	// an unpinned chart (missingkey=error).
	tp := template.Must(template.New("v").Option("missingkey=error").Parse("{{ .chart.version }}"))
	if err := tp.Execute(&bytes.Buffer{}, map[string]any{"image": map[string]any{}}); err == nil {
		t.Error("a values file without chart.version rendered")
	}
}

func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func walkStrings(v any, path string, fn func(path, s string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, y := range x {
			walkStrings(y, path+"."+k, fn)
		}
	case []any:
		for i, y := range x {
			walkStrings(y, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case string:
		fn(path, x)
	}
}
