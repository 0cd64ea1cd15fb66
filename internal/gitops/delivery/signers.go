package delivery

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/gitops/signing"
)

// SignersVersion is the format version that added signed approvals:
// signers and an environment's signedApprovals. An older smpctl reads such
// a repository but must not write it: it would let an unsigned approval
// through the gate.
const SignersVersion = 3

// Signer maps a login to the SSH public keys that prove it: an approval
// by the login counts, where signedApprovals is on, only when its commit
// is signed by one of these keys.
type Signer struct {
	Login string `yaml:"login" json:"login"`
	// Keys in the authorized_keys form: "ssh-ed25519 AAAA... alice@laptop".
	Keys []string `yaml:"keys" json:"keys"`
}

// SignerKeys returns the parsed public keys delivery.yaml lists for login;
// none when the login has none. Validate has parsed them already.
func (c *Config) SignerKeys(login string) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for _, s := range c.Signers {
		if s.Login != login {
			continue
		}
		for _, k := range s.Keys {
			if pk, err := signing.ParsePublicKey(k); err == nil {
				keys = append(keys, pk)
			}
		}
	}
	return keys
}

// validateSigners checks signers and signedApprovals: known format
// version, logins, keys that parse (a private key pasted by mistake is
// named as such), and that an environment that requires signed approvals
// has someone who can give one.
func (c *Config) validateSigners() []error {
	var errs []error
	uses := len(c.Signers) > 0
	for _, e := range c.Environments {
		uses = uses || e.SignedApprovals
	}
	if uses && c.Version < SignersVersion {
		errs = append(errs, fmt.Errorf("signers and signedApprovals were added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not write past them", SignersVersion, c.Version, SignersVersion, FileName))
	}
	seen := map[string]bool{}
	owner := map[string]string{} // key → login: one key proves one person
	for i, s := range c.Signers {
		where := fmt.Sprintf("signers[%d]", i)
		if err := CheckPerson("login", s.Login); err != nil {
			errs = append(errs, fmt.Errorf("%s.login: %w", where, err))
		}
		if seen[s.Login] {
			errs = append(errs, fmt.Errorf("%s.login: %s is listed twice: put all of a person's keys in one entry", where, s.Login))
		}
		seen[s.Login] = true
		if len(s.Keys) == 0 {
			errs = append(errs, fmt.Errorf("%s.keys: %s has no key: add the one line of their .pub file (ssh-ed25519 AAAA...)", where, s.Login))
		}
		for j, k := range s.Keys {
			pk, err := signing.ParsePublicKey(k)
			switch {
			case errors.Is(err, signing.ErrPrivateKey):
				errs = append(errs, fmt.Errorf("%s.keys[%d]: %w: delete it from %s at once, treat it as exposed (it is in git history: make a new key pair) and list the public key (the .pub file) instead", where, j, err, FileName))
				continue
			case err != nil:
				errs = append(errs, fmt.Errorf("%s.keys[%d]: %w", where, j, err))
				continue
			}
			fp := signing.Fingerprint(pk)
			if other, dup := owner[fp]; dup && other != s.Login {
				errs = append(errs, fmt.Errorf("%s.keys[%d]: key %s is also listed for %s: a key proves one person, so each person needs their own", where, j, fp, other))
			}
			owner[fp] = s.Login
		}
	}
	for i, e := range c.Environments {
		if !e.SignedApprovals {
			continue
		}
		where := fmt.Sprintf("environments[%d].signedApprovals", i)
		if e.Approval == ApprovalNone {
			errs = append(errs, fmt.Errorf("%s: %s needs no approval (approval: none), so there is nothing to sign: set approval, or remove signedApprovals", where, e.Name))
			continue
		}
		may := c.ReleaseManagers
		if e.Approval == ApprovalRequired {
			may = append(append([]string(nil), c.Approvers...), c.ReleaseManagers...)
		}
		signer := false
		for _, p := range may {
			signer = signer || seen[p]
		}
		if !signer {
			errs = append(errs, fmt.Errorf("%s: nobody who may approve %s has a key in signers, so no approval could pass: list their public keys under signers", where, e.Name))
		}
	}
	return errs
}
