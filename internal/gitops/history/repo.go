package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops"
)

// DefaultFetchTimeout bounds the clone or fetch of a remote GitOps repository.
const DefaultFetchTimeout = 2 * time.Minute

// OpenOptions configure Open.
type OpenOptions struct {
	// CacheDir holds the mirrors of remote repositories that every smpctl
	// command shares (gitops.Mirror), so a second read only fetches.
	// Required to read a URL.
	CacheDir string
	// FetchTimeout bounds the clone or fetch; default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Token authenticates https remotes (sent as an HTTP header through the
	// environment of git, never on its command line or in an error).
	Token string
	// CAFile trusts an extra certificate authority for an https remote.
	CAFile string
	// OnWalk, when set, is called as every walk of the history (one `git
	// log` process, Repo.Walk) starts, with its options: walks are what a
	// read costs on a long history, so a test or a benchmark counts them
	// to hold a page to the walks it needs.
	OnWalk func(WalkOptions)
}

// ErrNotGitOps is what Open's error wraps (with fault.ErrInvalid) when the
// path or URL is not an smp-gitops repository: not a git repository, no
// commits, or no delivery.yaml at HEAD.
var ErrNotGitOps = errors.New("not an smp-gitops repository")

// notGitOps keeps Open's message as it was while matching ErrNotGitOps.
type notGitOps struct{ msg string }

func (e *notGitOps) Error() string        { return e.msg }
func (e *notGitOps) Is(target error) bool { return target == ErrNotGitOps }

func notGitOpsf(format string, args ...any) error {
	return fault.Invalid(&notGitOps{msg: fmt.Sprintf(format, args...)})
}

// Repo is a GitOps repository opened for reading.
type Repo struct {
	// Source is what the user gave (path or URL).
	Source string
	git    gitcmd.Runner
	onWalk func(WalkOptions)
}

// Open opens a GitOps repository: a local path (a work tree or a bare
// repository) is read in place; a URL is read from its mirror in the shared
// cache (gitops.OpenMirror), cloned on first use and fetched after.
func Open(ctx context.Context, spec string, o OpenOptions) (*Repo, error) {
	if spec == "" {
		return nil, fault.Inputf("gitops", "no GitOps repository: give its path or URL")
	}
	dir := spec
	if gitops.IsURL(spec) {
		var err error
		if dir, err = mirror(ctx, spec, o); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(spec); err != nil {
		return nil, fault.Invalidf("gitops repository %s: %v: give the path of a clone or bare repository, or a URL", spec, errors.Unwrap(err))
	}
	r := &Repo{Source: spec, git: gitcmd.Runner{Dir: dir}, onWalk: o.OnWalk}
	if _, err := r.git.Output(ctx, "rev-parse", "--git-dir"); err != nil {
		return nil, notGitOpsf("gitops repository %s is not a git repository: give a clone or bare repository of smp-gitops (create one with smpctl gitops init)", gitops.Redact(spec))
	}
	if _, err := r.git.Output(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err != nil {
		return nil, notGitOpsf("gitops repository %s has no commits on its HEAD branch: create one with smpctl gitops init", gitops.Redact(spec))
	}
	if _, err := r.git.Run(ctx, "cat-file", "-e", "HEAD:delivery.yaml"); err != nil {
		return nil, notGitOpsf("%s is not a gitops repository: HEAD has no delivery.yaml (create one with smpctl gitops init)", gitops.Redact(spec))
	}
	return r, nil
}

// mirror brings the remote's mirror in the shared cache up to date and
// returns its path. Credentials refused is a refusal (exit 1); a remote that
// does not exist or cannot be reached is bad input (exit 2).
func mirror(ctx context.Context, url string, o OpenOptions) (string, error) {
	if o.CacheDir == "" {
		return "", errors.New("read remote gitops repository: no cache directory configured")
	}
	timeout := o.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	m, err := gitops.OpenMirror(ctx, gitops.Remote{URL: url, Token: o.Token, CAFile: o.CAFile},
		gitops.MirrorOptions{CacheDir: o.CacheDir, Timeout: timeout})
	shown := gitops.Redact(url)
	switch {
	case err == nil:
		return m.Dir(), nil
	case errors.Is(err, gitops.ErrAuth):
		return "", fault.Refused(fmt.Errorf("read gitops repository %s: %w", shown, err))
	case errors.Is(err, context.DeadlineExceeded):
		return "", fmt.Errorf("read gitops repository %s: %w (raise --gitops-timeout or check the network)", shown, err)
	case errors.Is(err, gitops.ErrRemoteNotFound):
		return "", fault.Invalidf("read gitops repository %s: %v", shown, err)
	}
	return "", fault.Invalidf("read gitops repository %s: %v: check the URL (git ls-remote %s)", shown, err, shown)
}
