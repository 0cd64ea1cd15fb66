package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

// Head reads the branch of every form of remote the runtime is given: a
// bare repository or a work tree on this machine (read where it is, one git
// process) and a URL (ls-remote), with the same answer and the same message
// for a branch that does not exist.
func TestHeadReadsTheBranchOfEveryFormOfRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	gitcmdtest.Git(t, "", "init", "--quiet", "--initial-branch=main", work)
	gitcmdtest.Git(t, work, "commit", "--quiet", "--allow-empty", "-m", "gitops: init")
	head := gitcmdtest.Git(t, work, "rev-parse", "HEAD")
	bare := filepath.Join(dir, "smp-gitops.git")
	gitcmdtest.Git(t, "", "clone", "--quiet", "--bare", work, bare)
	ctx := context.Background()
	for name, remote := range map[string]string{"bare repository": bare, "work tree": work, "file URL": "file://" + bare} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, err := (&GitRepo{Remote: remote}).Head(ctx); err != nil || got != head {
				t.Errorf("Head of %s = %q, %v; want %s", remote, got, err, head)
			}
			_, err := (&GitRepo{Remote: remote, Branch: "release"}).Head(ctx)
			if err == nil || !strings.Contains(err.Error(), "branch release does not exist (run smpctl gitops init)") {
				t.Errorf("Head of a branch %s lacks: %v", remote, err)
			}
		})
	}
	if _, err := (&GitRepo{Remote: filepath.Join(dir, "nothing-here")}).Head(ctx); err == nil || !strings.Contains(err.Error(), "read head of "+filepath.Join(dir, "nothing-here")) {
		t.Errorf("Head of a path that is no repository: %v", err)
	}
}
