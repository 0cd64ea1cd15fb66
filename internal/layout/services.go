package layout

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/delivery"
)

// AppendService adds s to the services list of a delivery.yaml, as text: the
// new item is inserted after the last line of the list, indented like its
// siblings, so every comment, blank line, key order, quoting style and line
// ending of the file stays as it was. yaml.v3 is used only to find where the
// list is. A list written in flow style with items ([a, b]) cannot be
// extended as text; then the file is re-encoded from its yaml.v3 node tree,
// which keeps comments and key order but loses blank lines, re-indents to
// two spaces and may move a comment to a neighbouring line.
func AppendService(src []byte, s delivery.Service) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse: the top level is not a mapping")
	}
	root := doc.Content[0]
	nl := "\n"
	if bytes.Contains(src, []byte("\r\n")) {
		nl = "\r\n"
	}
	lines := strings.SplitAfter(string(src), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	item := func(dash int) string {
		pad := strings.Repeat(" ", dash)
		var b strings.Builder
		fmt.Fprintf(&b, "%s- name: %s%s", pad, s.Name, nl)
		if s.Image != "" {
			fmt.Fprintf(&b, "%s  image: %s%s", pad, s.Image, nl)
		}
		if s.Critical {
			fmt.Fprintf(&b, "%s  critical: true%s", pad, nl)
		}
		if s.TagPrefix != "" {
			fmt.Fprintf(&b, "%s  tagPrefix: %q%s", pad, s.TagPrefix, nl)
		}
		return b.String()
	}

	var out string
	keyIdx := -1
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "services" {
			keyIdx = i
		}
	}
	switch {
	case root.Style&yaml.FlowStyle != 0 || len(root.Content) == 0:
		// {…} on one line: no place to add lines.
		return reencode(&doc, root, keyIdx, s)
	case keyIdx < 0:
		// No list yet: append one at the end of the file.
		body := strings.Join(lines, "")
		if body != "" && !strings.HasSuffix(body, "\n") {
			body += nl
		}
		out = body + "services:" + nl + item(root.Content[0].Column+1)
	default:
		key, val := root.Content[keyIdx], root.Content[keyIdx+1]
		indent := key.Column - 1 + 2
		switch {
		case val.Kind == yaml.SequenceNode && val.Style&yaml.FlowStyle == 0 && len(val.Content) > 0:
			indent = max(val.Column-1, 0) // the sequence starts at its first "-"
			end := len(lines)             // insert after this many lines
			if keyIdx+2 < len(root.Content) {
				end = root.Content[keyIdx+2].Line - 1
			}
			// Comments and blank lines just before the next key belong to it.
			for end > key.Line {
				t := strings.TrimSpace(lines[end-1])
				if t != "" && !strings.HasPrefix(t, "#") {
					break
				}
				end--
			}
			out = strings.Join(lines[:end], "") + ensureNL(lines, end, nl) + item(indent) + strings.Join(lines[end:], "")
		case isEmptyValue(val) && (val.Line == key.Line || val.Kind == yaml.ScalarNode):
			// "services:", "services: []", "services: ~": rewrite the key's
			// line, keeping its comment, and put the list under it.
			line := trimCR(strings.TrimRight(lines[key.Line-1], "\n"))
			if val.Line == key.Line && val.Column > 0 {
				// Cut exactly the value ("[]", "~", "null"), keep the rest.
				start := val.Column - 1
				end := start + len(val.Value)
				if val.Kind == yaml.SequenceNode {
					end = start + strings.IndexByte(line[start:], ']') + 1
				}
				if start <= len(line) && end <= len(line) && end >= start {
					line = line[:start] + line[end:]
				}
			}
			if !strings.Contains(line, "#") {
				line = strings.TrimRight(line, " \t")
			}
			out = strings.Join(lines[:key.Line-1], "") + line + nl + item(indent) + strings.Join(lines[key.Line:], "")
		default:
			return reencode(&doc, root, keyIdx, s)
		}
	}
	return verify([]byte(out), s)
}

// verify re-reads the edited file: an edit that does not parse, or does not
// list the service, is refused rather than written.
func verify(out []byte, s delivery.Service) ([]byte, error) {
	cfg, err := delivery.Parse(out)
	if err != nil {
		return nil, fmt.Errorf("add service %s: the edited file does not parse (%w); add it by hand", s.Name, err)
	}
	if _, ok := cfg.Service(s.Name); !ok {
		return nil, fmt.Errorf("add service %s: the edit did not take; add it by hand", s.Name)
	}
	return out, nil
}

func ensureNL(lines []string, end int, nl string) string {
	if end > 0 && !strings.HasSuffix(lines[end-1], "\n") {
		return nl
	}
	return ""
}

func isEmptyValue(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.SequenceNode:
		return len(n.Content) == 0
	case yaml.ScalarNode:
		return n.Tag == "!!null"
	}
	return false
}

// reencode is the fallback for a file AppendService cannot extend as text.
func reencode(doc, root *yaml.Node, keyIdx int, s delivery.Service) ([]byte, error) {
	if keyIdx < 0 {
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "services"},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"})
		keyIdx = len(root.Content) - 2
	}
	list := root.Content[keyIdx+1]
	if isEmptyValue(list) && list.Kind == yaml.ScalarNode {
		*list = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("services is not a list (line %d): make it a list of {name, image, critical}", list.Line)
	}
	var item yaml.Node
	if err := item.Encode(s); err != nil {
		return nil, fmt.Errorf("encode service: %w", err)
	}
	list.Content = append(list.Content, &item)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode delivery config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode delivery config: %w", err)
	}
	return verify(b.Bytes(), s)
}
