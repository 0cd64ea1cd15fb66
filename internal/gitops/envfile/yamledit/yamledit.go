// Package yamledit is the one text-preserving editor for the YAML files of
// the GitOps repository: environment files (package envfile) and
// delivery.yaml (package delivery). It changes a document by splicing new
// tokens into the original bytes at the positions yaml.v3 reports, so every
// byte it was not asked to change stays: comments (aligned ones too), blank
// lines, key order, quoting style, anchors, flow style, indentation and CRLF
// line endings.
//
// Why not decode, change and re-encode? yaml.v3 re-indents, drops blank
// lines, rewrites quotes and moves comments; these files are owned by people,
// and a GitOps diff must show only the change smpctl made.
//
// A Doc collects edits (scalar replacements, list items added or removed)
// and renders them with Bytes. Edits must not overlap. The editor checks what
// it can see locally (a block scalar, an alias, a list that is not a list are
// ErrUnsupported); the callers, which know the file's schema, parse the
// result again and refuse it unless it decodes to exactly what they meant.
package yamledit

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
)

// ErrNotYAML means the file does not parse as a YAML mapping.
var ErrNotYAML = fault.Invalidf("not a YAML mapping")

// ErrUnsupported means the file uses a construct the byte-preserving editor
// will not rewrite (a block scalar, an alias, a non-mapping block, a list
// that is not a list).
var ErrUnsupported = fault.Invalidf("unsupported layout")

// Style is a scalar's quoting style.
type Style int

// Scalar styles.
const (
	Plain Style = iota
	DoubleQuoted
	SingleQuoted
)

type splice struct {
	start, end int
	text       string
}

// Doc is one YAML document being edited.
type Doc struct {
	src        []byte
	root       *yaml.Node
	lineStarts []int
	nl         string
	splices    []splice
	tail       []string // text appended at the end of the document
}

// Parse reads a document whose top level is a mapping. An empty document
// (nothing, or only comments) reads as an empty mapping.
func Parse(b []byte) (*Doc, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotYAML, err)
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	if doc.Kind != 0 && len(doc.Content) > 0 {
		root = doc.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: the document is a %s, want a mapping", ErrNotYAML, KindName(root.Kind))
		}
	}
	d := &Doc{src: b, root: root, nl: "\n"}
	d.lineStarts = []int{0}
	for i, c := range b {
		if c == '\n' {
			d.lineStarts = append(d.lineStarts, i+1)
		}
	}
	if bytes.Contains(b, []byte("\r\n")) {
		d.nl = "\r\n"
	}
	return d, nil
}

// Root is the top-level mapping.
func (d *Doc) Root() *yaml.Node { return d.root }

// Newline is the document's line ending: "\r\n" when it has any, else "\n".
func (d *Doc) Newline() string { return d.nl }

// KindName names a node kind for error messages.
func KindName(k yaml.Kind) string {
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

// Lookup returns the value of key in mapping m, or nil.
func Lookup(m *yaml.Node, key string) *yaml.Node {
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

// lookupKey returns the key node and the value node of key in m.
func lookupKey(m *yaml.Node, key string) (k, v *yaml.Node, idx int) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil, -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1], i
		}
	}
	return nil, nil, -1
}

// Offset converts yaml.v3's line and column (1-based, columns in
// characters) to a byte offset.
func (d *Doc) Offset(line, col int) int {
	if line-1 >= len(d.lineStarts) {
		return len(d.src)
	}
	off := d.lineStarts[line-1]
	for i := 1; i < col && off < len(d.src); i++ {
		_, size := utf8.DecodeRune(d.src[off:])
		off += size
	}
	return off
}

// LineStart is the offset of line's first byte.
func (d *Doc) LineStart(line int) int {
	if line-1 >= len(d.lineStarts) {
		return len(d.src)
	}
	return d.lineStarts[line-1]
}

// LineEnd is the offset just past line's line break.
func (d *Doc) LineEnd(line int) int {
	if line < len(d.lineStarts) {
		return d.lineStarts[line]
	}
	return len(d.src)
}

