// Package envfile reads and edits the part of an environment file that
// smpctl owns — image.repository, image.tag, image.digest and chart.version —
// and keeps every other byte as it was: comments, key order, quoting style,
// anchors, flow style, indentation and CRLF line endings.
//
// Why not decode, change and re-encode? yaml.v3 re-indents, drops blank
// lines, rewrites quotes and moves comments; a values file is owned by a
// team, and a GitOps diff must show only the image change. So the editor
// locates the scalar tokens with yaml.v3's node positions and splices new
// tokens into the original bytes. Every result is parsed again and checked:
// the owned fields hold the new values and everything else decodes exactly as
// before; otherwise the edit is refused (ErrUnsupported) rather than written.
package envfile

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
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
var ErrNotYAML = fault.Invalidf("not a YAML mapping")

// ErrUnsupported means the file uses a construct the byte-preserving editor
// will not rewrite (a block scalar, an alias, a non-mapping image block).
var ErrUnsupported = fault.Invalidf("unsupported layout")

// Read returns the owned fields of an environment file.
func Read(b []byte) (Values, error) {
	root, err := parse(b)
	if err != nil {
		return Values{}, err
	}
	var v Values
	if img := lookup(root, "image"); img != nil && img.Kind == yaml.MappingNode {
		v.Image.Repository = scalar(lookup(img, "repository"))
		v.Image.Tag = scalar(lookup(img, "tag"))
		v.Image.Digest = scalar(lookup(img, "digest"))
	}
	if ch := lookup(root, "chart"); ch != nil && ch.Kind == yaml.MappingNode {
		v.ChartVersion = scalar(lookup(ch, "version"))
	}
	return v, nil
}

// Set writes v into the environment file b and returns the new bytes. The
// three image fields are always written; chart.version only when
// v.ChartVersion is not empty. A missing image or chart block is appended.
func Set(b []byte, v Values) ([]byte, error) {
	root, err := parse(b)
	if err != nil {
		return nil, err
	}
	ed := &editor{src: b, lineStarts: lineStarts(b), nl: newline(b)}
	ed.indent = detectIndent(root)
	if err := ed.setBlock(root, "image", [][2]string{
		{"repository", v.Image.Repository},
		{"tag", v.Image.Tag},
		{"digest", v.Image.Digest},
	}); err != nil {
		return nil, err
	}
	if v.ChartVersion != "" {
		if err := ed.setBlock(root, "chart", [][2]string{{"version", v.ChartVersion}}); err != nil {
			return nil, err
		}
	}
	out := ed.apply()
	if err := verify(b, out, v); err != nil {
		return nil, err
	}
	return out, nil
}

func parse(b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotYAML, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		// An empty file: treat as an empty mapping, so an image block is appended.
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the document is a %s, want a mapping of Helm values", ErrNotYAML, kindName(root.Kind))
	}
	return root, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "mapping"
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

type splice struct {
	start, end int
	text       string
}

type editor struct {
	src        []byte
	lineStarts []int
	nl         string
	indent     int
	splices    []splice
	tail       []string // appended blocks
}

func (e *editor) offset(line, col int) int {
	if line-1 >= len(e.lineStarts) {
		return len(e.src)
	}
	off := e.lineStarts[line-1]
	// yaml.v3 counts columns in characters, not bytes.
	for i := 1; i < col && off < len(e.src); i++ {
		_, size := utf8.DecodeRune(e.src[off:])
		off += size
	}
	return off
}

