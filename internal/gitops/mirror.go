package gitops

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A Mirror is a bare clone of a remote in the user's cache, shared by every
// smpctl command and process that reaches that remote: readers (status,
// diff, history, metrics, registry gc) read it, writers (deploy, promote, …)
// fetch into it and build their work trees from it, so a command costs one
// fetch instead of a clone.
//
// # Layout, locking and corruption
//
// The cache directory holds, per remote, <key>.git (key: the first 16 hex
// digits of the SHA-256 of the URL git is given, so a token never shapes a
// path) and <key>.git.lock. Every change to a mirror — clone, fetch,
// rebuild, repack — happens under an exclusive flock(2) on the lock file, so
// concurrent smpctl processes queue instead of failing on git's ref locks;
// reading needs no lock, because a fetch only adds objects and moves refs
// atomically, and automatic gc (which could prune) is off.
//
// A mirror is trusted only when it is whole: a clone is made in a temporary
// directory and renamed into place with a marker file (smpctl-mirror, which
// names the URL) written last, so an interrupted clone leaves no mirror. A
// mirror without the marker, with a marker for another URL, whose fetch
// fails for a local reason, or whose branch tips cannot be read, is removed
// and cloned again.
type Mirror struct {
	c   *conn
	dir string
	// temp is set when the mirror lives in a temporary directory (no cache
	// directory configured) and Close removes it.
	temp bool
	// tips are the branch tips the last Fetch saw (ref → commit), so
	// that a write does not spawn git to ask again.
	tips map[string]string
}

// MirrorOptions configure OpenMirror.
type MirrorOptions struct {
	// CacheDir holds the mirrors. Empty means a private mirror in a
	// temporary directory, removed by Close: correct, but every command
	// then clones.
	CacheDir string
	// Timeout bounds each clone and fetch; default 2 minutes.
	Timeout time.Duration
}

const mirrorMarker = "smpctl-mirror"

// mirrorFormat is written into the marker; a mirror of another format is
// rebuilt.
const mirrorFormat = "1"

// OpenMirror returns the remote's mirror, cloned into the cache if it is not
// there (or not whole) and fetched otherwise. The remote's token and CA are
// used for the clone and fetch only; nothing about them is stored.
func OpenMirror(ctx context.Context, r Remote, o MirrorOptions) (*Mirror, error) {
	c, err := newConn(r)
	if err != nil {
		return nil, err
	}
	m, err := c.mirror(o.CacheDir)
	if err != nil {
		return nil, err
	}
	if err := m.Fetch(ctx, o.Timeout); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (c *conn) mirror(cacheDir string) (*Mirror, error) {
	if cacheDir == "" {
		dir, err := os.MkdirTemp("", "smpctl-mirror-")
		if err != nil {
			return nil, fmt.Errorf("create a temporary GitOps mirror: %w", err)
		}
		return &Mirror{c: c, dir: filepath.Join(dir, "mirror.git"), temp: true}, nil
	}
	sum := sha256.Sum256([]byte(c.url))
	return &Mirror{c: c, dir: filepath.Join(cacheDir, hex.EncodeToString(sum[:8])+".git")}, nil
}

// Dir is the bare repository's path.
func (m *Mirror) Dir() string { return m.dir }

// Close removes a temporary mirror; a cached one stays.
func (m *Mirror) Close() {
	if m.temp {
		_ = os.RemoveAll(filepath.Dir(m.dir))
	}
}

// Fetch brings the mirror up to date with the remote (cloning it when it is
// missing or not whole) under the cache lock, each remote call bounded by
// timeout (default 2 minutes).
func (m *Mirror) Fetch(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	if err := os.MkdirAll(filepath.Dir(m.dir), 0o755); err != nil {
		return fmt.Errorf("create the GitOps cache %s: %w", filepath.Dir(m.dir), err)
	}
	// Waiting for another process's fetch is not a remote call: it is
	// bounded by the caller's budget (a write's --gitops-timeout), and by
	// timeout only when the caller has none.
	lctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	unlock, err := lockFile(lctx, m.dir+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	m.tips = nil
	if !m.whole() {
		return m.rebuild(ctx, timeout)
	}
	g := m.c.runner(m.dir, timeout)
	_, ferr := m.c.run(ctx, g, nil, "fetch", "--quiet", "--prune", "--no-tags", m.c.url, "+refs/heads/*:refs/heads/*")
	if ferr != nil {
		err := m.c.classify("fetch", ferr)
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrRemoteNotFound) || errors.Is(ferr, context.DeadlineExceeded) || ctx.Err() != nil {
			return err
		}
		// Not the remote's fault: the mirror itself is damaged.
		return m.rebuild(ctx, timeout)
	}
	// The tips must be readable commits with their trees; a mirror whose
	// objects went missing is rebuilt, never trusted.
	after, err := m.c.run(ctx, g, nil, "for-each-ref", "--format=%(objectname) %(tree) %(refname)", "refs/heads")
	if err != nil {
		return m.rebuild(ctx, timeout)
	}
	m.tips = map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(after), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			m.tips[f[2]] = f[0]
		}
	}
	m.maintain(ctx)
	return nil
}