// line returns line's text without its line break.
func (d *Doc) line(line int) string {
	s := string(d.src[d.LineStart(line):d.LineEnd(line)])
	return strings.TrimRight(s, "\r\n")
}

func (d *Doc) lines() int {
	n := len(d.lineStarts)
	if d.lineStarts[n-1] == len(d.src) {
		n-- // the text ends with a line break: no last, empty line
	}
	return n
}

// Replace replaces src[start:end] with text.
func (d *Doc) Replace(start, end int, text string) {
	d.splices = append(d.splices, splice{start, end, text})
}

// Append adds text at the end of the document, after a line break.
func (d *Doc) Append(text string) { d.tail = append(d.tail, text) }

// Bytes renders the document with every edit applied.
func (d *Doc) Bytes() []byte {
	sp := append([]splice(nil), d.splices...)
	sort.SliceStable(sp, func(i, j int) bool { return sp[i].start < sp[j].start })
	var out bytes.Buffer
	at := 0
	for _, s := range sp {
		out.Write(d.src[at:s.start])
		out.WriteString(s.text)
		at = s.end
	}
	out.Write(d.src[at:])
	if len(d.tail) > 0 {
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteString(d.nl)
		}
		for _, t := range d.tail {
			out.WriteString(t)
		}
	}
	return out.Bytes()
}

// Indent is the indentation of the first nested block mapping, so added
// blocks look like their neighbours; 2 by default.
func (d *Doc) Indent() int {
	root := d.root
	for i := 1; i < len(root.Content); i += 2 {
		v := root.Content[i]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
			if n := v.Content[0].Column - root.Content[i-1].Column; n > 0 {
				return n
			}
		}
	}
	return 2
}

// Token returns the byte range of scalar n's token (after any anchor or
// tag, which stay in place) and its quoting style. flow says n sits in a
// flow collection, where ',', ']' and '}' end a plain scalar.
func (d *Doc) Token(n *yaml.Node, flow bool) (start, end int, style Style, err error) {
	if n.Kind != yaml.ScalarNode {
		return 0, 0, 0, fmt.Errorf("%w: the value is a %s, want a plain or quoted string", ErrUnsupported, KindName(n.Kind))
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return 0, 0, 0, fmt.Errorf("%w: the value is a block scalar (| or >); write it on one line", ErrUnsupported)
	}
	src := d.src
	i := d.Offset(n.Line, n.Column)
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
		return start, min(i+1, len(src)), DoubleQuoted, nil
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
		return start, min(i+1, len(src)), SingleQuoted, nil
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
	return start, end, Plain, nil
}

// SetScalar replaces scalar n with value, in n's quoting style (or double
// quotes when the plain form would read back as something else), and keeps
// the column of a comment after it. A value that is already there, as a
// string, is left alone.
func (d *Doc) SetScalar(n *yaml.Node, value string, flow bool) error {
	start, end, style, err := d.Token(n, flow)
	if err != nil {
		return err
	}
	if n.Value == value && n.Tag == "!!str" {
		return nil
	}
	text := FormatScalar(value, style)
	// A comment after the value keeps its column, so comments aligned
	// down a block stay aligned (at least one space remains before it).
	gap := 0
	for end+gap < len(d.src) && d.src[end+gap] == ' ' {
		gap++
	}
	if !flow && gap > 0 && end+gap < len(d.src) && d.src[end+gap] == '#' {
		pad := gap + utf8.RuneCount(d.src[start:end]) - utf8.RuneCountInString(text)
		d.Replace(start, end+gap, text+strings.Repeat(" ", max(pad, 1)))
		return nil
	}
	d.Replace(start, end, text)
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// FormatScalar renders s in the given style, falling back to double quotes
// when a plain scalar would not read back as the same string (1.10 is a
// float, "yes" a bool in YAML 1.1 tools, "" a null).
func FormatScalar(s string, style Style) string {
	switch style {
	case SingleQuoted:
		if !strings.ContainsAny(s, "\n\r") {
			return "'" + strings.ReplaceAll(s, "'", "''") + "'"
		}
	case DoubleQuoted:
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
