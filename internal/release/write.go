package release

import (
	"crypto/rand"
	"encoding/hex"
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
	// Every file operation goes through an os.Root of the work tree: a
	// symbolic link committed in the service repository (CHANGELOG.md, or
	// a directory on its way) that leads out of it is refused, never
	// followed.
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return "", fmt.Errorf("open the work tree %s: %w", o.Dir, err)
	}
	defer root.Close()
	p := filepath.FromSlash(rel)
	src, err := root.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fault.Refusedf("read %s: %w (a link out of the work tree is not followed)", rel, err)
	}
	out, err := InsertSection(src, cl, o.TagPrefix)
	if err != nil {
		return "", fmt.Errorf("%s: %w", rel, err)
	}
	if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fault.Refusedf("write %s: %w", rel, err)
	}
	// Replaced atomically: written next to it, then renamed over it. The
	// changelog keeps its own mode.
	mode := fs.FileMode(0o644)
	if st, err := root.Stat(p); err == nil {
		mode = st.Mode().Perm()
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(p), ".changelog-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return "", fault.Refusedf("write %s: %w", rel, err)
	}
	defer root.Remove(tmp) //nolint:errcheck // gone after the rename; cleanup after a failure
	if _, err := f.Write(out); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, errors.Join(err, f.Close()))
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", rel, err)
	}
	if err := root.Chmod(tmp, mode); err != nil { // the umask applied at creation
		return "", fmt.Errorf("write %s: %w", rel, err)
	}
	if err := root.Rename(tmp, p); err != nil {
		return "", fault.Refusedf("write %s: %w", rel, err)
	}
	return rel, nil
}
