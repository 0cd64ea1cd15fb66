package yamledit

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// AppendItem adds item at the end of the list under the top-level key, as
// text:
//   - a block list gets the item after its last line (before the comments and
//     blank lines that lead to the next key), indented like its siblings;
//   - an empty list ("key:", "key: []", "key: ~", "key: null") becomes a
//     block list under the key, whose comment stays;
//   - a flow list with items ("key: [a, b]") gets ", item" in flow style
//     before its closing bracket;
//   - a missing key is appended at the end of the document.
//
// Block items are rendered by yaml.v3 with two-space indentation, lists of
// scalars inside them in flow style ([a, b]).
func (d *Doc) AppendItem(key string, item *yaml.Node) error {
	root := d.root
	if root.Style&yaml.FlowStyle != 0 {
		return fmt.Errorf("%w: the document is one flow mapping ({...}); write it in block style", ErrUnsupported)
	}
	k, val, idx := lookupKey(root, key)
	switch {
	case k == nil:
		dash := 2
		if len(root.Content) > 0 {
			dash = root.Content[0].Column - 1 + 2
		}
		text, err := d.blockItem(item, dash)
		if err != nil {
			return err
		}
		d.Append(strings.Repeat(" ", max(dash-2, 0)) + key + ":" + d.nl + text)
		return nil
	case isEmpty(val):
		return d.fillEmpty(k, val, item)
	case val.Kind != yaml.SequenceNode:
		return fmt.Errorf("%w: %s (line %d) is a %s; it must be a list", ErrUnsupported, key, val.Line, KindName(val.Kind))
	case val.Style&yaml.FlowStyle != 0:
		start := d.Offset(val.Line, val.Column)
		closeAt, err := d.flowEnd(start)
		if err != nil {
			return err
		}
		text, err := flowText(item)
		if err != nil {
			return err
		}
		at := closeAt
		for at > start && isSpace(d.src[at-1]) {
			at--
		}
		sep := ", "
		if d.src[at-1] == ',' {
			sep = " "
		}
		d.Replace(at, at, sep+text)
		return nil
	}
	dash := max(val.Column-1, 0) // a block list's column is its first "-"
	text, err := d.blockItem(item, dash)
	if err != nil {
		return err
	}
	last := d.seqEndLine(idx, dash)
	at := d.LineEnd(last)
	if at == len(d.src) && len(d.src) > 0 && d.src[len(d.src)-1] != '\n' {
		text = d.nl + text
	}
	d.Replace(at, at, text)
	return nil
}

// RemoveItem removes item i of the list under the top-level key. In a block
// list the item's lines go, with the comment lines right above it at its
// dash's indentation; a list left empty becomes "key: []". In a flow list
// the item's text goes with one separating comma.
func (d *Doc) RemoveItem(key string, i int) error {
	k, val, idx := lookupKey(d.root, key)
	if val == nil || val.Kind != yaml.SequenceNode {
		return fmt.Errorf("%w: %s is not a list", ErrUnsupported, key)
	}
	if i < 0 || i >= len(val.Content) {
		return fmt.Errorf("remove %s[%d]: the list has %d items", key, i, len(val.Content))
	}
	if val.Style&yaml.FlowStyle != 0 {
		return d.removeFlowItem(val, i)
	}
	dash := max(val.Column-1, 0)
	first := d.itemStartLine(val, i, k.Line, dash)
	last := d.seqEndLine(idx, dash)
	if i+1 < len(val.Content) {
		last = d.itemStartLine(val, i+1, k.Line, dash) - 1
	}
	d.Replace(d.LineStart(first), d.LineEnd(last), "")
	if len(val.Content) == 1 {
		kStart, kEnd, style, err := d.Token(k, false)
		if err != nil {
			return err
		}
		if style == Plain {
			kEnd = kStart + len(k.Value) // a plain key's token runs to the line's end
		}
		colon := bytes.IndexByte(d.src[kEnd:d.LineEnd(k.Line)], ':')
		if colon < 0 {
			return fmt.Errorf("%w: no ':' after the key %s", ErrUnsupported, key)
		}
		at := kEnd + colon + 1
		d.Replace(at, at, " []")
	}
	return nil
}

// fillEmpty turns "key:", "key: []", "key: ~" or "key: null" into a block
// list holding item, keeping the key line's comment.
func (d *Doc) fillEmpty(k, val, item *yaml.Node) error {
	line := d.line(k.Line)
	if val.Line == k.Line && val.Column > 0 {
		start := d.Offset(val.Line, val.Column) - d.LineStart(k.Line)
		end := start + len(val.Value)
		if val.Kind == yaml.SequenceNode {
			closeAt := strings.IndexByte(line[min(start, len(line)):], ']')
			if closeAt < 0 {
				return fmt.Errorf("%w: %s: an empty flow list over several lines", ErrUnsupported, k.Value)
			}
			end = start + closeAt + 1
		}
		if start > len(line) || end > len(line) || end < start {
			return fmt.Errorf("%w: could not locate the value of %s", ErrUnsupported, k.Value)
		}
		line = line[:start] + line[end:]
	}
	if !strings.Contains(line, "#") {
		line = strings.TrimRight(line, " \t")
	}
	text, err := d.blockItem(item, k.Column-1+2)
	if err != nil {
		return err
	}
	d.Replace(d.LineStart(k.Line), d.LineEnd(k.Line), line+d.nl+text)
	return nil
}

func isEmpty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.SequenceNode:
		return len(n.Content) == 0
	case yaml.ScalarNode:
		return n.Tag == "!!null"
	}
	return false
}

