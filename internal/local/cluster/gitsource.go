package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smp/delivery/internal/gitcmd"
)

// GitSource is where desired state comes from: a GitOps repository.
type GitSource interface {
	// Head returns the commit the tracked branch points at now.
	Head(ctx context.Context) (string, error)
	// Read returns the desired state at rev. A snapshot with some invalid
	// files is returned together with an error naming them.
	Read(ctx context.Context, rev string) (*Snapshot, error)
}

// GitRepo reads a GitOps remote the way Argo CD's repo server does: it
// keeps a local bare clone, fetches the tracked branch, and reads files at
// an exact revision. A remote on this machine (an absolute path: the
// demo's, the daemon's) is read where it is, without a clone: its objects
// are already on this disk, and the fetch that copied them cost three git
// processes and most of a sync (bench/runtime/run.sh). It shells out to
// git, with a timeout on every call.
type GitRepo struct {
	// Remote is a URL or path git can fetch from.
	Remote string
	// Branch to track; default main.
	Branch string
	// Dir holds the local clone of a remote given as a URL (created on
	// first use); a remote on this machine needs none.
	Dir string
	// Timeout for each git call; default 20s.
	Timeout time.Duration

	mu   sync.Mutex
	init bool

	headMu    sync.Mutex
	head      string        // the last head read from a remote on this machine
	headStamp []os.FileInfo // its ref files as they were just before that read (nil: missing)
}

// sameState reports whether two stats (nil: no file) are of one state of a
// file git replaces whole: it writes a ref, packed-refs or reftable's
// tables.list to a lock file and renames it over the old one, so any update
// gives a new file (os.SameFile is false) even within one tick of the clock.
func sameState(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// refStamps stamps every file where git may keep branch of the repository
// at dir: its loose ref, packed-refs, and a reftable repository's table
// list. ok is false when one cannot be read (other than not existing).
func refStamps(dir, branch string) (stamps []os.FileInfo, ok bool) {
	for _, p := range []string{filepath.Join(dir, "refs", "heads", filepath.FromSlash(branch)), filepath.Join(dir, "packed-refs"), filepath.Join(dir, "reftable", "tables.list")} {
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, false
		}
		stamps = append(stamps, fi) // nil when it does not exist
	}
	return stamps, true
}

// settled reports whether every stamped file was last written at least a
// second before at. Only such stamps are trusted to stand for the head
// read after them (as git treats a "racily clean" index entry): the
// clock's tick is coarse, and an inode freed by one rename can be reused
// by the next, so two updates within one tick could leave a file that
// stats the same; any later write has a later modification time.
func settled(stamps []os.FileInfo, at time.Time) bool {
	for _, fi := range stamps {
		if fi != nil && !fi.ModTime().Before(at.Add(-time.Second)) {
			return false
		}
	}
	return true
}

func sameStamps(a, b []os.FileInfo) bool {
	if len(a) != len(b) || a == nil {
		return false
	}
	for i := range a {
		if !sameState(a[i], b[i]) {
			return false
		}
	}
	return true
}

var _ GitSource = (*GitRepo)(nil)

func (g *GitRepo) branch() string {
	if g.Branch == "" {
		return "main"
	}
	return g.Branch
}

func (g *GitRepo) runner(dir string) gitcmd.Runner {
	t := g.Timeout
	if t == 0 {
		t = 20 * time.Second
	}
	// No user or system config: hooks, pagers and credential helpers of the
	// developer's machine must not change what the runtime reads.
	return gitcmd.Runner{Dir: dir, Timeout: t, Env: []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}}
}

func (g *GitRepo) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	return g.runner(dir).Run(ctx, args...)
}

