package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/smp/delivery/internal/fault"
)

// ErrSectionExists is returned when the changelog already has a section for
// the version being written: it is never overwritten, because people edit
// the generated text in the release PR.
var ErrSectionExists = fault.Refusedf("CHANGELOG section exists")

// changelogHeader starts a new CHANGELOG.md.
const changelogHeader = "# Changelog\n\n" +
	"All notable changes are documented here, in the format of\n" +
	"[Keep a Changelog](https://keepachangelog.com/en/1.1.0/); versions follow\n" +
	"[Semantic Versioning](https://semver.org/spec/v2.0.0.html).\n\n"

// InsertSection puts a version's section into a changelog: above the newest
// version's section, below the title and any "Unreleased" section, as Keep
// a Changelog orders them. An empty src starts a new changelog.
func InsertSection(src []byte, cl Changelog, prefix string) ([]byte, error) {
	section := strings.TrimRight(cl.Markdown, "\n") + "\n"
	if len(strings.TrimSpace(string(src))) == 0 {
		return []byte(changelogHeader + section), nil
	}
	at := -1
	for _, h := range headings(src, prefix) {
		if h.version == cl.Version {
			return nil, fmt.Errorf("%w: line %d already has %q; edit it by hand, or delete it to regenerate", ErrSectionExists, h.Line, h.Heading)
		}
		if at < 0 && !strings.EqualFold(strings.Trim(h.version, "[]"), "unreleased") {
			at = h.offset
		}
	}
	var out []byte
	if at < 0 {
		out = []byte(strings.TrimRight(string(src), "\n") + "\n\n" + section)
	} else {
		out = []byte(string(src[:at]) + section + "\n" + string(src[at:]))
	}
	// Markdown can swallow what is appended (an unclosed code block or HTML
	// block at the end): make sure the section reads as one.
	for _, h := range headings(out, prefix) {
		if h.version == cl.Version {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: the section for %s would not read as a heading where it goes (an unclosed code block or HTML block?); fix the file's Markdown", ErrUnplaceable, cl.Version)
}

// ErrUnplaceable is returned when a changelog's Markdown would hide an
// inserted section.
var ErrUnplaceable = fault.Refusedf("cannot place CHANGELOG section")

// WriteChangelog inserts cl into the changelog file in the work tree
// (CHANGELOG.md, or file, as in Check) and returns the path written. The
// file is replaced atomically, so a failure leaves it as it was.
func WriteChangelog(o Options, file string, cl Changelog) (string, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return "", err
	}
	rel := changelogFile(o, file)
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "../") || rel == ".." {
		return "", fault.Inputf("Changelog", "%w: changelog %q: give a file relative to the repository root", ErrInvalidOption, file)
	}
	p := filepath.Join(o.Dir, filepath.FromSlash(rel))
	src, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	out, err := InsertSection(src, cl, o.TagPrefix)
	if err != nil {
		return "", fmt.Errorf("%s: %w", rel, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".changelog-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		return "", fmt.Errorf("write %s: %w", p, errors.Join(err, tmp.Close()))
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	// CreateTemp makes the file private; keep the changelog's own mode.
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(p); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return rel, nil
}
