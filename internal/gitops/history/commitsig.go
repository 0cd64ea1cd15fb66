package history

import (
	"context"
	"fmt"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
)

// CommitSignature says whether an event's commit is signed by a key
// delivery.yaml (at the head read) lists for the person it names: the
// approver of an approval, else who deployed, rolled back or held.
type CommitSignature struct {
	Signed bool `json:"signed"`
	// By is the login whose listed key signed it.
	By string `json:"by,omitempty"`
	// Key is that key's fingerprint (SHA256:...).
	Key string `json:"key,omitempty"`
	// Problem says why it is not signed by a listed key: "unsigned",
	// or what the verification found.
	Problem string `json:"problem,omitempty"`
}

// signer is the login whose keys sign e.
func (e Event) signer() string {
	if e.Action == ActionApprove {
		return e.ApprovedBy
	}
	return e.DeployedBy
}

// signEvents fills Event.Signature for events, when delivery.yaml lists
// signers (without keys there is nothing to verify against, and every
// event would read "unsigned"). One `git cat-file --batch` reads every
// commit.
func (r *Repo) signEvents(ctx context.Context, cfg *delivery.Config, events []Event) error {
	if cfg == nil || len(cfg.Signers) == 0 || len(events) == 0 {
		return nil
	}
	var names []string
	for _, e := range events {
		names = append(names, e.Commit)
	}
	commits, err := r.git.CatFiles(ctx, names)
	if err != nil {
		return fmt.Errorf("read the commits of %s: %w", r.Source, err)
	}
	for i, c := range commits {
		events[i].Signature = verifyCommit(cfg, c, events[i].Commit, events[i].signer())
	}
	return nil
}

func verifyCommit(cfg *delivery.Config, raw []byte, hash, login string) *CommitSignature {
	if raw == nil {
		return &CommitSignature{Problem: "commit not found"}
	}
	payload, sig := signing.SplitCommit(raw, len(hash) == 64)
	if sig == nil {
		return &CommitSignature{Problem: "unsigned"}
	}
	keys := cfg.SignerKeys(login)
	if len(keys) == 0 {
		return &CommitSignature{Problem: fmt.Sprintf("signed, but delivery.yaml lists no key for %q", login)}
	}
	k, err := signing.Verify(payload, sig, keys)
	if err != nil {
		return &CommitSignature{Problem: err.Error()}
	}
	return &CommitSignature{Signed: true, By: login, Key: signing.Fingerprint(k)}
}
