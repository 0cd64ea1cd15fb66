package write

import (
	"bytes"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
)

// checkPersonSigner refuses, before anything is written, a rollback or a
// hold (placed or released) by a person in an environment with
// signedApprovals whose commit would not be signed by a key delivery.yaml
// lists for login. Where approvals must prove their approver, the person
// who takes prod back or stops its deploys must prove who they are too:
// a typed --by would let anyone act in the on-call's name.
//
// The gate watch (smpctl verify --for) is not a person and passes
// byGate: its rollback goes only to a digest that ran in the environment
// (ranIn) and its hold stops deploys, so an unsigned one can restore or
// pause, never ship.
func checkPersonSigner(repo *gitops.Repo, cfg *delivery.Config, e delivery.Environment, action, login string, byGate bool) error {
	if !e.SignedApprovals || byGate {
		return nil
	}
	fix := fmt.Sprintf("give --signing-key with the SSH key %s lists for %s under signers (or set git's gpg.format=ssh and user.signingKey)", delivery.FileName, login)
	s := repo.Signer()
	if s == nil {
		return fault.Refusedf("%s requires signed commits from people (signedApprovals in %s) and this %s by %s would not be signed: %s",
			e.Name, delivery.FileName, action, login, fix)
	}
	keys := cfg.SignerKeys(login)
	if len(keys) == 0 {
		return fault.Refusedf("%s requires signed commits from people (signedApprovals in %s) and %s lists no key for %s under signers: add their public key there (through a reviewed change) first",
			e.Name, delivery.FileName, delivery.FileName, login)
	}
	pk, ok := s.(publicKeyer)
	if !ok || pk.PublicKey() == nil {
		// An agent's key known only once signed: the commit still carries
		// the signature, which git verify-commit checks.
		return nil
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), pk.PublicKey().Marshal()) {
			return nil
		}
	}
	return fault.Refusedf("the signing key %s is not listed for %s under signers in %s, and %s requires signed commits from people: sign the %s with the key listed there, or add this one (through a reviewed change)",
		signing.Fingerprint(pk.PublicKey()), login, delivery.FileName, e.Name, action)
}

// checkFourEyesByKey refuses a deploy or promote into a release-manager
// environment whose approval was signed by the deployer's own key: the
// key that signs this commit, or any key delivery.yaml lists for the
// deployer's login. Names can differ for one person (carol and
// carol-admin); keys cannot. delivery.yaml's validation refuses one key
// under two logins already; this is the check at the gate itself, so a
// relaxed validation could not reopen self-approval.
func checkFourEyesByKey(repo *gitops.Repo, cfg *delivery.Config, e delivery.Environment, svc, version, deployer string, approvalKey ssh.PublicKey) error {
	if approvalKey == nil || e.Approval != delivery.ApprovalReleaseManager {
		return nil
	}
	mine := cfg.SignerKeys(deployer)
	if repo != nil {
		if pk, ok := repo.Signer().(publicKeyer); ok && pk.PublicKey() != nil {
			mine = append(mine, pk.PublicKey())
		}
	}
	for _, k := range mine {
		if bytes.Equal(k.Marshal(), approvalKey.Marshal()) {
			return fault.Refusedf("the approval of %s %s for %s is signed with key %s, which is %s's own: a release manager must not approve their own deploy, whatever login they use; another release manager must approve, signing with their key",
				svc, version, e.Name, signing.Fingerprint(approvalKey), deployer)
		}
	}
	return nil
}

// verified says whether verifyApproval passed.
func verified(_ ssh.PublicKey, err error) bool { return err == nil }