// seqEndLine is the last line of the block list under root key idx: the
// line before the next key, less the blank lines and the comments not
// indented deeper than the dashes (those lead to the next key).
func (d *Doc) seqEndLine(idx, dash int) int {
	root := d.root
	keyLine := root.Content[idx].Line
	end := d.lines()
	if idx+2 < len(root.Content) {
		end = root.Content[idx+2].Line - 1
	}
	for end > keyLine {
		l := d.line(end)
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") && indentOf(l) <= dash {
			end--
			continue
		}
		break
	}
	return end
}

// itemStartLine is the first line of block list item i: the line of its
// dash, or of the comment lines right above it at the dash's indentation.
func (d *Doc) itemStartLine(val *yaml.Node, i, keyLine, dash int) int {
	l := val.Content[i].Line
	for l > keyLine+1 && !strings.HasPrefix(strings.TrimSpace(d.line(l)), "-") {
		l-- // "-" alone on its line, the item below it
	}
	for l-1 > keyLine {
		p := d.line(l - 1)
		if !strings.HasPrefix(strings.TrimSpace(p), "#") || indentOf(p) != dash {
			break
		}
		l--
	}
	return l
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " \t")) }

// blockItem renders item as a block list item whose dash is at column dash.
func (d *Doc) blockItem(item *yaml.Node, dash int) (string, error) {
	n := flowScalarLists(item)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", fmt.Errorf("encode list item: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encode list item: %w", err)
	}
	pad := strings.Repeat(" ", dash)
	var out strings.Builder
	for j, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if j == 0 {
			out.WriteString(pad + "- " + l + d.nl)
		} else {
			out.WriteString(pad + "  " + l + d.nl)
		}
	}
	return out.String(), nil
}

// flowScalarLists returns a copy of n in which lists of scalars are in flow
// style, as people write them in these files (environments: [prod]).
func flowScalarLists(n *yaml.Node) *yaml.Node {
	cp := *n
	if n.Kind == yaml.SequenceNode {
		scalars := true
		for _, c := range n.Content {
			scalars = scalars && c.Kind == yaml.ScalarNode
		}
		if scalars && len(n.Content) > 0 {
			cp.Style |= yaml.FlowStyle
		}
	}
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		cp.Content[i] = flowScalarLists(c)
	}
	return &cp
}

// flowText renders n on one line in flow style.
func flowText(n *yaml.Node) (string, error) {
	cp := *n
	cp.Style |= yaml.FlowStyle
	b, err := yaml.Marshal(&cp)
	if err != nil {
		return "", fmt.Errorf("encode list item: %w", err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if strings.Contains(s, "\n") {
		return "", fmt.Errorf("%w: the item does not fit on one line of a flow list", ErrUnsupported)
	}
	return s, nil
}

// flowEnd returns the offset of the bracket that closes the flow collection
// opening at start, skipping quoted scalars and comments.
func (d *Doc) flowEnd(start int) (int, error) {
	src := d.src
	depth := 0
	for i := start; i < len(src); i++ {
		switch c := src[i]; c {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i, nil
			}
		case '"':
			if !tokenStart(src, start, i) {
				continue
			}
			for i++; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' {
					i++
				}
			}
		case '\'':
			if !tokenStart(src, start, i) {
				continue
			}
			for i++; i < len(src); i++ {
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case '#':
			if i > start && isSpace(src[i-1]) {
				for i < len(src) && src[i] != '\n' {
					i++
				}
			}
		}
	}
	return 0, fmt.Errorf("%w: unterminated flow collection", ErrUnsupported)
}

// tokenStart reports whether src[i] begins a token of a flow collection (a
// quote there opens a quoted scalar; inside a plain scalar it is a letter).
func tokenStart(src []byte, start, i int) bool {
	for j := i - 1; j >= start; j-- {
		if !isSpace(src[j]) {
			return strings.IndexByte("[{,:", src[j]) >= 0
		}
	}
	return true
}

// removeFlowItem cuts item i of a flow list: from its start to the next
// item's start, or for the last item from the end of the one before.
func (d *Doc) removeFlowItem(val *yaml.Node, i int) error {
	if len(val.Content) == 1 {
		start := d.Offset(val.Line, val.Column)
		closeAt, err := d.flowEnd(start)
		if err != nil {
			return err
		}
		d.Replace(start, closeAt+1, "[]")
		return nil
	}
	if i+1 < len(val.Content) {
		next := val.Content[i+1]
		d.Replace(d.Offset(val.Content[i].Line, val.Content[i].Column), d.Offset(next.Line, next.Column), "")
		return nil
	}
	_, prevEnd, err := d.flowItem(val.Content[i-1])
	if err != nil {
		return err
	}
	_, end, err := d.flowItem(val.Content[i])
	if err != nil {
		return err
	}
	d.Replace(prevEnd, end, "")
	return nil
}

// flowItem returns the byte range of an item of a flow list.
func (d *Doc) flowItem(n *yaml.Node) (start, end int, err error) {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		start = d.Offset(n.Line, n.Column)
		if n.Anchor != "" || n.Tag != "" && d.src[start] != '{' && d.src[start] != '[' {
			return 0, 0, fmt.Errorf("%w: a flow list item with an anchor or tag", ErrUnsupported)
		}
		closeAt, err := d.flowEnd(start)
		return start, closeAt + 1, err
	case yaml.ScalarNode:
		start, end, _, err = d.Token(n, true)
		return start, end, err
	}
	return 0, 0, fmt.Errorf("%w: a flow list item that is a %s", ErrUnsupported, KindName(n.Kind))
}
