package cli

import (
	"context"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/signing"
)

// signingKeyHelp is --signing-key's help: the commands that record a person
// (approve, rollback, hold, deploy, promote, freeze) sign their commit.
const signingKeyHelp = "SSH key to sign the commit with, proving --by (a private key, its .pub when ssh-agent holds it, or key::ssh-ed25519 AAAA...; default: git's user.signingKey when gpg.format is ssh). Required, and listed for --by under signers in delivery.yaml, for approve, rollback, hold, and a deploy or promote without --run, in an environment with signedApprovals"

// signer returns what signs the commits of this command: --signing-key
// (or SMP_SIGNING_KEY), else the key git itself signs with — user.signingKey
// when gpg.format is ssh — because an engineer who set git up to sign with
// SSH expects their approvals signed by the same key without saying so
// again. Nil when neither is set: commits are not signed.
func (o *writeOptions) signer(ctx context.Context) (gitops.Signer, error) {
	key := o.signingKey
	if key == "" {
		var err error
		if key, err = gitSigningKey(ctx); err != nil {
			return nil, err
		}
		if key == "" {
			return nil, nil
		}
	}
	s, err := signing.NewKeySigner(key)
	if err != nil {
		if o.signingKey == "" {
			return nil, fault.Invalidf("%w (the key is git's user.signingKey, used because gpg.format is ssh: fix it there, or give --signing-key)", err)
		}
		return nil, fault.Inputf("signingKey", "%w", err)
	}
	return s, nil
}

// gitSigningKey is git's user.signingKey (~ expanded) when gpg.format is
// ssh, from the configuration git would use here; "" otherwise.
func gitSigningKey(ctx context.Context) (string, error) {
	g := gitcmd.Runner{Timeout: 10 * time.Second}
	format, err := g.Run(ctx, "config", "--get", "gpg.format")
	if err != nil || strings.TrimSpace(string(format)) != "ssh" {
		return "", nil //nolint:nilerr // unset (git config exits 1) means git does not sign with SSH
	}
	key, err := g.Run(ctx, "config", "--type=path", "--get", "user.signingKey")
	if err != nil {
		return "", nil //nolint:nilerr // unset: nothing to sign with
	}
	return strings.TrimSpace(string(key)), nil
}
