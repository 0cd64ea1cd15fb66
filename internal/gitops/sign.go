package gitops

import (
	"context"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/gitops/signing"
)

// Signer signs commit objects with git's SSH signing (package signing):
// given the object without its signature header, it returns the armored
// signature. A Repo opened with Options.Signer signs every commit it makes,
// so an approval, a rollback or a hold proves who made it.
type Signer interface {
	SignCommit(ctx context.Context, payload []byte) (armored []byte, err error)
}

var _ Signer = (*signing.KeySigner)(nil)

// Signer returns the signer commits are signed with, nil when they are not.
func (r *Repo) Signer() Signer { return r.opts.Signer }

// sign replaces the commit fast-import made (git 2.39's fast-import cannot
// write a signature) with the same object plus its signature header, as
// `git commit -S` would have written it, and returns the new hash.
func (r *Repo) sign(ctx context.Context, t *Tree, sha string) (string, error) {
	raw, err := r.git(ctx, t.scratch.dir, nil, "cat-file", "commit", sha)
	if err != nil {
		return "", fmt.Errorf("sign commit %.12s: %w", sha, err)
	}
	sig, err := r.opts.Signer.SignCommit(ctx, []byte(raw))
	if err != nil {
		return "", err
	}
	signed := signing.AddSignature([]byte(raw), sig, len(sha) == 64)
	out, err := r.git(ctx, t.scratch.dir, signed, "hash-object", "-t", "commit", "-w", "--stdin")
	if err != nil {
		return "", fmt.Errorf("sign commit %.12s: %w", sha, err)
	}
	return strings.TrimSpace(out), nil
}

// CommitObject returns the raw commit object rev names, signature header
// included: what a verifier of the commit's signature reads.
func (t *Tree) CommitObject(rev string) ([]byte, error) {
	if strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("read commit %s: not a revision", rev)
	}
	typ, content, _, err := t.objects.read(rev)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", rev, err)
	}
	if typ != "commit" {
		return nil, fmt.Errorf("read commit %s: it is a %s", rev, typ)
	}
	return content, nil
}

// SHA256 reports whether the repository hashes objects with SHA-256 (its
// commits are then signed in the gpgsig-sha256 header).
func (t *Tree) SHA256() bool { return len(t.head) == 64 }
