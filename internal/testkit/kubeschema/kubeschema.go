// Package kubeschema validates Kubernetes manifests offline and strictly, against the same
// schemas a cluster would use: built-in kinds against the OpenAPI document of the
// k8s.io/kubernetes module, custom resources (Argo Rollouts, Argo CD, Prometheus Operator,
// Kyverno) against the CustomResourceDefinitions shipped in their own Go modules.
//
// Schemas are fetched with `go mod download` into the shared module cache the first time a
// process needs them and parsed once per process; nothing is committed to the repository.
// Validation is strict: an unknown field, a wrong type, a missing required field or an
// unknown apiVersion/kind is an error, as with `kubectl apply --validate=strict`.
package kubeschema

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/fault"
)

// ErrInvalid is wrapped by every error that reports bad input: a stream that is not YAML or
// an object not matching its schema. Other errors mean the schemas could not be loaded.
var ErrInvalid = fault.Invalidf("invalid manifest")

// Problem is one way one object does not match its schema.
type Problem struct {
	Doc     int    // 1-based index of the YAML document in the input
	Source  string // the "# Source:" comment Helm writes above each document, if any
	Object  string // "apiVersion Kind name"
	Path    string // JSON pointer inside the object, "/spec/replicas"
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "document %d", p.Doc)
	if p.Source != "" {
		fmt.Fprintf(&b, " (%s)", p.Source)
	}
	if p.Object != "" {
		fmt.Fprintf(&b, " %s", p.Object)
	}
	if p.Path != "" {
		fmt.Fprintf(&b, " at %s", p.Path)
	}
	fmt.Fprintf(&b, ": %s", p.Message)
	return b.String()
}

// ValidationError lists every problem found in one input. It wraps ErrInvalid.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("%d schema problem(s):\n  %s", len(e.Problems), strings.Join(lines, "\n  "))
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validator holds parsed schemas keyed by apiVersion and kind. It is safe for concurrent use.
type Validator struct {
	kinds map[GVK]*openapi3.Schema
}

type options struct {
	goCmd   string
	modules []Module
}

// Option configures Load.
type Option func(*options)

// WithGo sets the go command used to download modules. Default: "go" from PATH.
func WithGo(path string) Option { return func(o *options) { o.goCmd = path } }

// WithCRDModules replaces the modules CRDs are read from. Default: CRDModules.
func WithCRDModules(mods ...Module) Option { return func(o *options) { o.modules = mods } }

// Load downloads (if needed) and parses the schemas of the built-in kinds and of the CRD
// modules. Expect about a second warm; the first run on an empty module cache downloads the
// Kubernetes module (121 MB).
func Load(ctx context.Context, opts ...Option) (*Validator, error) {
	o := options{goCmd: "go", modules: CRDModules}
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := download(ctx, o.goCmd, Kubernetes)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(Kubernetes.Files[0])))
	if err != nil {
		return nil, fmt.Errorf("read %s schema: %w", Kubernetes, err)
	}
	kinds, meta, err := parseSwagger(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s schema: %w", Kubernetes, err)
	}
	for _, m := range o.modules {
		dir, err := download(ctx, o.goCmd, m)
		if err != nil {
			return nil, err
		}
		for _, f := range m.Files {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
			if err != nil {
				return nil, fmt.Errorf("read CRD %s from %s: %w", f, m, err)
			}
			crds, err := parseCRDs(data, meta)
			if err != nil {
				return nil, fmt.Errorf("parse CRD %s from %s: %w", f, m, err)
			}
			if len(crds) == 0 {
				return nil, fmt.Errorf("parse CRD %s from %s: no served version with a schema", f, m)
			}
			for g, s := range crds {
				kinds[g] = s
			}
		}
	}
	return &Validator{kinds: kinds}, nil
}

var (
	defaultMu sync.Mutex
	defaultV  *Validator
)

