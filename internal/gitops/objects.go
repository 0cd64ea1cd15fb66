package gitops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// A write never checks files out: a Tree reads the objects of its head
// through one `git cat-file --batch` process, keeps its edits in memory,
// and one `git fast-import` writes the blobs, the trees on the changed
// paths and the commit. Both run in a scratch repository: a bare
// repository in a temporary directory that borrows the mirror's objects
// (objects/info/alternates, as `git clone --shared` would set it up) and
// holds only what the write creates, so the mirror is never written
// outside its lock.

// scratch is that repository.
type scratch struct {
	dir string
}

// newScratch makes an empty bare repository that borrows mirror's
// objects. It writes the few files git needs to recognise one rather than
// spawning `git init`: on a busy CI runner every process counts.
func newScratch(mirror string) (*scratch, error) {
	dir, err := os.MkdirTemp("", "smpctl-gitops-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary repository: %w", err)
	}
	objects, err := filepath.Abs(filepath.Join(mirror, "objects"))
	if err == nil {
		for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags"} {
			if err = os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				break
			}
		}
	}
	for _, f := range [][2]string{
		{"HEAD", "ref: refs/heads/main\n"},
		{"config", scratchConfig},
		{"objects/info/alternates", objects + "\n"},
	} {
		if err != nil {
			break
		}
		err = os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o644)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create a temporary repository: %w", err)
	}
	return &scratch{dir: dir}, nil
}

const (
	scratchConfig       = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n\tlogAllRefUpdates = false\n[gc]\n\tauto = 0\n"
	scratchConfigSHA256 = "[core]\n\trepositoryformatversion = 1\n\tbare = true\n\tlogAllRefUpdates = false\n[gc]\n\tauto = 0\n[extensions]\n\tobjectformat = sha256\n"
)

// matchFormat makes the scratch repository a SHA-256 one when the mirror is: its objects
// are readable only from a repository of the same format. It runs once the mirror has been
// fetched (on a first use it does not exist when the scratch repository is made).
func (s *scratch) matchFormat(mirror string) error {
	if !sha256Repo(mirror) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(s.dir, "config"), []byte(scratchConfigSHA256), 0o644); err != nil {
		return fmt.Errorf("configure the temporary repository for SHA-256: %w", err)
	}
	return nil
}

// objectFormatSHA256 matches the extension a SHA-256 repository's config has (git config
// names are case-insensitive).
var objectFormatSHA256 = regexp.MustCompile(`(?mi)^\s*objectformat\s*=\s*sha256\s*$`)

// sha256Repo reports whether the bare repository dir uses SHA-256 object names, from its
// config file, without running git.
func sha256Repo(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "config")) // #nosec G304 -- our own cache's mirror
	return err == nil && objectFormatSHA256.Match(b)
}

func (s *scratch) remove() { _ = os.RemoveAll(s.dir) }

// File modes of tree entries.
const (
	modeFile    = "100644"
	modeExec    = "100755"
	modeSymlink = "120000"
	modeTree    = "40000"
)

// entry is one entry of a git tree object.
type entry struct {
	mode string
	hash string // hex
}

func (e entry) isFile() bool { return e.mode == modeFile || e.mode == modeExec }
func (e entry) isTree() bool { return e.mode == modeTree }

// objectReader reads objects through one long-running `git cat-file
// --batch`, and keeps the trees it parsed (objects are immutable, so the
// cache is valid for every head).
type objectReader struct {
	mu     sync.Mutex
	stdin  io.WriteCloser
	stdout *bufio.Reader
	wait   func() error
	trees  map[string]map[string]entry
}

func (r *Repo) startReader(ctx context.Context, dir string) (*objectReader, error) {
	cmd, done := r.c.runner(dir, -1).Command(ctx, "cat-file", "--batch")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		done()
		return nil, fmt.Errorf("read the GitOps repository: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		done()
		return nil, fmt.Errorf("read the GitOps repository: %w", err)
	}
	if err := cmd.Start(); err != nil {
		done()
		return nil, fmt.Errorf("read the GitOps repository: %w", err)
	}
	return &objectReader{
		stdin:  stdin,
		stdout: bufio.NewReaderSize(stdout, 64<<10),
		wait: func() error {
			defer done()
			return cmd.Wait()
		},
		trees: map[string]map[string]entry{},
	}, nil
}

// close ends cat-file.
func (o *objectReader) close() {
	_ = o.stdin.Close()
	_ = o.wait()
}

// errMissing: the object does not exist.
var errMissing = errors.New("object missing")

// read returns an object's type and content; name is anything cat-file
// takes (a hash, rev^{tree}).
func (o *objectReader) read(name string) (typ string, content []byte, hash string, err error) {
	if strings.ContainsAny(name, "\n") {
		return "", nil, "", fmt.Errorf("object name %q: %w", name, errMissing)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := io.WriteString(o.stdin, name+"\n"); err != nil {
		return "", nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	header, err := o.stdout.ReadString('\n')
	if err != nil {
		return "", nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	f := strings.Fields(header)
	if len(f) != 3 {
		// "<name> missing" or "<name> ambiguous"
		return "", nil, "", fmt.Errorf("read %s: %w", name, errMissing)
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return "", nil, "", fmt.Errorf("read %s: bad header %q", name, header)
	}
	content = make([]byte, size+1) // and the newline after it
	if _, err := io.ReadFull(o.stdout, content); err != nil {
		return "", nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	return f[1], content[:size], f[0], nil
}

// tree returns the entries of a tree object by name (a hash, or rev^{tree})
// and its hash.
func (o *objectReader) tree(name string) (map[string]entry, string, error) {
	if t, ok := o.trees[name]; ok {
		return t, name, nil
	}
	typ, b, hash, err := o.read(name)
	if err != nil {
		return nil, "", err
	}
	if typ != "tree" {
		return nil, "", fmt.Errorf("read %s: a %s, not a tree", name, typ)
	}
	hashLen := len(hash) / 2
	t := map[string]entry{}
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		nul := bytes.IndexByte(b, 0)
		if sp < 0 || nul < sp || len(b) < nul+1+hashLen {
			return nil, "", fmt.Errorf("read tree %s: malformed", hash)
		}
		t[string(b[sp+1:nul])] = entry{mode: string(b[:sp]), hash: hex.EncodeToString(b[nul+1 : nul+1+hashLen])}
		b = b[nul+1+hashLen:]
	}
	o.trees[hash] = t
	return t, hash, nil
}
