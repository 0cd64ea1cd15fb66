package signing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/fault"
)

// KeySigner signs commits as git does with gpg.format=ssh: `ssh-keygen -Y
// sign -n git -f KEY`, the commit object on standard input. KEY means what
// git's user.signingKey means for SSH: a private key file, a public key
// file whose private half ssh-agent holds, or "key::" followed by a
// public key (also held by the agent).
type KeySigner struct {
	key     string        // the path ssh-keygen is given
	literal string        // a key:: public key, written to a file per Sign
	pub     ssh.PublicKey // nil when it cannot be known before signing
	// Program is ssh-keygen (git's gpg.ssh.program).
	Program string
	// Timeout bounds one signature: long enough to type a passphrase or
	// touch a hardware key, short enough that a forgotten prompt ends.
	Timeout time.Duration
}

// NewKeySigner checks spec (a path or a key:: literal) and returns a
// signer for it. Its errors are invalid input that says how to fix it.
func NewKeySigner(spec string) (*KeySigner, error) {
	s := &KeySigner{Program: "ssh-keygen", Timeout: 2 * time.Minute}
	if lit, ok := strings.CutPrefix(spec, "key::"); ok {
		k, err := ParsePublicKey(lit)
		if err != nil {
			return nil, fault.Invalidf("signing key %q: %w", spec, err)
		}
		s.literal, s.pub = lit, k
		return s, nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, fault.Invalidf("signing key: %w: give the path of your SSH key (the private key, or its .pub when ssh-agent holds it), as git's user.signingKey", err)
	}
	s.key = spec
	switch {
	case bytes.Contains(b, []byte("PRIVATE KEY")):
		if k, err := ssh.ParsePrivateKey(b); err == nil {
			s.pub = k.PublicKey()
		} else if pb, err := os.ReadFile(spec + ".pub"); err == nil {
			s.pub, _ = ParsePublicKey(string(pb)) // an encrypted key: its .pub names it
		}
	default:
		k, err := ParsePublicKey(string(b))
		if err != nil {
			return nil, fault.Invalidf("signing key %s: %w", spec, err)
		}
		s.pub = k
	}
	return s, nil
}

// PublicKey is the key that will sign, or nil when it cannot be known
// before signing (an encrypted private key without its .pub).
func (s *KeySigner) PublicKey() ssh.PublicKey { return s.pub }

// SignCommit returns the armored SSH signature of a commit object.
func (s *KeySigner) SignCommit(ctx context.Context, payload []byte) ([]byte, error) {
	key := s.key
	if s.literal != "" {
		dir, err := os.MkdirTemp("", "smpctl-signing-key-")
		if err != nil {
			return nil, fmt.Errorf("sign the commit: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
		key = filepath.Join(dir, "key.pub")
		if err := os.WriteFile(key, []byte(s.literal+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("sign the commit: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Program, "-Y", "sign", "-n", Namespace, "-f", key) // #nosec G204 -- the program and key are the user's own configuration
	cmd.Stdin = bytes.NewReader(payload)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.ReplaceAll(stderr.String(), "Signing data on standard input", ""))
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("no signature within %s (waiting for a passphrase or a hardware key?)", s.Timeout)
		}
		return nil, fault.Refusedf("sign the commit with %s: %w: %s: check the key (ssh-add -l lists what the agent holds; for a .pub or key:: the agent must hold its private key)", s.describe(), err, msg)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(stdout.Bytes()), []byte(armorStart)) {
		return nil, fmt.Errorf("sign the commit with %s: %s printed no SSH signature", s.describe(), s.Program)
	}
	return stdout.Bytes(), nil
}

func (s *KeySigner) describe() string {
	if s.literal != "" {
		return "the agent's key " + Fingerprint(s.pub)
	}
	return s.key
}
