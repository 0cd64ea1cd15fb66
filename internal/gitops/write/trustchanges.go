package write

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
)

// checkTrustChanges refuses delivery.yaml when the newest change to who
// may approve and which keys prove them (approvers, releaseManagers,
// signers), made after signing was turned on, is not signed by a release
// manager's key as listed in delivery.yaml before that change. Otherwise
// whoever can push to smp-gitops could list their own key for alice and
// sign approvals in her name.
//
// Only commits that changed delivery.yaml are read (git log --
// delivery.yaml), newest first, each version parsed once, and the walk
// stops at the first that changed the lists, or at the one that turned
// signing on: that one and delivery.yaml's first version are trusted as
// the review of smp-gitops let them through.
func checkTrustChanges(ctx context.Context, t *gitops.Tree) error {
	var (
		refusal error
		newer   *gitops.Revision // the newest version not yet compared with the one before it
		newCfg  *delivery.Config
	)
	err := t.Log(ctx, delivery.FileName, func(rev gitops.Revision) (bool, error) {
		cfg := configAt(ctx, t, rev.Hash)
		if cfg == nil {
			// A version that does not parse (or a deletion) gated nothing:
			// the change is judged between the parseable ones around it.
			return false, nil
		}
		if newer == nil {
			newer, newCfg = &rev, cfg
			return false, nil
		}
		switch {
		case !signingOn(cfg):
			return true, nil // newer turned signing on: its trust is the review of smp-gitops
		case sameTrust(newCfg, cfg):
			newer, newCfg = &rev, cfg
			return false, nil
		}
		refusal = verifyTrustChange(t, *newer, cfg)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("check changes to %s: %w", delivery.FileName, err)
	}
	return refusal
}

// configAt is delivery.yaml as of rev; nil when it is not there or does
// not parse.
func configAt(ctx context.Context, t *gitops.Tree, rev string) *delivery.Config {
	b, err := t.Show(ctx, rev, delivery.FileName)
	if err != nil {
		return nil
	}
	c, err := delivery.Parse(b)
	if err != nil {
		return nil
	}
	return c
}

func signingOn(c *delivery.Config) bool {
	return slices.ContainsFunc(c.Environments, func(e delivery.Environment) bool { return e.SignedApprovals })
}

// sameTrust says whether a and b name the same approvers, release
// managers and keys.
func sameTrust(a, b *delivery.Config) bool {
	return slices.Equal(a.Approvers, b.Approvers) && slices.Equal(a.ReleaseManagers, b.ReleaseManagers) &&
		slices.EqualFunc(a.Signers, b.Signers, func(x, y delivery.Signer) bool { return x.Login == y.Login && slices.Equal(x.Keys, y.Keys) })
}

// verifyTrustChange checks that rev, a change to the trust lists, is
// signed by a key before lists for one of its release managers.
func verifyTrustChange(t *gitops.Tree, rev gitops.Revision, before *delivery.Config) error {
	what := fmt.Sprintf("commit %.12s (%q) changes who may approve or which keys prove them in %s", rev.Hash, rev.Subject, delivery.FileName)
	fix := fmt.Sprintf("a release manager listed before that change (%v) must make it again, signed with their key (git commit -S with gpg.format=ssh), or revert it", before.ReleaseManagers)
	raw, err := t.CommitObject(rev.Hash)
	if err != nil {
		return err
	}
	payload, sig := signing.SplitCommit(raw, t.SHA256())
	if sig == nil {
		return fault.Refusedf("%s and is not signed; where approvals must be signed, such a change counts only when a release manager signs it: %s", what, fix)
	}
	var keys []ssh.PublicKey
	for _, rm := range before.ReleaseManagers {
		keys = append(keys, before.SignerKeys(rm)...)
	}
	if _, err := signing.Verify(payload, sig, keys); err != nil {
		return fault.Refusedf("%s and is not signed by a release manager's key (%v); such a change counts only when a release manager signs it: %s", what, err, fix)
	}
	return nil
}
