package helmrender

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"gopkg.in/yaml.v3"
)

// appSet is the part of an Argo CD ApplicationSet that decides what Helm renders.
type appSet struct {
	Kind string `yaml:"kind"`
	Spec struct {
		GoTemplate bool `yaml:"goTemplate"`
		Template   struct {
			Spec struct {
				Sources []struct {
					RepoURL string `yaml:"repoURL"`
					Chart   string `yaml:"chart"`
					Ref     string `yaml:"ref"`
					Helm    struct {
						ValueFiles []string `yaml:"valueFiles"`
						Values     string   `yaml:"values"`
					} `yaml:"helm"`
				} `yaml:"sources"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// ApplicationSetValueFiles returns the values files, in order, that Argo CD passes to
// `helm template` for the Application an ApplicationSet's git files generator makes from
// envFile (a path relative to the GitOps repository's root, e.g.
// environments/prod/order-svc.yaml). It reads the helm.valueFiles of the template's chart
// source, fills in the generator's path parameters ({{ .path.path }}, {{ .path.filename }},
// …) with Go templates and Sprig as Argo CD does, then resolves `$<ref>/…` entries against
// gitopsDir (the repository the `ref:` source names) and the others against chartDir, where
// Argo CD finds them inside the chart package. Inline helm.values come after the files, as
// Argo CD passes them; the scaffold's are the environment file as the generator read it
// (`omit . "path" | toJson`), rendered here from envFile's content and checked to be exactly
// that file's values, which is then the last file. Render(…, Options{ValuesFiles: files})
// then renders what Argo CD would apply.
func ApplicationSetValueFiles(appsetYAML []byte, chartDir, gitopsDir, envFile string) ([]string, error) {
	set, err := decodeAppSet(appsetYAML)
	if err != nil {
		return nil, err
	}
	if !set.Spec.GoTemplate {
		return nil, errors.New("ApplicationSet: only goTemplate: true is supported")
	}
	var chartFiles []string
	var inline string
	refs := map[string]bool{}
	for _, s := range set.Spec.Template.Spec.Sources {
		switch {
		case s.Chart != "":
			if chartFiles != nil {
				return nil, errors.New("ApplicationSet: more than one chart source")
			}
			chartFiles = append([]string{}, s.Helm.ValueFiles...)
			inline = s.Helm.Values
		case s.Ref != "":
			refs[s.Ref] = true
		}
	}
	if chartFiles == nil {
		return nil, errors.New("ApplicationSet: no chart source with helm.valueFiles in spec.template.spec.sources")
	}
	params := pathParams(envFile)
	var out []string
	for _, vf := range chartFiles {
		t, err := template.New("valueFiles").Option("missingkey=error").Funcs(sprig.TxtFuncMap()).Parse(vf)
		if err != nil {
			return nil, fmt.Errorf("valueFiles entry %q: %w", vf, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, params); err != nil {
			return nil, fmt.Errorf("valueFiles entry %q for %s: %w", vf, envFile, err)
		}
		f := b.String()
		if strings.HasPrefix(f, "$") {
			ref, rest, _ := strings.Cut(f[1:], "/")
			if !refs[ref] {
				return nil, fmt.Errorf("valueFiles entry %q: no source with ref: %s", vf, ref)
			}
			out = append(out, filepath.Join(gitopsDir, filepath.FromSlash(rest)))
			continue
		}
		out = append(out, filepath.Join(chartDir, filepath.FromSlash(f)))
	}
	if inline != "" {
		file := filepath.Join(gitopsDir, filepath.FromSlash(envFile))
		if err := inlineIsTheFile(inline, file, params); err != nil {
			return nil, err
		}
		out = append(out, file)
	}
	return out, nil
}

// inlineIsTheFile renders an ApplicationSet's helm.values template with the git files
// generator's parameters for file (its content, then .path) and checks that the values it
// gives are file's own: only then is file the values Argo CD passes inline.
func inlineIsTheFile(tmpl, file string, pathParams map[string]any) error {
	b, err := os.ReadFile(file) //nolint:gosec // G304: the test's own GitOps checkout
	if err != nil {
		return fmt.Errorf("helm.values: %w", err)
	}
	var content map[string]any
	if err := yaml.Unmarshal(b, &content); err != nil {
		return fmt.Errorf("helm.values: %s: %w", file, err)
	}
	params := map[string]any{}
	for k, v := range content {
		params[k] = v
	}
	maps.Copy(params, pathParams)
	t, err := template.New("values").Option("missingkey=error").Funcs(sprig.TxtFuncMap()).Parse(tmpl)
	if err != nil {
		return fmt.Errorf("helm.values %q: %w", tmpl, err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, params); err != nil {
		return fmt.Errorf("helm.values %q for %s: %w", tmpl, file, err)
	}
	var got any
	if err := yaml.Unmarshal(out.Bytes(), &got); err != nil {
		return fmt.Errorf("helm.values %q renders %q, not YAML: %w", tmpl, out.String(), err)
	}
	// Compared as JSON (sorted keys), the form the generator passes them in.
	g, gerr := json.Marshal(got)
	w, werr := json.Marshal(content)
	if gerr != nil || werr != nil || !bytes.Equal(g, w) {
		return fmt.Errorf("helm.values %q renders other values than %s: %s", tmpl, file, out.String())
	}
	return nil
}

func decodeAppSet(b []byte) (*appSet, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var s appSet
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no ApplicationSet in the document")
		}
		if err != nil {
			return nil, fmt.Errorf("decode ApplicationSet: %w", err)
		}
		if s.Kind == "ApplicationSet" {
			return &s, nil
		}
	}
}

// pathParams are the git files generator's path parameters for file (goTemplate form).
func pathParams(file string) map[string]any {
	dir := path.Dir(file)
	base := path.Base(file)
	segs := strings.Split(dir, "/")
	return map[string]any{
		"path": map[string]any{
			"path":               dir,
			"basename":           path.Base(dir),
			"filename":           base,
			"basenameNormalized": normalize(path.Base(dir)),
			"filenameNormalized": normalize(base),
			"segments":           segs,
		},
	}
}

// normalize is Argo CD's name normalisation: lower case, anything not alphanumeric, '-' or
// '.' becomes '-'.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}
