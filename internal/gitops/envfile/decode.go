package envfile

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/gitops/envfile/yamledit"
)

// File is an environment file as smpctl's readers see it: the keys smpctl
// owns (image.*, chart.version) and the keys the local runtime reads to run
// the service the way the chart would. Every other key belongs to the chart
// and is not decoded.
type File struct {
	Image Image
	// ChartVersion is chart.version.
	ChartVersion string
	// ReplicaCount is replicaCount; nil when the file does not set it.
	ReplicaCount *int
	Strategy     Strategy
	BlueGreen    BlueGreen
}

// Values returns the fields smpctl owns.
func (f File) Values() Values { return Values{Image: f.Image, ChartVersion: f.ChartVersion} }

// Strategy is the strategy key: "strategy: rolling", or the chart's own map
// form "strategy: {blueGreen: {...}}". Name is empty when the key is absent.
type Strategy struct {
	Name string
	// Map says the file uses the map form; Name is then its first key.
	Map bool
}

// BlueGreen is the blueGreen block (Argo Rollouts' settings).
type BlueGreen struct {
	ScaleDownDelaySeconds *int  `yaml:"scaleDownDelaySeconds"`
	AutoPromotionEnabled  *bool `yaml:"autoPromotionEnabled"`
}

// FieldError is a top-level key whose value does not decode as its type
// (image: ghcr.io/x:1, where image must be a mapping).
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors are the keys of one file that did not decode.
type FieldErrors []*FieldError

func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, f := range e {
		msgs[i] = f.Error()
	}
	return strings.Join(msgs, "; ")
}

// Decode is the one decoder of environment files. A file that is not YAML,
// or whose top level is not a mapping, is an error wrapping ErrNotYAML and
// decodes to nothing. Otherwise every known key is decoded on its own: a
// key of the wrong type is reported in a FieldErrors and left zero, and
// the others are still filled in, so each reader fails only on the keys it
// relies on (see Only). An empty file decodes to a zero File.
func Decode(b []byte) (File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return File{}, fmt.Errorf("%w: %w", ErrNotYAML, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return File{}, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return File{}, nil
		}
		return File{}, fmt.Errorf("%w: the document is a %s, want a mapping of Helm values", ErrNotYAML, yamledit.KindName(root.Kind))
	}
	// Decode the whole mapping once, with merge keys and aliases resolved,
	// into nodes per key; then each key into its type.
	var top map[string]yaml.Node
	if err := root.Decode(&top); err != nil {
		return File{}, fmt.Errorf("%w: %w", ErrNotYAML, err)
	}
	var f File
	var errs FieldErrors
	field := func(key string, into any) {
		n, ok := top[key]
		if !ok {
			return
		}
		if err := n.Decode(into); err != nil {
			errs = append(errs, &FieldError{Key: key, Err: err})
		}
	}
	var img struct {
		Repository string `yaml:"repository"`
		Tag        string `yaml:"tag"`
		Digest     string `yaml:"digest"`
	}
	field("image", &img)
	f.Image = Image(img)
	var chart struct {
		Version string `yaml:"version"`
	}
	field("chart", &chart)
	f.ChartVersion = chart.Version
	var replicas *int
	field("replicaCount", &replicas)
	f.ReplicaCount = replicas
	field("blueGreen", &f.BlueGreen)
	if n, ok := top["strategy"]; ok {
		s, err := decodeStrategy(&n)
		if err != nil {
			errs = append(errs, &FieldError{Key: "strategy", Err: err})
		}
		f.Strategy = s
	}
	if len(errs) > 0 {
		return f, errs
	}
	return f, nil
}

func decodeStrategy(n *yaml.Node) (Strategy, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return Strategy{}, nil
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		return Strategy{Name: n.Value}, nil
	case n.Kind == yaml.MappingNode:
		s := Strategy{Map: true}
		if len(n.Content) > 0 {
			s.Name = n.Content[0].Value
		}
		return s, nil
	}
	return Strategy{}, fmt.Errorf("line %d: %q is a %s, want rolling or blueGreen", n.Line, n.Value, yamledit.KindName(n.Kind))
}

// Only returns what a reader that relies on keys must act on in an error
// from Decode: a file that is not YAML, or the FieldErrors of those keys.
// Errors about other keys are dropped (those keys stay zero); with no keys,
// only a file that is not YAML is returned.
func Only(err error, keys ...string) error {
	var fe FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	var keep FieldErrors
	for _, e := range fe {
		for _, k := range keys {
			if e.Key == k {
				keep = append(keep, e)
			}
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return keep
}
