package retention

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// envFile is the part of an environment file retention reads
// (GITOPS-FORMAT: environments/<env>/<service>.yaml).
type envFile struct {
	Image struct {
		Repository string `yaml:"repository"`
		Tag        string `yaml:"tag"`
		Digest     string `yaml:"digest"`
	} `yaml:"image"`
}

// stateFile is a hold or approval record; both carry the digest they are about.
type stateFile struct {
	Digest string `yaml:"digest"`
}

// IsGitURL reports whether s names a remote repository rather than a path.
func IsGitURL(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@")
}

// Clone makes a shallow clone of a GitOps repository URL into a temporary
// directory and returns it with a cleanup function.
func Clone(ctx context.Context, url string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "smpctl-gitops-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "clone", "--quiet", "--depth", "1", url, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("clone %s: %w: %s", url, err, strings.TrimSpace(stderr.String()))
	}
	return dir, cleanup, nil
}

// ReadReferences reads every digest and tag the GitOps checkout at dir
// points at for repository repo: image.digest and image.tag of
// environments/*/*.yaml whose image.repository is repo (or unset), and
// the digest of every hold and approval record. A file that cannot be read
// is an error: retention must not guess what is deployed.
func ReadReferences(dir, repo string) (References, error) {
	refs := References{Digests: map[string][]string{}, Tags: map[string][]string{}}
	envs, err := filepath.Glob(filepath.Join(dir, "environments", "*", "*.yaml"))
	if err != nil {
		return refs, err
	}
	if st, err := os.Stat(filepath.Join(dir, "environments")); err != nil || !st.IsDir() {
		return refs, fmt.Errorf("%w: %s has no environments/ directory: give the smp-gitops repository (path or git URL)", ErrBadInput, dir)
	}
	sort.Strings(envs)
	for _, f := range envs {
		rel, _ := filepath.Rel(dir, f)
		b, err := os.ReadFile(f)
		if err != nil {
			return refs, fmt.Errorf("read %s: %w", rel, err)
		}
		var e envFile
		if err := yaml.Unmarshal(b, &e); err != nil {
			return refs, fmt.Errorf("%w: %s is not valid YAML (%w): fix it before running gc — nothing was deleted", ErrBadInput, rel, err)
		}
		if e.Image.Repository != "" && e.Image.Repository != repo {
			continue
		}
		if e.Image.Digest != "" {
			refs.Digests[e.Image.Digest] = append(refs.Digests[e.Image.Digest], rel)
		}
		if e.Image.Tag != "" {
			refs.Tags[e.Image.Tag] = append(refs.Tags[e.Image.Tag], rel)
		}
	}
	for _, kind := range []string{"holds", "approvals"} {
		root := filepath.Join(dir, "state", kind)
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			b, err := os.ReadFile(p) //nolint:gosec // the GitOps checkout is ours: a fresh clone or the path the user named
			if err != nil {
				return err
			}
			var s stateFile
			if err := yaml.Unmarshal(b, &s); err != nil {
				return fmt.Errorf("%w: %s is not valid YAML (%w)", ErrBadInput, rel, err)
			}
			if s.Digest != "" {
				refs.Digests[s.Digest] = append(refs.Digests[s.Digest], rel)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return refs, err
		}
	}
	return refs, nil
}
