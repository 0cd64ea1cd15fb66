// Package layout creates and extends an smp-gitops repository (docs/design.md §3,
// docs/gitops-format.md): Init writes the scaffold embedded from deploy/gitops and
// makes the first commit; AddService writes a service's environment files
// and lists it in delivery.yaml, keeping every other byte of that file.
//
// Both are idempotent: running them again changes nothing and commits
// nothing. Both validate everything before they write anything.
package layout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	scaffold "github.com/smp/delivery/deploy/gitops"
	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"

	"github.com/smp/delivery/internal/fault"
)

// Paths inside a GitOps repository.
const (
	EnvironmentsDir = "environments"
	AppsDir         = "apps"
	HoldsDir        = "state/holds"
	ApprovalsDir    = "state/approvals"
)

// EnvFile is the repository-relative path of a service's environment file.
func EnvFile(env, service string) string {
	return path.Join(EnvironmentsDir, env, service+".yaml")
}

// HoldFile is the repository-relative path of a hold.
func HoldFile(env, service string) string {
	return path.Join(HoldsDir, env, service+".yaml")
}

// ErrAlreadyInitialized means Init found a GitOps repository in place and
// left it as it was: a success ("nothing to do"), so it carries no fault
// kind.
var ErrAlreadyInitialized = errors.New("already a gitops repository")

// Identity is the author and committer of the commits Init and AddService
// make. Empty fields fall back to delivery.yaml's identity.
type Identity = delivery.Identity

// InitOptions configure Init. The zero value writes the scaffold as
// committed in deploy/gitops and pushes nowhere.
type InitOptions struct {
	// RepoURL replaces the scaffold's GitOps repository URL in apps/*.yaml
	// (Argo CD reads the repository from there). Default scaffold.DefaultRepoURL.
	RepoURL string
	// ChartRepo replaces the Helm chart repository in apps/*.yaml.
	// Default scaffold.DefaultChartRepo.
	ChartRepo string
	// Remote, when set, is a local path for a bare repository: created and
	// initialised if missing, then the first commit is pushed to it and set
	// as origin. A remote that already has commits is refused.
	Remote string
	// Identity overrides delivery.yaml's commit identity.
	Identity Identity
}

// InitResult says what Init did.
type InitResult struct {
	Dir    string   `json:"dir"`
	Files  []string `json:"files"`
	Commit string   `json:"commit,omitempty"`
	Remote string   `json:"remote,omitempty"`
}

// Init writes the scaffold into dir (created if missing), makes it a git
// repository on branch main and commits "gitops: init". A non-empty dir that
// is not already a GitOps repository is invalid input (fault.ErrInvalid); one that is
// returns ErrAlreadyInitialized and is not touched. When a step fails after
// writing began, what Init created (dir's contents, a new remote) is removed.
func Init(ctx context.Context, dir string, o InitOptions) (res InitResult, err error) {
	res = InitResult{Dir: dir}
	if dir == "" {
		return res, fault.Invalidf("missing directory: give the directory to create, e.g. smpctl gitops init smp-gitops")
	}
	entries, err := os.ReadDir(dir)
	createdDir := errors.Is(err, fs.ErrNotExist)
	switch {
	case createdDir:
	case err != nil:
		return res, fault.Invalidf("%s: %v: give a directory path", dir, err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, delivery.FileName)); err == nil {
			return res, fmt.Errorf("%s: %w (it has %s); nothing written", dir, ErrAlreadyInitialized, delivery.FileName)
		}
		return res, fault.Invalidf("%s is not empty and is not a gitops repository (no %s): give an empty or new directory", dir, delivery.FileName)
	}
	remote, format, createdRemote, err := checkRemote(ctx, o.Remote)
	if err != nil {
		return res, err
	}
	defer func() {
		if err == nil {
			return
		}
		// Leave nothing half-made: no dir (or the empty one we were
		// given), no new remote.
		if createdDir {
			_ = os.RemoveAll(dir)
		} else if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			for _, e := range entries {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
		if createdRemote {
			_ = os.RemoveAll(remote)
		}
	}()
	files, err := renderScaffold(o)
	if err != nil {
		return res, err
	}
	cfg, err := delivery.Parse(files[delivery.FileName])
	if err != nil {
		return res, fmt.Errorf("scaffold %s: %w", delivery.FileName, err)
	}
	id := identity(cfg, o.Identity)
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return res, fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return res, fmt.Errorf("write %s: %w", p, err)
		}
		res.Files = append(res.Files, name)
	}
	g := gitcmd.Runner{Dir: dir}
	// The work tree takes the remote's object format (SHA-1 or SHA-256): git pushes only
	// between repositories of the same one.
	if _, err := g.Run(ctx, "init", "--quiet", "--initial-branch=main", "--object-format="+format); err != nil {
		return res, fmt.Errorf("git init %s: %w", dir, err)
	}
	if _, err := g.Run(ctx, "add", "--all"); err != nil {
		return res, fmt.Errorf("stage scaffold: %w", err)
	}
	sha, err := commit(ctx, g, id, "gitops: init", []string{"Action: init"})
	if err != nil {
		return res, err
	}
	res.Commit = sha
	if remote != "" {
		if err := pushFirst(ctx, g, remote); err != nil {
			return res, err
		}
		res.Remote = remote
	}
	return res, nil
}

