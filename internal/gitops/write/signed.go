package write

import (
	"bytes"
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
	"github.com/smp/delivery/internal/gitops/statefile"
)

// checkSignedApproval lets an approval of svc version through the gate of
// an environment with signedApprovals only when the commit that wrote the
// approval file as it is now is signed by a key delivery.yaml lists for
// the login the file names. A typed --by proves nothing; the signature
// proves the approver held the key.
//
// The commit checked is the newest one that changed the file, so an
// unsigned edit after a signed approval (another digest, another name)
// makes the approval unsigned again.
//
// It returns the key that signed the approval; nil where none is required.
func checkSignedApproval(ctx context.Context, t *gitops.Tree, cfg *delivery.Config, e delivery.Environment, svc, version string) (ssh.PublicKey, error) {
	// Before the environment's own settings are believed: an unsigned
	// commit could have turned its signing (or its approval) off.
	if err := checkTrustChanges(ctx, t); err != nil {
		return nil, err
	}
	if !e.SignedApprovals || e.Approval == delivery.ApprovalNone {
		return nil, nil
	}
	p := approvalPath(e.Name, svc, version)
	b, err := t.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	a, err := statefile.DecodeApproval(b)
	if err != nil {
		return nil, fault.Invalidf("%s in the GitOps repository is not an approval: %w", p, err)
	}
	return verifyApproval(ctx, t, cfg, e, svc, version, a.ApprovedBy, b)
}

// verifyApproval checks the signature of the commit that last wrote the
// approval file, whose content is b and whose approver is login, and
// returns the key that signed it.
func verifyApproval(ctx context.Context, t *gitops.Tree, cfg *delivery.Config, e delivery.Environment, svc, version, login string, b []byte) (ssh.PublicKey, error) {
	p := approvalPath(e.Name, svc, version)
	fix := fmt.Sprintf("%s must approve again, signing with the key %s lists for %s under signers: `smpctl approve --env %s --service %s --version %s --by %s --signing-key ~/.ssh/id_ed25519`",
		login, delivery.FileName, login, e.Name, svc, version, login)
	var rev gitops.Revision
	found := false
	if err := t.Log(ctx, p, func(r gitops.Revision) (bool, error) {
		rev, found = r, true
		return true, nil
	}); err != nil {
		return nil, err
	}
	if !found {
		return nil, fault.Refusedf("%s requires signed approvals and no commit wrote %s: %s", e.Name, p, fix)
	}
	what := fmt.Sprintf("the approval of %s %s for %s by %s (commit %.12s)", svc, version, e.Name, login, rev.Hash)
	// Belt and braces: the file must be what the checked commit wrote.
	if then, err := t.Show(ctx, rev.Hash, p); err != nil || !bytes.Equal(then, b) {
		return nil, fault.Refusedf("%s: %s is not what that commit wrote: %s", what, p, fix)
	}
	if by := rev.Trailers["Approved-By"]; by != "" && by != login {
		return nil, fault.Refusedf("%s: its commit says Approved-By: %s, and the file says %s: %s", what, by, login, fix)
	}
	keys := cfg.SignerKeys(login)
	if len(keys) == 0 {
		return nil, fault.Refusedf("%s: %s requires signed approvals and %s lists no key for %s under signers: add their public key there (through a reviewed change), then %s", what, e.Name, delivery.FileName, login, fix)
	}
	raw, err := t.CommitObject(rev.Hash)
	if err != nil {
		return nil, err
	}
	payload, sig := signing.SplitCommit(raw, t.SHA256())
	if sig == nil {
		return nil, fault.Refusedf("%s is not signed, and %s requires signed approvals (signedApprovals in %s): %s", what, e.Name, delivery.FileName, fix)
	}
	key, err := signing.Verify(payload, sig, keys)
	if err != nil {
		return nil, fault.Refusedf("%s does not prove %s approved: %w, for %s in %s: %s", what, login, err, login, delivery.FileName, fix)
	}
	return key, nil
}

// publicKeyer is a signer that knows its public key before signing
// (signing.KeySigner).
type publicKeyer interface{ PublicKey() ssh.PublicKey }

// checkApprovalSigner refuses, before anything is written, an approval
// for an environment with signedApprovals that would not pass its gate:
// no signing key, or a key not listed for the approver.
func checkApprovalSigner(repo *gitops.Repo, cfg *delivery.Config, e delivery.Environment, login string) error {
	if !e.SignedApprovals {
		return nil
	}
	s := repo.Signer()
	if s == nil {
		return fault.Refusedf("%s requires signed approvals (signedApprovals in %s) and this approval would not be signed: give --signing-key with the SSH key %s lists for %s under signers (or set git's gpg.format=ssh and user.signingKey)",
			e.Name, delivery.FileName, delivery.FileName, login)
	}
	keys := cfg.SignerKeys(login)
	if len(keys) == 0 {
		return fault.Refusedf("%s requires signed approvals and %s lists no key for %s under signers: add their public key there (through a reviewed change) first", e.Name, delivery.FileName, login)
	}
	pk, ok := s.(publicKeyer)
	if !ok || pk.PublicKey() == nil {
		return nil // known only once signed; the gate checks it then
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), pk.PublicKey().Marshal()) {
			return nil
		}
	}
	return fault.Refusedf("the signing key %s is not listed for %s under signers in %s: sign with the key listed there, or add this one (through a reviewed change)",
		signing.Fingerprint(pk.PublicKey()), login, delivery.FileName)
}
