// Package envfile owns the environment files of the GitOps repository,
// environments/<env>/<service>.yaml: Helm values files in which smpctl owns
// image.repository, image.tag, image.digest and chart.version, and the rest
// belongs to the service's team (docs/gitops-format.md).
//
// Decode is the one decoder every reader uses (deploy, status and history,
// the local runtime, registry retention). Set is the writer: it edits the
// owned fields through the shared text-preserving editor (package yamledit),
// so every other byte stays as it was — comments, key order, quoting style,
// anchors, flow style, indentation and CRLF line endings. Every result is
// parsed again and checked: the owned fields hold the new values and
// everything else decodes exactly as before; otherwise the edit is refused
// (ErrUnsupported) rather than written.
package envfile

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/gitops/envfile/yamledit"
)

// Image is the image block of an environment file.
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
}

// Values are the fields smpctl owns in an environment file.
type Values struct {
	Image Image `json:"image"`
	// ChartVersion is chart.version, the Helm chart pinned for the
	// environment; empty when the file pins none.
	ChartVersion string `json:"chartVersion,omitempty"`
}

// ErrNotYAML means the file does not parse as a YAML mapping.
var ErrNotYAML = yamledit.ErrNotYAML

// ErrUnsupported means the file uses a construct the byte-preserving editor
// will not rewrite (a block scalar, an alias, a non-mapping image block).
var ErrUnsupported = yamledit.ErrUnsupported

// Read returns the owned fields of an environment file. A block that is not
// a mapping (image: ghcr.io/x:1) reads as empty: Set then refuses to edit
// it with the reason.
func Read(b []byte) (Values, error) {
	f, err := Decode(b)
	if err := Only(err); err != nil {
		return Values{}, err
	}
	return f.Values(), nil
}

// Set writes v into the environment file b and returns the new bytes. The
// three image fields are always written; chart.version only when
// v.ChartVersion is not empty. A missing image or chart block is appended.
func Set(b []byte, v Values) ([]byte, error) {
	doc, err := yamledit.Parse(b)
	if err != nil {
		return nil, err
	}
	if err := setBlock(doc, "image", [][2]string{
		{"repository", v.Image.Repository},
		{"tag", v.Image.Tag},
		{"digest", v.Image.Digest},
	}); err != nil {
		return nil, err
	}
	if v.ChartVersion != "" {
		if err := setBlock(doc, "chart", [][2]string{{"version", v.ChartVersion}}); err != nil {
			return nil, err
		}
	}
	out := doc.Bytes()
	if err := verify(b, out, v); err != nil {
		return nil, err
	}
	return out, nil
}

// setBlock sets block.key = value for each pair, appending the block or the
// missing keys when needed.
func setBlock(doc *yamledit.Doc, block string, kv [][2]string) error {
	nl := doc.Newline()
	m := yamledit.Lookup(doc.Root(), block)
	if m == nil {
		var sb strings.Builder
		sb.WriteString(block + ":" + nl)
		for _, p := range kv {
			sb.WriteString(strings.Repeat(" ", doc.Indent()) + p[0] + ": " + yamledit.FormatScalar(p[1], yamledit.Plain) + nl)
		}
		doc.Append(sb.String())
		return nil
	}
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: %s is a %s; it must be a mapping with %s", ErrUnsupported, block, yamledit.KindName(m.Kind), keysOf(kv))
	}
	flow := m.Style&yaml.FlowStyle != 0
	prevEnd := -1 // end of the previous owned key's value, for inserts
	var prevLine int
	for _, p := range kv {
		key, val := p[0], p[1]
		n := yamledit.Lookup(m, key)
		if n != nil {
			if err := doc.SetScalar(n, val, flow); err != nil {
				return fmt.Errorf("%s.%s: %w", block, key, err)
			}
			_, prevEnd, _, _ = doc.Token(n, flow)
			prevLine = n.Line
			continue
		}
		text := key + ": " + yamledit.FormatScalar(val, yamledit.Plain)
		if flow {
			switch {
			case prevEnd >= 0:
				doc.Replace(prevEnd, prevEnd, ", "+text)
			case len(m.Content) == 0:
				// "{}": insert after the brace.
				at := doc.Offset(m.Line, m.Column) + 1
				doc.Replace(at, at, text)
				prevEnd = at
			default:
				at := doc.Offset(m.Content[0].Line, m.Content[0].Column)
				doc.Replace(at, at, text+", ")
			}
			continue
		}
		if len(m.Content) == 0 {
			return fmt.Errorf("%w: %s is an empty mapping", ErrUnsupported, block)
		}
		line := strings.Repeat(" ", m.Content[0].Column-1) + text + nl
		at := doc.LineStart(m.Content[0].Line)
		if prevEnd >= 0 {
			at = doc.LineEnd(prevLine)
		}
		doc.Replace(at, at, line)
	}
	return nil
}

func keysOf(kv [][2]string) string {
	ks := make([]string, len(kv))
	for i, p := range kv {
		ks[i] = p[0]
	}
	return strings.Join(ks, ", ")
}

// verify parses the result again: the owned fields must hold v and every
// other top-level key must decode exactly as before.
func verify(before, after []byte, v Values) error {
	got, err := Read(after)
	if err != nil {
		return fmt.Errorf("%w: the edit would corrupt the file (%w)", ErrUnsupported, err)
	}
	want := v
	if want.ChartVersion == "" {
		old, _ := Read(before)
		want.ChartVersion = old.ChartVersion
	}
	if got != want {
		return fmt.Errorf("%w: the edited file reads back as %+v, want %+v", ErrUnsupported, got, want)
	}
	var a, b map[string]any
	if err := yaml.Unmarshal(before, &a); err != nil {
		return fmt.Errorf("%w: %w", ErrNotYAML, err)
	}
	if err := yaml.Unmarshal(after, &b); err != nil {
		return fmt.Errorf("%w: the edit would corrupt the file (%w)", ErrUnsupported, err)
	}
	if anchoredOwned(before) {
		// An anchor on an owned field is aliased elsewhere on purpose
		// (e.g. a version label that follows image.tag); those follow.
		return nil
	}
	for _, k := range []string{"image", "chart"} {
		if !sameExcept(a[k], b[k], k) {
			return fmt.Errorf("%w: the edit would change %s beyond the owned fields", ErrUnsupported, k)
		}
		delete(a, k)
		delete(b, k)
	}
	if !reflect.DeepEqual(a, b) && (len(a) != 0 || len(b) != 0) {
		return fmt.Errorf("%w: the edit would change keys other than image.* and chart.version", ErrUnsupported)
	}
	return nil
}

// sameExcept compares the image or chart blocks without the owned keys.
func sameExcept(a, b any, block string) bool {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	owned := map[string]bool{"repository": true, "tag": true, "digest": true}
	if block == "chart" {
		owned = map[string]bool{"version": true}
	}
	strip := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			if !owned[k] {
				out[k] = v
			}
		}
		return out
	}
	return reflect.DeepEqual(strip(am), strip(bm))
}

// anchoredOwned reports whether an owned field carries an anchor.
func anchoredOwned(b []byte) bool {
	doc, err := yamledit.Parse(b)
	if err != nil {
		return false
	}
	for _, blk := range []string{"image", "chart"} {
		m := yamledit.Lookup(doc.Root(), blk)
		if m == nil {
			continue
		}
		if m.Anchor != "" {
			return true
		}
		for i := 1; i < len(m.Content); i += 2 {
			if m.Content[i].Anchor != "" {
				return true
			}
		}
	}
	return false
}
