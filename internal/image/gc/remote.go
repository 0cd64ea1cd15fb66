package gc

import (
	"context"
	"fmt"

	"github.com/smp/delivery/internal/gitops"
)

// ReadRemoteReferences reads what a remote GitOps repository points at for
// repository repo (see ReadReferences), through the mirror every smpctl
// command shares (gitops.OpenMirror): the remote's token and CA are used
// like any other command's, and a second run only fetches. It reads the
// remote's default branch, or r.Branch when set.
func ReadRemoteReferences(ctx context.Context, r gitops.Remote, o gitops.MirrorOptions, repo string) (References, error) {
	m, err := gitops.OpenMirror(ctx, r, o)
	if err != nil {
		return References{}, fmt.Errorf("read the GitOps repository: %w", err)
	}
	defer m.Close()
	rev := ""
	if r.Branch != "" {
		rev = "refs/heads/" + r.Branch
	}
	dir, cleanup, err := m.WorkTree(ctx, rev)
	if err != nil {
		return References{}, fmt.Errorf("read the GitOps repository: %w", err)
	}
	defer cleanup()
	return ReadReferences(dir, repo)
}