// Head implements GitSource. The runtime asks every PollInterval. A remote
// on this machine (an absolute path: the demo's, the daemon's) is read where
// it is, one git process, and only when a file that holds its branch has
// changed since the last read or within the last second (a stat of three
// files decides): most polls find nothing new, and a process start costs
// milliseconds where a stat costs microseconds. ls-remote starts three
// processes for such a remote (git, the local transport's shell,
// upload-pack) and lists every ref.
func (g *GitRepo) Head(ctx context.Context) (string, error) {
	if dir, ok := localGitDir(g.Remote); ok {
		// Stamped before git reads: a push between the stamp and the read
		// changes the files after the stamp, so the next poll reads again.
		stampedAt := time.Now()
		stamps, stamped := refStamps(dir, g.branch())
		g.headMu.Lock()
		defer g.headMu.Unlock()
		if stamped && g.head != "" && sameStamps(stamps, g.headStamp) {
			return g.head, nil
		}
		g.head, g.headStamp = "", nil
		out, err := g.git(ctx, "", "--git-dir="+dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+g.branch()+"^{commit}")
		switch {
		case gitcmd.ExitCode(err) == 1: // --verify --quiet: no such branch
			return "", fmt.Errorf("read head of %s: branch %s does not exist (run smpctl gitops init)", g.Remote, g.branch())
		case err != nil:
			return "", fmt.Errorf("read head of %s: %w", g.Remote, err)
		}
		head := strings.TrimSpace(string(out))
		if stamped && settled(stamps, stampedAt) {
			g.head, g.headStamp = head, stamps
		}
		return head, nil
	}
	out, err := g.git(ctx, "", "ls-remote", "--", g.Remote, "refs/heads/"+g.branch())
	if err != nil {
		return "", fmt.Errorf("read head of %s: %w", g.Remote, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", fmt.Errorf("read head of %s: branch %s does not exist (run smpctl gitops init)", g.Remote, g.branch())
	}
	return f[0], nil
}

// localGitDir returns the git directory of a remote named by its absolute
// path: the path itself (a bare repository), or its .git.
func localGitDir(remote string) (string, bool) {
	if !filepath.IsAbs(remote) {
		return "", false
	}
	if fi, err := os.Stat(filepath.Join(remote, ".git")); err == nil && fi.IsDir() {
		return filepath.Join(remote, ".git"), true
	}
	return remote, true
}

// ensure returns the git directory that holds rev: the remote's own when
// it is on this machine, else the local clone, fetched when it lacks rev.
func (g *GitRepo) ensure(ctx context.Context, rev string) (string, error) {
	if dir, ok := localGitDir(g.Remote); ok {
		return dir, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.init {
		if _, err := os.Stat(g.Dir + "/HEAD"); err != nil {
			if err := os.MkdirAll(g.Dir, 0o755); err != nil {
				return "", err
			}
			if _, err := g.git(ctx, g.Dir, "init", "--quiet", "--bare"); err != nil {
				return "", err
			}
		}
		g.init = true
	}
	if _, err := g.git(ctx, g.Dir, "cat-file", "-e", rev+"^{commit}"); err == nil {
		return g.Dir, nil
	}
	if _, err := g.git(ctx, g.Dir, "fetch", "--quiet", "--no-tags", "--", g.Remote, "+refs/heads/"+g.branch()+":refs/remotes/origin/"+g.branch()); err != nil {
		return "", fmt.Errorf("fetch %s: %w", g.Remote, err)
	}
	if _, err := g.git(ctx, g.Dir, "cat-file", "-e", rev+"^{commit}"); err != nil {
		return "", fmt.Errorf("revision %s is not on %s of %s", rev, g.branch(), g.Remote)
	}
	return g.Dir, nil
}

// Read implements GitSource.
func (g *GitRepo) Read(ctx context.Context, rev string) (*Snapshot, error) {
	dir, err := g.ensure(ctx, rev)
	if err != nil {
		return nil, err
	}
	tree, err := g.git(ctx, dir, "ls-tree", "-r", "-z", "--full-tree", rev, "--", "delivery.yaml", "environments", "apps")
	if err != nil {
		if _, cerr := g.git(ctx, dir, "cat-file", "-e", rev+"^{commit}"); cerr != nil {
			return nil, fmt.Errorf("revision %s is not on %s of %s", rev, g.branch(), g.Remote)
		}
		return nil, err
	}
	// Every file through one git process: a process per file made each
	// sync cost a process start (milliseconds) per service and environment.
	var paths, objects []string
	for p, obj := range gitcmd.TreeBlobs(tree) {
		paths, objects = append(paths, p), append(objects, obj)
	}
	blobs, err := g.runner(dir).CatFiles(ctx, objects)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(paths))
	for i, p := range paths {
		files[p] = blobs[i]
	}
	if len(files) == 0 {
		return nil, errors.New("no delivery.yaml, environments/ or apps/ at " + short(rev))
	}
	return BuildSnapshot(rev, files)
}