func (e *editor) apply() []byte {
	// Splices never overlap; apply from the end so offsets stay valid.
	out := append([]byte(nil), e.src...)
	for i := len(e.splices) - 1; i >= 0; i-- {
		for j := 0; j < i; j++ {
			if e.splices[j].start > e.splices[j+1].start {
				e.splices[j], e.splices[j+1] = e.splices[j+1], e.splices[j]
			}
		}
	}
	for i := len(e.splices) - 1; i >= 0; i-- {
		s := e.splices[i]
		out = append(out[:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	if len(e.tail) > 0 {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, e.nl...)
		}
		for _, t := range e.tail {
			out = append(out, t...)
		}
	}
	return out
}

// setBlock sets block.key = value for each pair, appending the block or the
// missing keys when needed.
func (e *editor) setBlock(root *yaml.Node, block string, kv [][2]string) error {
	m := lookup(root, block)
	if m == nil {
		var sb strings.Builder
		sb.WriteString(block + ":" + e.nl)
		for _, p := range kv {
			sb.WriteString(strings.Repeat(" ", e.indent) + p[0] + ": " + formatScalar(p[1], 0) + e.nl)
		}
		e.tail = append(e.tail, sb.String())
		return nil
	}
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: %s is a %s; it must be a mapping with %s", ErrUnsupported, block, kindName(m.Kind), keysOf(kv))
	}
	flow := m.Style&yaml.FlowStyle != 0
	var prevEnd = -1 // end of the previous owned key's value, for inserts
	var prevLine int
	for _, p := range kv {
		key, val := p[0], p[1]
		n := lookup(m, key)
		if n != nil {
			start, end, style, err := e.token(n, flow)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", block, key, err)
			}
			if n.Value != val || n.Tag != "!!str" {
				e.splices = append(e.splices, splice{start, end, formatScalar(val, style)})
			}
			prevEnd, prevLine = end, n.Line
			continue
		}
		if flow {
			if prevEnd >= 0 {
				e.splices = append(e.splices, splice{prevEnd, prevEnd, ", " + key + ": " + formatScalar(val, 0)})
			} else {
				first := m.Content
				if len(first) == 0 {
					// "{}": insert after the brace.
					at := e.offset(m.Line, m.Column) + 1
					e.splices = append(e.splices, splice{at, at, key + ": " + formatScalar(val, 0)})
					prevEnd = at
					continue
				}
				at := e.offset(first[0].Line, first[0].Column)
				e.splices = append(e.splices, splice{at, at, key + ": " + formatScalar(val, 0) + ", "})
			}
			continue
		}
		if len(m.Content) == 0 {
			return fmt.Errorf("%w: %s is an empty mapping", ErrUnsupported, block)
		}
		col := m.Content[0].Column
		line := strings.Repeat(" ", col-1) + key + ": " + formatScalar(val, 0) + e.nl
		if prevEnd >= 0 {
			at := e.lineEnd(prevLine)
			e.splices = append(e.splices, splice{at, at, line})
		} else {
			at := e.lineStarts[m.Content[0].Line-1]
			e.splices = append(e.splices, splice{at, at, line})
		}
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

// lineEnd returns the offset just past line's line break.
func (e *editor) lineEnd(line int) int {
	if line < len(e.lineStarts) {
		return e.lineStarts[line]
	}
	return len(e.src)
}

// Scalar styles for formatScalar.
const (
	stylePlain = iota
	styleDouble
	styleSingle
)

// token returns the byte range of n's scalar token (after any anchor or tag)
// and its quoting style.
func (e *editor) token(n *yaml.Node, flow bool) (start, end, style int, err error) {
	if n.Kind != yaml.ScalarNode {
		return 0, 0, 0, fmt.Errorf("%w: the value is a %s, want a plain or quoted string", ErrUnsupported, kindName(n.Kind))
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return 0, 0, 0, fmt.Errorf("%w: the value is a block scalar (| or >); write it on one line", ErrUnsupported)
	}
	src := e.src
	i := e.offset(n.Line, n.Column)
	// Skip the anchor (&name) and the tag (!!str), keeping them in place.
	for i < len(src) && (src[i] == '&' || src[i] == '!') {
		for i < len(src) && !isSpace(src[i]) {
			i++
		}
		for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
	}
	start = i
	switch {
	case i < len(src) && src[i] == '"':
		i++
		for i < len(src) && src[i] != '"' {
			if src[i] == '\\' {
				i++
			}
			i++
		}
		return start, min(i+1, len(src)), styleDouble, nil
	case i < len(src) && src[i] == '\'':
		i++
		for i < len(src) {
			if src[i] == '\'' {
				if i+1 < len(src) && src[i+1] == '\'' {
					i += 2
					continue
				}
				break
			}
			i++
		}
		return start, min(i+1, len(src)), styleSingle, nil
	}
	// A plain scalar: up to the end of the line, a comment, or (in flow
	// style) a flow indicator.
	for i < len(src) && src[i] != '\n' && src[i] != '\r' {
		if src[i] == '#' && i > start && isSpace(src[i-1]) {
			break
		}
		if flow && (src[i] == ',' || src[i] == '}' || src[i] == ']') {
			break
		}
		i++
	}
	end = i
	for end > start && isSpace(src[end-1]) {
		end--
	}
	if n.Value != "" && !strings.Contains(string(src[start:end]), strings.TrimSpace(strings.SplitN(n.Value, "\n", 2)[0])) {
		return 0, 0, 0, fmt.Errorf("%w: could not locate the value %q in the file", ErrUnsupported, n.Value)
	}
	return start, end, stylePlain, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// formatScalar renders s in the given style, falling back to double quotes
// when a plain scalar would not read back as the same string (1.10 is a
// float, "yes" a bool in YAML 1.1 tools, "" a null).
func formatScalar(s string, style int) string {
	switch style {
	case styleSingle:
		if !strings.ContainsAny(s, "\n\r") {
			return "'" + strings.ReplaceAll(s, "'", "''") + "'"
		}
	case styleDouble:
	default:
		out, err := yaml.Marshal(s)
		if err == nil {
			text := strings.TrimSuffix(string(out), "\n")
			if !strings.ContainsAny(text, "\"'\n|>") && text != "" {
				return text
			}
		}
	}
	q, _ := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: s})
	return strings.TrimSuffix(string(q), "\n")
}

func lineStarts(b []byte) []int {
	starts := []int{0}
	for i, c := range b {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func newline(b []byte) string {
	if bytes.Contains(b, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// detectIndent returns the indentation of the first nested block mapping,
// so an appended block looks like its neighbours; 2 by default.
func detectIndent(root *yaml.Node) int {
	for i := 1; i < len(root.Content); i += 2 {
		v := root.Content[i]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
			if d := v.Content[0].Column - root.Content[i-1].Column; d > 0 {
				return d
			}
		}
	}
	return 2
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
	root, err := parse(b)
	if err != nil {
		return false
	}
	for _, blk := range []string{"image", "chart"} {
		m := lookup(root, blk)
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