// writing runs one write attempt (fetch, change, commit, push) while
// holding the mirror's write lock (<key>.git.write-lock), so that writers
// on one machine take turns instead of racing: racing writers of one
// branch all fetch the same head, one push wins and every other attempt
// is wasted work, so 20 at once cost ~N²/2 attempts; taking turns, each
// costs one. Writers on other machines still race, and lose to retries.
// The wait is bounded by ctx (the write's budget). It is a lock of its
// own: Fetch takes the mirror's lock inside it.
func (m *Mirror) writing(ctx context.Context, attempt func() error) error {
	if err := os.MkdirAll(filepath.Dir(m.dir), 0o755); err != nil {
		return fmt.Errorf("create the GitOps cache %s: %w", filepath.Dir(m.dir), err)
	}
	unlock, err := lockFile(ctx, m.dir+".write-lock")
	if err != nil {
		return err
	}
	defer unlock()
	return attempt()
}

// tip returns the commit a ref (or HEAD) of the mirror names.
func (m *Mirror) tip(ctx context.Context, ref string) (string, error) {
	if h, ok := m.tips[ref]; ok {
		return h, nil
	}
	out, err := m.c.run(ctx, m.c.runner(m.dir, -1), nil, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	return strings.TrimSpace(out), err
}

// WorkTree makes a private work tree of rev (a commit, a branch, or "" for
// the remote's default branch) in a temporary directory, and a function
// that removes it. A --shared clone borrows the mirror's objects
// (alternates) instead of copying them, so it costs one checkout, and the
// tree has the whole history. Commits made in it stay in its own object
// store: the mirror is only ever written by Fetch, under its lock, and it
// never prunes, so the borrowed objects stay.
func (m *Mirror) WorkTree(ctx context.Context, rev string) (string, func(), error) {
	if rev == "" {
		rev = "HEAD"
	}
	tip, err := m.tip(ctx, rev)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s has no %s", ErrNoBranch, m.c, rev)
	}
	dir, err := os.MkdirTemp("", "smpctl-gitops-")
	if err != nil {
		return "", nil, fmt.Errorf("create a temporary work tree: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	g := m.c.runner(dir, -1)
	if _, err := m.c.run(ctx, g, nil, "clone", "--quiet", "--shared", "--no-checkout", "--no-tags", m.dir, "."); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("make a work tree from the GitOps cache %s: %w", m.dir, err)
	}
	if _, err := m.c.run(ctx, g, nil, "reset", "--quiet", "--hard", tip); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("check out %s: %w", rev, err)
	}
	return dir, cleanup, nil
}

// whole reports whether the mirror was completely cloned for this remote
// and its packs are whole.
func (m *Mirror) whole() bool {
	b, err := os.ReadFile(filepath.Join(m.dir, mirrorMarker))
	return err == nil && string(b) == m.marker() && packsWhole(filepath.Join(m.dir, "objects", "pack"))
}

// packsWhole checks, without running git, that every pack ends with the
// checksum its index records (an index ends with the pack's checksum, then
// its own: 20 bytes each in a SHA-1 repository, 32 in a SHA-256 one): a
// pack truncated or half-written by a full disk or a killed process fails
// it. It reads at most 96 bytes per pack, so it runs on every use.
func packsWhole(dir string) bool {
	idxs, err := filepath.Glob(filepath.Join(dir, "*.idx"))
	if err != nil {
		return false
	}
	for _, idx := range idxs {
		if !packWhole(idx) {
			return false
		}
	}
	return true
}

func packWhole(idx string) bool {
	for _, n := range []int64{sha1Size, sha256Size} {
		want, err := tail(idx, 2*n)
		if err != nil {
			return false
		}
		got, err := tail(strings.TrimSuffix(idx, ".idx")+".pack", n)
		if err == nil && bytes.Equal(got, want[:n]) {
			return true
		}
	}
	return false
}

// The sizes of git's object names: SHA-1, and SHA-256 (git init --object-format=sha256).
const (
	sha1Size   = 20
	sha256Size = 32
)

// tail returns the last n bytes of a file.
func tail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- a file of our own cache
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < n+12 { // a pack's header is 12 bytes
		return nil, fmt.Errorf("%s: too short", path)
	}
	b := make([]byte, n)
	_, err = f.ReadAt(b, st.Size()-n)
	return b, err
}

// Invalidate marks the mirror for a rebuild on its next Fetch: a command
// that finds its objects unreadable calls it, so that no one trusts the
// mirror again.
func (m *Mirror) Invalidate(ctx context.Context) {
	unlock, err := lockFile(ctx, m.dir+".lock")
	if err != nil {
		return
	}
	defer unlock()
	_ = os.Remove(filepath.Join(m.dir, mirrorMarker))
}

