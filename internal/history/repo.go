package history

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitcmd"

	"github.com/smp/delivery/internal/fault"
)

// DefaultFetchTimeout bounds the clone or fetch of a remote GitOps repository.
const DefaultFetchTimeout = 2 * time.Minute

// OpenOptions configure Open.
type OpenOptions struct {
	// CacheDir holds bare clones of remote repositories, one per URL, so a
	// second read only fetches. Required to read a URL.
	CacheDir string
	// FetchTimeout bounds the clone or fetch; default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Token authenticates https remotes (sent as an HTTP header through the
	// environment of git, never on its command line or in an error).
	Token string
	// GitEnv is added to git's environment for remote calls, e.g.
	// GIT_SSL_CAINFO for a private certificate authority.
	GitEnv []string
}

// Repo is a GitOps repository opened for reading.
type Repo struct {
	// Source is what the user gave (path or URL).
	Source string
	git    gitcmd.Runner
}

var scpLikeRE = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)

// IsURL reports whether spec names a remote (scheme://… or user@host:path)
// rather than a local path.
func IsURL(spec string) bool {
	return strings.Contains(spec, "://") || scpLikeRE.MatchString(spec)
}

// Open opens a GitOps repository: a local path (a work tree or a bare
// repository) is read in place; a URL is cloned (full history, bare) into
// o.CacheDir, or fetched when already there.
func Open(ctx context.Context, spec string, o OpenOptions) (*Repo, error) {
	if spec == "" {
		return nil, fault.Inputf("gitops", "no GitOps repository: give its path or URL")
	}
	dir := spec
	if IsURL(spec) {
		var err error
		if dir, err = mirror(ctx, spec, o); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(spec); err != nil {
		return nil, fault.Invalidf("gitops repository %s: %v: give the path of a clone or bare repository, or a URL", spec, errors.Unwrap(err))
	}
	r := &Repo{Source: spec, git: gitcmd.Runner{Dir: dir}}
	if _, err := r.git.Output(ctx, "rev-parse", "--git-dir"); err != nil {
		return nil, fault.Invalidf("gitops repository %s is not a git repository: give a clone or bare repository of smp-gitops (create one with smpctl gitops init)", spec)
	}
	if _, err := r.git.Output(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err != nil {
		return nil, fault.Invalidf("gitops repository %s has no commits on its HEAD branch: create one with smpctl gitops init", spec)
	}
	if _, err := r.git.Run(ctx, "cat-file", "-e", "HEAD:delivery.yaml"); err != nil {
		return nil, fault.Invalidf("%s is not a gitops repository: HEAD has no delivery.yaml (create one with smpctl gitops init)", spec)
	}
	return r, nil
}

// mirror clones url into the cache (or fetches it) and returns the bare
// repository's path. One process at a time works on a cached repository
// (a lock file beside it); a clone goes to a temporary directory first and
// is renamed into place, so an interrupted clone never leaves a broken
// cache.
func mirror(ctx context.Context, url string, o OpenOptions) (string, error) {
	if o.CacheDir == "" {
		return "", errors.New("read remote gitops repository: no cache directory configured")
	}
	timeout := o.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	sum := sha256.Sum256([]byte(url))
	dir := filepath.Join(o.CacheDir, hex.EncodeToString(sum[:8])+".git")
	env := append(authEnv(url, o.Token), o.GitEnv...)
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create gitops cache %s: %w", o.CacheDir, err)
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	unlock, err := lockCache(lctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(dir); err == nil {
		g := gitcmd.Runner{Dir: dir, Timeout: timeout, Env: env}
		before, _ := g.Output(ctx, "rev-parse", "--verify", "--quiet", "HEAD")
		if _, err := g.Run(ctx, "fetch", "--quiet", "--prune", "--force", "origin", "+refs/heads/*:refs/heads/*"); err != nil {
			return "", remoteError(url, err)
		}
		if after, _ := g.Output(ctx, "rev-parse", "--verify", "--quiet", "HEAD"); after != before {
			writeCommitGraph(ctx, dir)
		}
		return dir, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("gitops cache %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, "clone-")
	if err != nil {
		return "", fmt.Errorf("create gitops cache %s: %w", o.CacheDir, err)
	}
	defer os.RemoveAll(tmp)
	g := gitcmd.Runner{Dir: o.CacheDir, Timeout: timeout, Env: env}
	if _, err := g.Run(ctx, "clone", "--quiet", "--bare", "--", url, tmp); err != nil {
		return "", remoteError(url, err)
	}
	writeCommitGraph(ctx, tmp)
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("cache clone of %s: %w", url, err)
	}
	return dir, nil
}

// writeCommitGraph gives the cached clone a commit-graph with changed-path
// Bloom filters, which roughly halves the cost of history's path-limited
// walk. Only the cache gets one: a user's own repository is read, never
// written. A failure only costs speed.
func writeCommitGraph(ctx context.Context, dir string) {
	_, _ = (gitcmd.Runner{Dir: dir}).Run(ctx, "commit-graph", "write", "--reachable", "--changed-paths")
}

// authEnv passes a token to git for https remotes as an extra header, in
// the environment (GIT_CONFIG_*), where neither ps nor an error shows it.
func authEnv(url, token string) []string {
	if token == "" || !strings.HasPrefix(url, "https://") {
		return nil
	}
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	return []string{
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic " + basic,
	}
}

// remoteError classifies a failed clone or fetch: credentials refused is a
// refusal (exit 1); a remote that does not exist or cannot be reached is
// bad input (exit 2).
func remoteError(url string, err error) error {
	msg := err.Error()
	var ge *gitcmd.Error
	if errors.As(err, &ge) {
		// git's own reason, without the command line and temp paths.
		msg = firstFatal(ge.Stderr, ge.Err)
	}
	switch {
	case strings.Contains(msg, "Authentication failed"), strings.Contains(msg, "could not read Username"),
		strings.Contains(msg, "Permission denied"), strings.Contains(msg, "returned error: 403"):
		return fault.Refusedf("remote refused: read gitops repository %s: %s (check SMP_GIT_TOKEN or your ssh agent)", url, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("read gitops repository %s: %w (raise the fetch timeout or check the network)", url, err)
	}
	return fault.Invalidf("read gitops repository %s: %s: check the URL (git ls-remote %s)", url, msg, url)
}

// firstFatal returns git's first "fatal:" line, else its first line.
func firstFatal(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if after, ok := strings.CutPrefix(l, "fatal: "); ok {
			return after
		}
	}
	if lines[0] != "" {
		return lines[0]
	}
	return err.Error()
}