// Default returns a Validator with the default modules, loaded once per process. A failed
// load is not cached, so a later call retries.
func Default(ctx context.Context) (*Validator, error) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultV != nil {
		return defaultV, nil
	}
	v, err := Load(ctx)
	if err != nil {
		return nil, err
	}
	defaultV = v
	return v, nil
}

// Validate checks multi-document YAML against the default schemas (see Default).
func Validate(ctx context.Context, docs []byte) error {
	v, err := Default(ctx)
	if err != nil {
		return err
	}
	return v.Validate(docs)
}

// Knows reports whether the validator has a schema for apiVersion and kind.
func (v *Validator) Knows(apiVersion, kind string) bool {
	_, ok := v.kinds[parseGVK(apiVersion, kind)]
	return ok
}

// Validate checks every document of a multi-document YAML stream. Empty documents (only
// comments) are skipped. It returns a *ValidationError listing every problem, or nil.
func (v *Validator) Validate(data []byte) error {
	docs, err := splitYAML(data)
	if err != nil {
		return err
	}
	var problems []Problem
	for _, d := range docs {
		problems = append(problems, v.validateDoc(d)...)
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

func (v *Validator) validateDoc(d document) []Problem {
	p := Problem{Doc: d.index, Source: d.source}
	fail := func(path, msg string) []Problem {
		p.Path, p.Message = path, msg
		return []Problem{p}
	}
	js, err := yaml.YAMLToJSONStrict(d.body)
	if err != nil {
		return fail("", "not valid YAML: "+err.Error())
	}
	var obj any
	if err := json.Unmarshal(js, &obj); err != nil {
		return fail("", "not valid JSON: "+err.Error())
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return fail("", fmt.Sprintf("a manifest must be a mapping, got %T", obj))
	}
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	name := ""
	if md, ok := m["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	p.Object = strings.TrimSpace(apiVersion + " " + kind + " " + name)
	if apiVersion == "" || kind == "" {
		return fail("", "apiVersion and kind are required")
	}
	s, ok := v.kinds[parseGVK(apiVersion, kind)]
	if !ok {
		return fail("", fmt.Sprintf("no schema for apiVersion %q kind %q: unknown kind or version (check the apiVersion, or add the CRD's module to kubeschema.CRDModules)", apiVersion, kind))
	}
	// The apiserver drops JSON nulls of optional fields before validating.
	obj = dropNulls(obj)
	err = s.VisitJSON(obj, openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails())
	if err == nil {
		return nil
	}
	var out []Problem
	for _, se := range flatten(err) {
		q := p
		q.Path = "/" + strings.Join(se.JSONPointer(), "/")
		q.Message = se.Reason
		if q.Message == "" {
			q.Message = se.Error()
		}
		out = append(out, q)
	}
	if len(out) == 0 {
		return fail("", err.Error())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func flatten(err error) []*openapi3.SchemaError {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var out []*openapi3.SchemaError
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return []*openapi3.SchemaError{se}
	}
	return nil
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e)
		}
	}
	return v
}

func parseGVK(apiVersion, kind string) GVK {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return GVK{Version: apiVersion, Kind: kind}
	}
	return GVK{Group: group, Version: version, Kind: kind}
}

type document struct {
	index  int
	source string
	body   []byte
}

// splitYAML splits a YAML stream on document separators, dropping documents that hold only
// comments or whitespace.
func splitYAML(data []byte) ([]document, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []document
	for i := 1; ; i++ {
		body, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: split YAML document %d: %w", ErrInvalid, i, err)
		}
		d := document{index: i, body: body}
		empty := true
		for _, line := range strings.Split(string(body), "\n") {
			t := strings.TrimSpace(line)
			if src, ok := strings.CutPrefix(t, "# Source: "); ok && d.source == "" {
				d.source = src
			}
			if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
				empty = false
			}
		}
		if !empty {
			out = append(out, d)
		}
	}
}
