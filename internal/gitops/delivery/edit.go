package delivery

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/gitops/envfile/yamledit"

	"github.com/smp/delivery/internal/fault"
)

// ErrUnsupported means delivery.yaml is written in a way the text editor
// will not change (a list that is not a list, a document in flow style, an
// edit that would not read back as intended); nothing is written.
var ErrUnsupported = yamledit.ErrUnsupported

// AddService returns delivery.yaml src with s appended to services. The
// edit is made as text (package yamledit): every comment, blank line, key
// order, quoting style and line ending of the file stays.
func AddService(src []byte, s Service) ([]byte, error) {
	item := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k, v string, tag string) {
		item.Content = append(item.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Value: v, Tag: tag})
	}
	add("name", s.Name, "!!str")
	if s.Image != "" {
		add("image", s.Image, "!!str")
	}
	if s.Critical {
		add("critical", "true", "!!bool")
	}
	if s.TagPrefix != "" {
		add("tagPrefix", s.TagPrefix, "!!str")
	}
	if s.Repository != "" {
		add("repository", s.Repository, "!!str")
	}
	return edit(src, "add service "+s.Name, func(c *Config) { c.Services = append(c.Services, s) },
		func(d *yamledit.Doc, _ *Config) error { return d.AppendItem("services", item) })
}

// AddFreeze returns delivery.yaml src with f appended to freezes, as text.
func AddFreeze(src []byte, f Freeze) ([]byte, error) {
	var item yaml.Node
	if err := item.Encode(f); err != nil {
		return nil, fmt.Errorf("encode freeze %s: %w", f.Name, err)
	}
	return edit(src, "add freeze "+f.Name, func(c *Config) { c.Freezes = append(c.Freezes, f) },
		func(d *yamledit.Doc, _ *Config) error { return d.AppendItem("freezes", &item) })
}

// ErrNoFreeze means RemoveFreeze found no freeze of that name.
var ErrNoFreeze = fault.Invalidf("no such freeze")

// RemoveFreeze returns delivery.yaml src without the freeze called name,
// as text: the freeze's lines (and the comment lines right above it) go,
// every other byte stays.
func RemoveFreeze(src []byte, name string) ([]byte, error) {
	at := -1
	return edit(src, "remove freeze "+name, func(c *Config) {
		c.Freezes = append(c.Freezes[:at:at], c.Freezes[at+1:]...)
	}, func(d *yamledit.Doc, c *Config) error {
		names := make([]string, len(c.Freezes))
		for i, f := range c.Freezes {
			names[i] = f.Name
			if f.Name == name && at < 0 {
				at = i
			}
		}
		if at < 0 {
			if len(names) == 0 {
				names = []string{"none"}
			}
			return fmt.Errorf("%w: no freeze named %q in %s (freezes: %s)", ErrNoFreeze, name, FileName, strings.Join(names, ", "))
		}
		return d.RemoveItem("freezes", at)
	})
}

// edit parses src, refuses a newer format, applies the text edit, and
// checks that the result parses to exactly the old config changed by want:
// an edit that reads back as anything else is refused, not written.
func edit(src []byte, what string, want func(*Config), text func(*yamledit.Doc, *Config) error) ([]byte, error) {
	before, err := Parse(src)
	if err != nil {
		return nil, err
	}
	if err := before.CheckWritable(); err != nil {
		return nil, err
	}
	d, err := yamledit.Parse(src)
	if err != nil {
		return nil, err
	}
	if err := text(d, before); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := d.Bytes()
	after, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: the edited file would not be valid (%w); edit %s by hand", what, ErrUnsupported, err, FileName)
	}
	want(before)
	a, _ := json.Marshal(before)
	b, _ := json.Marshal(after)
	if string(a) != string(b) {
		return nil, fmt.Errorf("%s: %w: the edited file would read back differently from the intended change; edit %s by hand", what, ErrUnsupported, FileName)
	}
	return out, nil
}
