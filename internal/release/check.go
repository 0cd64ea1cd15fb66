package release

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"

	"github.com/smp/delivery/internal/semver"
)

// DefaultChangelog is the changelog's file name at the root of the
// repository, or of the service directory with Options.Path.
const DefaultChangelog = "CHANGELOG.md"

// CheckResult is a CHANGELOG section found for a version.
type CheckResult struct {
	Version string `json:"version"`
	File    string `json:"file"`
	Commit  string `json:"commit"`
	Heading string `json:"heading"`
	Line    int    `json:"line"`
}

// changelogFile is where the changelog lives: file when given (relative to
// the repository root), else CHANGELOG.md in Options.Path or at the root.
func changelogFile(o Options, file string) string {
	if file != "" {
		return path.Clean(file)
	}
	if o.Path != "" {
		return path.Join(o.Path, DefaultChangelog)
	}
	return DefaultChangelog
}

// Check verifies that the changelog committed at HEAD has a non-empty
// section for version. A release candidate vX.Y.Z-rc.N is satisfied by a
// section for X.Y.Z-rc.N or for X.Y.Z: the release PR that adds
// "## [X.Y.Z]" is merged before its first rc is tagged. The committed file
// is read, not the work tree, because that is what the tag will point at;
// HEAD may be detached (CD checks tags out that way) or shallow.
func Check(ctx context.Context, o Options, version, file string) (CheckResult, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return CheckResult{}, err
	}
	t, err := ParseVersion(version, o.TagPrefix, true)
	if err != nil {
		return CheckResult{}, err
	}
	r := newRepo(o)
	st, err := r.state(ctx, true, true)
	if err != nil {
		return CheckResult{}, err
	}
	return r.checkChangelog(ctx, o, t, st.Head, changelogFile(o, file), "")
}

// checkChangelog is the changelog rule, shared by Check and Tag: the file
// committed at head has a non-empty section for t. noFileHint adds a way
// out when the file is missing (Tag's: skip the check).
func (r *repo) checkChangelog(ctx context.Context, o Options, t semver.Tag, head, file, noFileHint string) (CheckResult, error) {
	res := CheckResult{Version: t.Version.String(), File: file, Commit: head}
	src, ok, err := r.show(ctx, head, file)
	if err != nil {
		return res, fmt.Errorf("read %s at %s: %w", file, short(head), err)
	}
	if !ok {
		return res, fmt.Errorf("%w: %s does not exist at HEAD (%s); add it in the release PR (`smpctl release changelog` writes the section)%s", ErrNoSection, file, short(head), noFileHint)
	}
	s, found := FindSection(src, t, o.TagPrefix)
	if !found {
		want := "## [" + t.Version.String() + "]"
		if t.Kind == semver.RC {
			want += " or ## [" + t.Version.Core().String() + "]"
		}
		return res, fmt.Errorf("%w: %s at HEAD (%s) has no section for %s; add %s in the release PR (`smpctl release changelog --version %s` writes one)", ErrNoSection, file, short(head), t, want, t)
	}
	res.Heading, res.Line = s.Heading, s.Line
	if s.Empty {
		return res, fmt.Errorf("%w: %s:%d: the section %q for %s is empty; list the changes under it", ErrNoSection, file, s.Line, s.Heading, t)
	}
	return res, nil
}

// FoundSection is a level-2 heading of a changelog that names a version.
type FoundSection struct {
	Heading string
	Line    int
	Empty   bool // no content before the next level-1 or level-2 heading
}

// FindSection looks for the level-2 heading of tag's version in a Markdown
// changelog: "## [1.2.3] - 2026-11-25", "## 1.2.3", "## [v1.2.3](link)",
// "## [order-svc/v1.2.3]". For an rc it also accepts the release's own
// heading. Headings inside code blocks, lists or quotes do not count.
func FindSection(src []byte, tag semver.Tag, prefix string) (FoundSection, bool) {
	want := []string{tag.Version.String()}
	if tag.Kind == semver.RC {
		want = append(want, tag.Version.Core().String())
	}
	for _, h := range headings(src, prefix) {
		if slices.Contains(want, h.version) {
			return h.FoundSection, true
		}
	}
	return FoundSection{}, false
}

// heading is a top-level level-2 heading of a changelog.
type heading struct {
	FoundSection
	version string // the version it names, or its first word
	offset  int    // byte offset of the line the heading starts on
}

func headings(src []byte, prefix string) []heading {
	var hs []heading
	doc := goldmark.New().Parser().Parse(text.NewReader(src))
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		h, ok := n.(*ast.Heading)
		if !ok || h.Level != 2 || h.Lines().Len() == 0 {
			continue
		}
		seg := h.Lines().At(0)
		raw := strings.TrimSpace(string(seg.Value(src)))
		found := heading{
			FoundSection: FoundSection{Heading: raw, Line: bytes.Count(src[:seg.Start], []byte("\n")) + 1, Empty: true},
			version:      headingVersion(raw, prefix),
			offset:       bytes.LastIndexByte(src[:seg.Start], '\n') + 1,
		}
		for next := n.NextSibling(); next != nil; next = next.NextSibling() {
			if nh, ok := next.(*ast.Heading); ok {
				if nh.Level <= 2 {
					break
				}
				continue
			}
			found.Empty = false
			break
		}
		hs = append(hs, found)
	}
	return hs
}

// headingVersion extracts the version a heading names: its first word,
// without brackets, a link target, the tag prefix or a leading "v".
func headingVersion(raw, prefix string) string {
	tok := strings.TrimPrefix(raw, "[")
	if i := strings.IndexAny(tok, "] \t("); i >= 0 {
		tok = tok[:i]
	}
	if prefix != "" {
		tok = strings.TrimPrefix(tok, prefix)
	}
	return strings.TrimPrefix(tok, "v")
}
