package gitops

import (
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
	dir  string
	repo *Repo
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
// visit returns stop or history ends. The clone is shallow; Log deepens it
// as far as needed (CloneDepth, then 4× more each time, then all), so the
// common case — the last change was recent — costs no fetch at all.
func (t *Tree) Log(ctx context.Context, path string, visit func(Revision) (stop bool, err error)) error {
	if _, err := t.abs(path); err != nil {
		return err
	}
	seen := map[string]bool{}
	deepen := CloneDepth * 4
	for {
		shallow, err := t.shallowCommits()
		if err != nil {
			return err
		}
		out, err := t.repo.git(ctx, t.dir, nil, "log", "--format="+logFormat, "HEAD", "--", path)
		if err != nil {
			return fmt.Errorf("history of %s: %w", path, err)
		}
		for _, rec := range strings.Split(out, "\x1e") {
			rec = strings.TrimLeft(rec, "\n")
			if rec == "" {
				continue
			}
			f := strings.SplitN(rec, "\x00", 4)
			if len(f) < 4 || seen[f[0]] {
				continue
			}
			// A shallow boundary commit looks as if it added every file;
			// it is judged only once its parent is fetched.
			if shallow[f[0]] {
				break
			}
			seen[f[0]] = true
			sec, _ := strconv.ParseInt(f[1], 10, 64)
			stop, err := visit(Revision{Hash: f[0], Time: time.Unix(sec, 0).UTC(), Subject: f[2], Trailers: parseTrailers(f[3])})
			if err != nil || stop {
				return err
			}
		}
		if len(shallow) == 0 {
			return nil
		}
		args := []string{"fetch", "--quiet", "--no-tags", "--deepen=" + strconv.Itoa(deepen), "origin", t.repo.remote.Branch}
		if deepen > 1024 {
			args = []string{"fetch", "--quiet", "--no-tags", "--unshallow", "origin", t.repo.remote.Branch}
		}
		if _, err := t.repo.remoteGit(ctx, t.dir, args...); err != nil {
			return t.repo.classify("fetch history", err)
		}
		deepen *= 4
	}
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

// Resolve returns the full hash of a revision of the GitOps repository,
// fetching all history if the clone does not have it yet.
func (t *Tree) Resolve(ctx context.Context, rev string) (string, error) {
	try := func() (string, error) {
		out, err := t.repo.git(ctx, t.dir, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
		return strings.TrimSpace(out), err
	}
	if h, err := try(); err == nil {
		return h, nil
	}
	if shallow, _ := t.shallowCommits(); len(shallow) > 0 {
		if _, err := t.repo.remoteGit(ctx, t.dir, "fetch", "--quiet", "--no-tags", "--unshallow", "origin", t.repo.remote.Branch); err != nil {
			return "", t.repo.classify("fetch history", err)
		}
	}
	return try()
}

func (t *Tree) shallowCommits() (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(t.dir, ".git", "shallow"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		m[l] = true
	}
	return m, nil
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
