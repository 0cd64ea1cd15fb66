package gitops

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// Tree is the remote's newest head, handed to a Change. It is read from
// the object store (nothing is checked out) and its edits are kept in
// memory until Apply commits them. Paths are slash-separated and relative
// to the repository root; a path that leaves the root, or passes through a
// symbolic link or a submodule of the repository, is refused.
type Tree struct {
	repo    *Repo
	scratch *scratch
	mirror  *Mirror
	objects *objectReader
	// head is the commit the attempt starts from, root its tree.
	head, root string
	// edits are this attempt's writes (nil content: removed), by path.
	edits map[string]*edit
}

type edit struct {
	content []byte
	removed bool
}

// ErrOutsideTree is returned for a path that escapes the repository.
var ErrOutsideTree = fault.Invalidf("path leaves the GitOps repository")

// clean checks a path and returns it in the form trees are walked with.
func clean(rel string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(rel)) || strings.Contains(rel, "\\") {
		return "", fmt.Errorf("%w: %q", ErrOutsideTree, rel)
	}
	return path.Clean(rel), nil
}

// lookup finds a path in the tree of a commit (root is its tree's hash).
// ok is false when it does not exist. A symbolic link or submodule on the
// way is refused: its target is not the repository's content (a checkout
// would follow a link out of the repository).
func (t *Tree) lookup(root, p string) (e entry, ok bool, err error) {
	e = entry{mode: modeTree, hash: root}
	if p == "." {
		return e, true, nil
	}
	parts := strings.Split(p, "/")
	for i, name := range parts {
		if !e.isTree() {
			if e.mode == modeSymlink || e.mode == "160000" {
				return entry{}, false, fmt.Errorf("%w: %s is a symbolic link or submodule in the repository", ErrOutsideTree, strings.Join(parts[:i], "/"))
			}
			return entry{}, false, nil // a file where a directory would be
		}
		entries, _, err := t.objects.tree(e.hash)
		if err != nil {
			return entry{}, false, err
		}
		if e, ok = entries[name]; !ok {
			return entry{}, false, nil
		}
	}
	if e.mode == modeSymlink || e.mode == "160000" {
		return entry{}, false, fmt.Errorf("%w: %s is a symbolic link or submodule in the repository", ErrOutsideTree, p)
	}
	return e, true, nil
}

// ReadFile reads a file of the tree; a missing file wraps fs.ErrNotExist.
func (t *Tree) ReadFile(rel string) ([]byte, error) {
	p, err := clean(rel)
	if err != nil {
		return nil, err
	}
	if ed, ok := t.edits[p]; ok {
		if ed.removed {
			return nil, fmt.Errorf("read %s: %w", rel, fs.ErrNotExist)
		}
		return bytes.Clone(ed.content), nil
	}
	return t.blob(t.root, p)
}

// blob reads the file p of the tree root.
func (t *Tree) blob(root, p string) ([]byte, error) {
	e, ok, err := t.lookup(root, p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
	}
	if !e.isFile() {
		return nil, fmt.Errorf("read %s: not a file", p)
	}
	_, b, _, err := t.objects.read(e.hash)
	return b, err
}

// WriteFile writes a file, creating its directories.
func (t *Tree) WriteFile(rel string, b []byte) error {
	p, err := clean(rel)
	if err != nil {
		return err
	}
	if err := t.writable(p); err != nil {
		return err
	}
	t.setEdit(p, &edit{content: bytes.Clone(b)})
	return nil
}

// writable refuses to write where a directory, a symbolic link or a
// submodule is, or below a file.
func (t *Tree) writable(p string) error {
	if p == "." {
		return fmt.Errorf("write %s: is a directory", p)
	}
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if ed, ok := t.edits[dir]; ok && !ed.removed {
			return fmt.Errorf("write %s: %s is a file", p, dir)
		}
	}
	e, ok, err := t.lookup(t.root, p)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if ok && !e.isFile() {
		return fmt.Errorf("write %s: is a directory", p)
	}
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if e, ok, _ := t.lookup(t.root, dir); ok && !e.isTree() {
			return fmt.Errorf("write %s: %s is a file", p, dir)
		}
	}
	return nil
}

func (t *Tree) setEdit(p string, e *edit) {
	if t.edits == nil {
		t.edits = map[string]*edit{}
	}
	t.edits[p] = e
}

// Remove deletes a file; removing a missing file is not an error.
func (t *Tree) Remove(rel string) error {
	p, err := clean(rel)
	if err != nil {
		return err
	}
	if ed, ok := t.edits[p]; ok {
		if !ed.removed {
			t.setEdit(p, &edit{removed: true})
		}
		return nil
	}
	e, ok, err := t.lookup(t.root, p)
	if err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	if !ok {
		return nil
	}
	if !e.isFile() {
		return fmt.Errorf("remove %s: is a directory", rel)
	}
	t.setEdit(p, &edit{removed: true})
	return nil
}

// Exists reports whether a file (or directory) exists in the tree.
func (t *Tree) Exists(rel string) bool {
	p, err := clean(rel)
	if err != nil {
		return false
	}
	if ed, ok := t.edits[p]; ok {
		return !ed.removed
	}
	if _, ok, err := t.lookup(t.root, p); ok && err == nil {
		return true
	}
	for q, ed := range t.edits {
		if !ed.removed && strings.HasPrefix(q, p+"/") {
			return true
		}
	}
	return false
}

