package kubeschema

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"sigs.k8s.io/yaml"
)

// GVK identifies a kind the way an apiserver does: group ("" for core), version and kind.
type GVK struct {
	Group, Version, Kind string
}

// APIVersion returns group/version, or version alone for the core group.
func (g GVK) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

func (g GVK) String() string { return g.APIVersion() + " " + g.Kind }

const (
	extGVK           = "x-kubernetes-group-version-kind"
	extPreserve      = "x-kubernetes-preserve-unknown-fields"
	definitionPrefix = "#/definitions/"
	objectMetaDef    = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

// parseSwagger reads the definitions of a Kubernetes OpenAPI v2 document and returns the
// schema of every kind it declares, plus ObjectMeta (used for CRDs, whose own schemas leave
// metadata open although the apiserver validates it as ObjectMeta).
func parseSwagger(data []byte) (map[GVK]*openapi3.Schema, *openapi3.Schema, error) {
	var doc struct {
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("decode swagger: %w", err)
	}
	defs := make(map[string]*openapi3.Schema, len(doc.Definitions))
	for name, raw := range doc.Definitions {
		s := &openapi3.Schema{}
		if err := json.Unmarshal(raw, s); err != nil {
			return nil, nil, fmt.Errorf("decode definition %s: %w", name, err)
		}
		defs[name] = s
	}
	for name, s := range defs {
		// The swagger document encodes these as plain strings; the apiserver accepts
		// numbers for both (replicas: 1, cpu: 1, port: 8080).
		switch name {
		case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
			*s = *anyOf("integer", "string")
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			*s = *anyOf("number", "string")
		}
	}
	if err := resolveRefs(defs); err != nil {
		return nil, nil, err
	}
	kinds := map[GVK]*openapi3.Schema{}
	for name, s := range defs {
		raw, ok := s.Extensions[extGVK]
		if !ok {
			continue
		}
		var gvks []struct{ Group, Version, Kind string }
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("definition %s: %w", name, err)
		}
		if err := json.Unmarshal(b, &gvks); err != nil {
			return nil, nil, fmt.Errorf("definition %s: decode %s: %w", name, extGVK, err)
		}
		for _, g := range gvks {
			// Shared option types (DeleteOptions, WatchEvent) list many groups; a kind's
			// own definition is named after it.
			if !strings.HasSuffix(name, "."+g.Kind) {
				continue
			}
			kinds[GVK{g.Group, g.Version, g.Kind}] = s
		}
	}
	meta, ok := defs[objectMetaDef]
	if !ok {
		return nil, nil, fmt.Errorf("swagger has no %s", objectMetaDef)
	}
	seen := map[*openapi3.Schema]bool{}
	for _, s := range kinds {
		makeStrict(s, seen)
	}
	return kinds, meta, nil
}

func anyOf(types ...string) *openapi3.Schema {
	s := &openapi3.Schema{}
	for _, t := range types {
		s.AnyOf = append(s.AnyOf, openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{t}}))
	}
	return s
}

// resolveRefs points every $ref of the document at the definition it names, so validation
// needs no loader.
func resolveRefs(defs map[string]*openapi3.Schema) error {
	seen := map[*openapi3.Schema]bool{}
	var resolve func(r *openapi3.SchemaRef) error
	var walk func(s *openapi3.Schema) error
	resolve = func(r *openapi3.SchemaRef) error {
		if r == nil {
			return nil
		}
		if r.Ref != "" {
			target, ok := defs[strings.TrimPrefix(r.Ref, definitionPrefix)]
			if !ok {
				return fmt.Errorf("unresolved $ref %q", r.Ref)
			}
			r.Value = target
			return nil
		}
		return walk(r.Value)
	}
	walk = func(s *openapi3.Schema) error {
		if s == nil || seen[s] {
			return nil
		}
		seen[s] = true
		for _, r := range children(s) {
			if err := resolve(r); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range defs {
		if err := walk(s); err != nil {
			return err
		}
	}
	return nil
}

func children(s *openapi3.Schema) []*openapi3.SchemaRef {
	var out []*openapi3.SchemaRef
	for _, r := range s.Properties {
		out = append(out, r)
	}
	out = append(out, s.Items, s.AdditionalProperties.Schema, s.Not)
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	return out
}

// makeStrict closes every object schema that lists its properties, which is what
// `kubectl apply --validate=strict` (server-side field validation) does: an unknown field is
// an error, not something silently dropped. Schemas that keep unknown fields on purpose
// (x-kubernetes-preserve-unknown-fields, maps with additionalProperties) stay open. Branches
// of allOf/anyOf/oneOf/not are left alone: in structural schemas they only add constraints
// to fields the enclosing schema already declares.
func makeStrict(s *openapi3.Schema, seen map[*openapi3.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && !preserves(s) {
		f := false
		s.AdditionalProperties.Has = &f
	}
	for _, r := range s.Properties {
		if r != nil {
			makeStrict(r.Value, seen)
		}
	}
	if s.Items != nil {
		makeStrict(s.Items.Value, seen)
	}
	if s.AdditionalProperties.Schema != nil {
		makeStrict(s.AdditionalProperties.Schema.Value, seen)
	}
}

func preserves(s *openapi3.Schema) bool {
	v, ok := s.Extensions[extPreserve].(bool)
	return ok && v
}

// parseCRDs returns the schema of every served version of every CustomResourceDefinition in
// a (multi-document) YAML file. meta replaces each root metadata schema.
func parseCRDs(data []byte, meta *openapi3.Schema) (map[GVK]*openapi3.Schema, error) {
	docs, err := splitYAML(data)
	if err != nil {
		return nil, err
	}
	out := map[GVK]*openapi3.Schema{}
	for _, d := range docs {
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
					Schema struct {
						OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(d.body, &crd); err != nil {
			return nil, fmt.Errorf("decode CRD: %w", err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || len(v.Schema.OpenAPIV3Schema) == 0 {
				continue
			}
			s := &openapi3.Schema{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, s); err != nil {
				return nil, fmt.Errorf("decode schema of %s/%s %s: %w", crd.Spec.Group, v.Name, crd.Spec.Names.Kind, err)
			}
			if s.Properties == nil {
				s.Properties = openapi3.Schemas{}
			}
			s.Properties["metadata"] = openapi3.NewSchemaRef("", meta)
			makeStrict(s, map[*openapi3.Schema]bool{meta: true})
			out[GVK{crd.Spec.Group, v.Name, crd.Spec.Names.Kind}] = s
		}
	}
	return out, nil
}
