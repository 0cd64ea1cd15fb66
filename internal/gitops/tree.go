package gitops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// Tree is a checkout of the remote's newest head, handed to a Change.
// Paths are slash-separated and relative to the repository root; a path
// that leaves the root is refused.
type Tree struct {
	dir    string
	repo   *Repo
	mirror *Mirror
	// touched are the paths written or removed in this attempt; created
	// those of them that did not exist before.
	touched, created map[string]bool
}

// head returns the checkout's HEAD commit, reading the loose ref a commit
// just wrote rather than spawning git when it can.
func (t *Tree) head(ctx context.Context) (string, error) {
	if b, err := os.ReadFile(filepath.Join(t.dir, ".git", "HEAD")); err == nil {
		if ref, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "ref: "); ok && filepath.IsLocal(ref) {
			// #nosec G703 -- ref is checked with filepath.IsLocal above
			if h, err := os.ReadFile(filepath.Join(t.dir, ".git", filepath.FromSlash(ref))); err == nil {
				if s := strings.TrimSpace(string(h)); len(s) == 40 {
					return s, nil
				}
			}
		}
	}
	out, err := t.repo.git(ctx, t.dir, nil, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

func (t *Tree) touch(rel string) {
	if t.touched == nil {
		t.touched = map[string]bool{}
	}
	t.touched[rel] = true
}

// ErrOutsideTree is returned for a path that escapes the repository.
var ErrOutsideTree = fault.Invalidf("path leaves the GitOps repository")

func (t *Tree) abs(rel string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(rel)) || strings.Contains(rel, "\\") {
		return "", fmt.Errorf("%w: %q", ErrOutsideTree, rel)
	}
	return filepath.Join(t.dir, filepath.FromSlash(rel)), nil
}

// ReadFile reads a file of the tree; a missing file wraps fs.ErrNotExist.
func (t *Tree) ReadFile(rel string) ([]byte, error) {
	p, err := t.abs(rel)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// WriteFile writes a file, creating its directories.
func (t *Tree) WriteFile(rel string, b []byte) error {
	p, err := t.abs(rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) && !t.touched[rel] {
		if t.created == nil {
			t.created = map[string]bool{}
		}
		t.created[rel] = true
	}
	t.touch(rel)
	return os.WriteFile(p, b, 0o644)
}

// Remove deletes a file; removing a missing file is not an error.
func (t *Tree) Remove(rel string) error {
	p, err := t.abs(rel)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	t.touch(rel)
	return nil
}

// Exists reports whether a file exists in the tree.
func (t *Tree) Exists(rel string) bool {
	p, err := t.abs(rel)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// List returns the files directly under dir (names only), sorted.
func (t *Tree) List(dir string) ([]string, error) {
	p, err := t.abs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// Revision is a commit that touched a path.
type Revision struct {
	Hash     string
	Time     time.Time
	Subject  string
	Trailers map[string]string
}

const logFormat = "%H%x00%ct%x00%s%x00%(trailers:unfold,only)%x1e"

// Log calls visit for each commit that changed path, newest first, until
// visit returns stop or history ends. The work tree has the whole history
// (it borrows the mirror's objects), and git's output is read as it comes
// and git stopped as soon as visit is done, so the common case — the last
// change was recent — does not walk the repository's whole history.
func (t *Tree) Log(ctx context.Context, path string, visit func(Revision) (stop bool, err error)) error {
	if _, err := t.abs(path); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := t.repo.c.runner(t.dir, -1)
	cmd, done := g.Command(ctx, "log", "--format="+logFormat, "HEAD", "--", path)
	defer done()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("history of %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("history of %s: %w", path, err)
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
		return fmt.Errorf("history of %s: %w: %s", path, err, t.repo.c.scrub(strings.TrimSpace(stderr.String())))
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

// Show returns path as it was at revision rev.
func (t *Tree) Show(ctx context.Context, rev, path string) ([]byte, error) {
	if _, err := t.abs(path); err != nil {
		return nil, err
	}
	out, err := t.repo.git(ctx, t.dir, nil, "show", rev+":"+path)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, rev, err)
	}
	return []byte(out), nil
}

// Resolve returns the full hash of a revision of the GitOps repository.
func (t *Tree) Resolve(ctx context.Context, rev string) (string, error) {
	out, err := t.repo.git(ctx, t.dir, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
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