// List returns the files and directories directly under dir (names only),
// sorted.
func (t *Tree) List(dir string) ([]string, error) {
	p, err := clean(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	e, ok, err := t.lookup(t.root, p)
	if err != nil {
		return nil, err
	}
	if ok && e.isTree() {
		entries, _, err := t.objects.tree(e.hash)
		if err != nil {
			return nil, err
		}
		for name := range entries {
			names[name] = true
		}
	}
	prefix := p + "/"
	if p == "." {
		prefix = ""
	}
	for q, ed := range t.edits {
		rest, ok := strings.CutPrefix(q, prefix)
		if !ok {
			continue
		}
		if name, _, deeper := strings.Cut(rest, "/"); deeper {
			if !ed.removed {
				names[name] = true
			}
		} else if ed.removed {
			delete(names, name)
		} else {
			names[name] = true
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	return slices.Sorted(maps.Keys(names)), nil
}

// changes returns the edits that differ from the head, sorted by path,
// each with the mode it is written with.
func (t *Tree) changes() ([]change, error) {
	var out []change
	for p, ed := range t.edits {
		e, ok, err := t.lookup(t.root, p)
		if err != nil {
			return nil, err
		}
		switch {
		case ed.removed && !ok:
			continue
		case ed.removed:
			out = append(out, change{path: p, removed: true})
			continue
		}
		mode := modeFile
		if ok && e.isFile() {
			mode = e.mode
			_, old, _, err := t.objects.read(e.hash)
			if err != nil {
				return nil, err
			}
			if bytes.Equal(old, ed.content) {
				continue
			}
		}
		out = append(out, change{path: p, mode: mode, content: ed.content})
	}
	slices.SortFunc(out, func(a, b change) int { return strings.Compare(a.path, b.path) })
	return out, nil
}

type change struct {
	path    string
	mode    string
	content []byte
	removed bool
}

// Revision is a commit that touched a path.
type Revision struct {
	Hash     string
	Time     time.Time
	Subject  string
	Trailers map[string]string
}

const logFormat = "%H%x00%ct%x00%s%x00%(trailers:unfold,only)%x1e"

// Log calls visit for each commit that changed file, newest first, until
// visit returns stop or history ends. The whole history is at hand (the
// scratch repository borrows the mirror's objects and its commit-graph,
// whose changed-path Bloom filters skip most commits), and git's output is
// read as it comes and git stopped as soon as visit is done, so the common
// case — the last change was recent — does not walk the whole history.
func (t *Tree) Log(ctx context.Context, file string, visit func(Revision) (stop bool, err error)) error {
	p, err := clean(file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := t.repo.c.runner(t.scratch.dir, -1)
	cmd, done := g.Command(ctx, "log", "--format="+logFormat, t.head, "--", p)
	defer done()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("history of %s: %w", file, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("history of %s: %w", file, err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sc.Split(splitRecords)
	stopped := false
	var verr error
	for sc.Scan() {
		rec := strings.TrimLeft(sc.Text(), "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\x00", 4)
		if len(f) < 4 {
			continue
		}
		sec, _ := strconv.ParseInt(f[1], 10, 64)
		var stop bool
		stop, verr = visit(Revision{Hash: f[0], Time: time.Unix(sec, 0).UTC(), Subject: f[2], Trailers: parseTrailers(f[3])})
		if verr != nil || stop {
			stopped = true
			break
		}
	}
	if stopped {
		cancel()
		_ = cmd.Wait()
		return verr
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("history of %s: %w: %s", file, err, t.repo.c.scrub(strings.TrimSpace(stderr.String())))
	}
	return sc.Err()
}

// splitRecords splits git log output at the record separator (0x1e).
func splitRecords(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0x1e); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// Show returns file as it was at revision rev.
func (t *Tree) Show(ctx context.Context, rev, file string) ([]byte, error) {
	p, err := clean(file)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("read %s at %s: not a revision", file, rev)
	}
	_, root, err := t.objects.tree(rev + "^{tree}")
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", file, rev, err)
	}
	b, err := t.blob(root, p)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", file, rev, err)
	}
	return b, nil
}

// findChange returns the newest commit of the branch whose Change-Id
// trailer is id.
func (t *Tree) findChange(ctx context.Context, id string) (Revision, bool, error) {
	if !changeIDRE.MatchString(id) {
		return Revision{}, false, fault.Inputf("ChangeID", "change id %q: use 1 to 128 letters, digits, '.', '_' or '-'", id)
	}
	out, err := t.repo.git(ctx, t.scratch.dir, nil, "log", "-F", "--grep=Change-Id: "+id, "--format="+logFormat, t.head)
	if err != nil {
		return Revision{}, false, fmt.Errorf("look for change %s: %w", id, err)
	}
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.SplitN(strings.TrimLeft(rec, "\n"), "\x00", 4)
		if len(f) < 4 {
			continue
		}
		tr := parseTrailers(f[3])
		if tr["Change-Id"] == id {
			sec, _ := strconv.ParseInt(f[1], 10, 64)
			return Revision{Hash: f[0], Time: time.Unix(sec, 0).UTC(), Subject: f[2], Trailers: tr}, true, nil
		}
	}
	return Revision{}, false, nil
}

// Mentions reports whether a commit of file's history, from the head,
// added or removed a line that matches the regular expression re (git log
// -G): one git process that says whether a setting was ever written,
// before a caller reads every version of the file.
func (t *Tree) Mentions(ctx context.Context, file, re string) (bool, error) {
	p, err := clean(file)
	if err != nil {
		return false, err
	}
	out, err := t.repo.git(ctx, t.scratch.dir, nil, "log", "-1", "--format=%H", "-G"+re, t.head, "--", p)
	if err != nil {
		return false, fmt.Errorf("history of %s: %w", file, err)
	}
	return strings.TrimSpace(out) != "", nil
}

var changeIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Resolve returns the full hash of a revision of the GitOps repository.
func (t *Tree) Resolve(ctx context.Context, rev string) (string, error) {
	out, err := t.repo.git(ctx, t.scratch.dir, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	return strings.TrimSpace(out), err
}

func parseTrailers(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}
