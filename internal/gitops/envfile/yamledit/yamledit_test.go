package yamledit

import (
	"errors"
	"testing"

	"gopkg.in/yaml.v3"
)

func item(name string) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "name"}, {Kind: yaml.ScalarNode, Value: name},
	}}
}

// The list edits on the shapes the golden files of envfile and delivery do
// not cover; the goldens are the main test of this package.
func TestListEdits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		edit           func(*Doc) error
	}{
		{"append to an empty document", "", "items:\n  - name: b\n",
			func(d *Doc) error { return d.AppendItem("items", item("b")) }},
		{"append to a list at the key's indentation", "items:\n- name: a\nnext: 1\n", "items:\n- name: a\n- name: b\nnext: 1\n",
			func(d *Doc) error { return d.AppendItem("items", item("b")) }},
		{"append to a file without a final newline", "items:\n  - name: a", "items:\n  - name: a\n  - name: b\n",
			func(d *Doc) error { return d.AppendItem("items", item("b")) }},
		{"append after a flow list's trailing comma", "items: [a, ]\n", "items: [a, {name: b} ]\n",
			func(d *Doc) error { return d.AppendItem("items", item("b")) }},
		{"remove an item whose dash is alone on its line", "items:\n  -\n    name: a\n  - name: b\n", "items:\n  - name: b\n",
			func(d *Doc) error { return d.RemoveItem("items", 0) }},
		{"remove the only item of a commented key", "items:   # the list\n  - name: a\nnext: 1\n", "items: []   # the list\nnext: 1\n",
			func(d *Doc) error { return d.RemoveItem("items", 0) }},
		{"remove the first of a flow list", "items: [{name: a}, 'b, c']  # x\n", "items: ['b, c']  # x\n",
			func(d *Doc) error { return d.RemoveItem("items", 0) }},
		{"remove the last of a flow list", "items: [a, \"b]\"]\n", "items: [a]\n",
			func(d *Doc) error { return d.RemoveItem("items", 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.edit(d); err != nil {
				t.Fatal(err)
			}
			if got := string(d.Bytes()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestListEditsRefuseWhatIsNotAList(t *testing.T) {
	t.Parallel()
	d, err := Parse([]byte("items: {a: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AppendItem("items", item("x")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("AppendItem = %v", err)
	}
	if err := d.RemoveItem("items", 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("RemoveItem = %v", err)
	}
	if _, err := Parse([]byte("- a\n")); !errors.Is(err, ErrNotYAML) {
		t.Errorf("Parse(list) = %v", err)
	}
}
