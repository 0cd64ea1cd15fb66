package gc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/gitops/envfile"
)

// stateFile is a hold or approval record; both carry the digest they are about.
type stateFile struct {
	Digest string `yaml:"digest"`
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
	// Files are read through a root at dir: a symbolic link committed in
	// smp-gitops that leads out of it is an error, never followed (what
	// it points at is not what the environment runs).
	root, err := os.OpenRoot(dir)
	if err != nil {
		return refs, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	sort.Strings(envs)
	for _, f := range envs {
		rel, _ := filepath.Rel(dir, f)
		b, err := root.ReadFile(rel)
		if err != nil {
			return refs, fmt.Errorf("read %s: %w (a link out of the repository is not followed): fix it before running gc — nothing was deleted", rel, err)
		}
		// Only the image block matters here (docs/gitops-format.md); a file
		// that is not YAML, or whose image block is not one, stops gc.
		e, err := envfile.Decode(b)
		if err := envfile.Only(err, "image"); err != nil {
			return refs, fmt.Errorf("%w: %s is not valid YAML (%w): fix it before running gc — nothing was deleted", ErrBadInput, rel, err)
		}
		if e.Image.Repository != "" {
			same, err := sameRepository(e.Image.Repository, repo)
			if err != nil {
				return refs, fmt.Errorf("%w: %s: image.repository %q is not an image repository (%w): fix it before running gc — nothing was deleted", ErrBadInput, rel, e.Image.Repository, err)
			}
			if !same {
				continue
			}
		}
		if e.Image.Digest != "" {
			refs.Digests[e.Image.Digest] = append(refs.Digests[e.Image.Digest], rel)
		}
		if e.Image.Tag != "" {
			refs.Tags[e.Image.Tag] = append(refs.Tags[e.Image.Tag], rel)
		}
	}
	for _, kind := range []string{"holds", "approvals"} {
		err := filepath.WalkDir(filepath.Join(dir, "state", kind), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			b, err := root.ReadFile(rel)
			if err != nil {
				return fmt.Errorf("read %s: %w (a link out of the repository is not followed): fix it before running gc — nothing was deleted", rel, err)
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

// sameRepository reports whether two spellings name one repository: a
// registry's host is case-insensitive and :443 is https' own port, so
// "GHCR.io/smp/x" pulls what "ghcr.io/smp/x" does. Comparing the strings
// as written would skip such a file and let gc delete the digest it runs.
func sameRepository(a, b string) (bool, error) {
	ra, err := name.NewRepository(a)
	if err != nil {
		return false, err
	}
	rb, err := name.NewRepository(b)
	if err != nil {
		return false, err
	}
	host := func(r name.Repository) string {
		return strings.TrimSuffix(strings.ToLower(r.RegistryStr()), ":443")
	}
	return host(ra) == host(rb) && ra.RepositoryStr() == rb.RepositoryStr(), nil
}