func (m *Mirror) marker() string {
	return "format " + mirrorFormat + "\nurl " + Redact(m.c.url) + "\n"
}

// mirrorConfig is the mirror's own git configuration: no automatic gc or
// maintenance (maintain does it, never pruning what a work tree borrows), no
// commit-graph written by fetches (maintain extends it) and no reflogs.
var mirrorConfig = []string{"gc.auto=0", "maintenance.auto=false", "fetch.writeCommitGraph=false", "core.logAllRefUpdates=false"}

// rebuild replaces the mirror by a fresh bare clone. The caller holds the
// lock. The clone goes to a temporary directory beside the mirror and is
// renamed into place, marker written last, so an interruption leaves no
// mirror that looks whole.
func (m *Mirror) rebuild(ctx context.Context, timeout time.Duration) error {
	parent := filepath.Dir(m.dir)
	if _, err := os.Stat(m.dir); err == nil {
		// Move it aside first: removal may fail half-way, a rename does not.
		stale := m.dir + ".stale-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if err := os.Rename(m.dir, stale); err != nil {
			return fmt.Errorf("remove the damaged GitOps cache %s: %w", m.dir, err)
		}
		_ = os.RemoveAll(stale)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("GitOps cache %s: %w", m.dir, err)
	}
	m.sweep()
	tmp, err := os.MkdirTemp(parent, filepath.Base(m.dir)+".clone-")
	if err != nil {
		return fmt.Errorf("create the GitOps cache %s: %w", parent, err)
	}
	defer os.RemoveAll(tmp)
	// The mirror's configuration is written by the clone itself (--config
	// writes it into the new repository before it fetches): a git config
	// process per setting cost four processes per mirror built, a tenth of
	// the git processes internal/gitops/write's tests start.
	args := []string{"clone", "--quiet", "--bare", "--no-tags"}
	for _, kv := range mirrorConfig {
		args = append(args, "--config", kv)
	}
	if _, err := m.c.run(ctx, m.c.runner(parent, timeout), nil, append(args, "--", m.c.url, tmp)...); err != nil {
		return m.c.classify("clone", err)
	}
	writeCommitGraph(ctx, m.c, tmp)
	if err := os.WriteFile(filepath.Join(tmp, mirrorMarker), []byte(m.marker()), 0o644); err != nil {
		return fmt.Errorf("create the GitOps cache: %w", err)
	}
	if err := os.Rename(tmp, m.dir); err != nil {
		return fmt.Errorf("create the GitOps cache %s: %w", m.dir, err)
	}
	return nil
}

// sweep removes what interrupted clones and rebuilds of this mirror left
// behind. The caller holds the lock, so none of it is in use.
func (m *Mirror) sweep() {
	for _, pat := range []string{".clone-*", ".stale-*"} {
		left, _ := filepath.Glob(m.dir + pat)
		for _, p := range left {
			_ = os.RemoveAll(p)
		}
	}
}

// maintain keeps a long-lived mirror fast; it runs after every fetch and
// costs no process until there is something to do:
// small fetches leave loose objects and small packs, which are repacked
// when they add up, and then the commit-graph (with changed-path Bloom
// filters, which roughly halve a path-limited log) is extended. Repacking
// never prunes, so a work tree borrowing the mirror's objects keeps them.
// A failure only costs speed.
func (m *Mirror) maintain(ctx context.Context) {
	g := m.c.runner(m.dir, -1)
	loose, packs := countObjects(filepath.Join(m.dir, "objects"))
	switch {
	case packs > 20:
		_, _ = m.c.run(ctx, g, nil, "repack", "-a", "-d", "-q", "--no-write-bitmap-index")
	case loose > 256:
		// The loose objects of the last ~50 fetched commits into one pack.
		_, _ = m.c.run(ctx, g, nil, "repack", "-d", "-q", "--no-write-bitmap-index")
	default:
		// Not yet worth a process on every command: the few commits the
		// commit-graph does not cover yet are walked without it.
		return
	}
	// --split adds a layer for the new commits only (git merges layers as
	// they grow), so it does not rewrite 5,000 commits.
	writeCommitGraph(ctx, m.c, m.dir, "--split")
}

func writeCommitGraph(ctx context.Context, c *conn, dir string, extra ...string) {
	_, _ = c.run(ctx, c.runner(dir, -1), nil, append([]string{"commit-graph", "write", "--reachable", "--changed-paths"}, extra...)...)
}

// countObjects counts loose objects and packs as `git count-objects` does,
// without a process: the 256 fan-out directories and the pack directory.
func countObjects(objects string) (loose, packs int) {
	for i := range 256 {
		entries, _ := os.ReadDir(filepath.Join(objects, fmt.Sprintf("%02x", i)))
		loose += len(entries)
	}
	p, _ := filepath.Glob(filepath.Join(objects, "pack", "*.pack"))
	return loose, len(p)
}