// checkRemote creates a missing bare remote (created reports that it did)
// and refuses one that already has history, before anything is written
// locally. format is the remote's object format (sha1 for a new one).
func checkRemote(ctx context.Context, remote string) (path, format string, created bool, err error) {
	const sha1 = "sha1"
	if remote == "" {
		return "", sha1, false, nil
	}
	if strings.Contains(remote, "://") || strings.HasPrefix(remote, "git@") {
		return "", "", false, fault.Inputf("Remote", "remote %q: give a local path for the bare repository to create (push to a hosted remote with git push)", remote)
	}
	abs, err := filepath.Abs(remote)
	if err != nil {
		return "", "", false, fault.Inputf("Remote", "remote %q: %v", remote, err)
	}
	entries, err := os.ReadDir(abs)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", "", false, fmt.Errorf("create remote %s: %w", abs, err)
		}
		if _, err := (gitcmd.Runner{Dir: abs}).Run(ctx, "init", "--quiet", "--bare", "--initial-branch=main"); err != nil {
			return "", "", false, fmt.Errorf("init bare remote %s: %w", abs, err)
		}
		return abs, sha1, true, nil
	}
	if err != nil {
		return "", "", false, fault.Inputf("Remote", "remote %s: %v", abs, err)
	}
	g := gitcmd.Runner{Dir: abs}
	bare, err := g.Output(ctx, "rev-parse", "--is-bare-repository")
	if err != nil || bare != "true" {
		return "", "", false, fault.Inputf("Remote", "remote %s exists and is not a bare git repository: give a new path or an empty bare repository", abs)
	}
	if refs, _ := g.Output(ctx, "for-each-ref", "--count=1", "refs/heads"); refs != "" {
		return "", "", false, fault.Refusedf("remote refused: %s already has commits: clone it instead of initialising a new repository", abs)
	}
	format, err = g.Output(ctx, "rev-parse", "--show-object-format")
	if err != nil {
		return "", "", false, fmt.Errorf("object format of remote %s: %w", abs, err)
	}
	return abs, format, false, nil
}

func pushFirst(ctx context.Context, g gitcmd.Runner, remote string) error {
	if _, err := g.Run(ctx, "remote", "add", "origin", remote); err != nil {
		return fmt.Errorf("add remote origin %s: %w", remote, err)
	}
	g.Timeout = remoteTimeout
	if _, err := g.Run(ctx, "push", "--quiet", "--set-upstream", "origin", "main"); err != nil {
		return fault.Refusedf("remote refused: push to %s: %w", remote, err)
	}
	return nil
}

// renderScaffold reads the embedded scaffold and substitutes the URLs.
func renderScaffold(o InitOptions) (map[string][]byte, error) {
	repl := strings.NewReplacer(
		scaffold.DefaultRepoURL, or(o.RepoURL, scaffold.DefaultRepoURL),
		scaffold.DefaultChartRepo, or(o.ChartRepo, scaffold.DefaultChartRepo),
	)
	for _, u := range []string{o.RepoURL, o.ChartRepo} {
		if strings.ContainsAny(u, " \t\n'\"#") {
			return nil, fault.Invalidf("URL %q contains spaces, quotes or '#': give a plain repository URL", u)
		}
		// These URLs are committed (apps/*.yaml) and read by everyone with
		// access to the repository: a credential in them leaks for good.
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			return nil, fault.Invalidf("URL %s carries credentials, and it would be committed to apps/*.yaml: give the URL without user or token; Argo CD takes the credentials from a repository Secret", gitops.Redact(u))
		}
	}
	files := map[string][]byte{}
	err := fs.WalkDir(scaffold.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(scaffold.FS(), p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(p, AppsDir+"/") {
			b = []byte(repl.Replace(string(b)))
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded scaffold: %w", err)
	}
	return files, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func identity(cfg *delivery.Config, o Identity) Identity {
	id := cfg.Identity
	if o.Name != "" {
		id.Name = o.Name
	}
	if o.Email != "" {
		id.Email = o.Email
	}
	return id
}
