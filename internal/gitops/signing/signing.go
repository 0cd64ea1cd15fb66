// Package signing proves who made a commit of the GitOps repository: git's
// native SSH signing (gpg.format=ssh), which signs a commit object with
// `ssh-keygen -Y sign -n git` and stores the armored SSH signature (the
// sshsig format of OpenSSH's PROTOCOL.sshsig) in the commit's gpgsig header.
//
// Signing runs ssh-keygen, as git does, so whatever an engineer's git can
// sign with — a key file, a key held by ssh-agent, a FIDO key — smpctl can
// too, and `git verify-commit` with an allowed-signers file accepts what it
// signs. Verifying is done here in Go against the public keys delivery.yaml
// lists for a login: the machines that gate a deploy (CI runners) need no
// ssh-keygen, no temporary allowed-signers file, and cannot be fooled by
// an allowed-signers file that maps a key to another principal.
package signing

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Namespace is the sshsig namespace git signs commits in: a signature made
// for another purpose (a file, an e-mail) under another namespace does not
// verify as a commit's.
const Namespace = "git"

// ErrPrivateKey means a private key was given where a public key belongs.
var ErrPrivateKey = errors.New("this is a PRIVATE key")

// ParsePublicKey reads one public key in the authorized_keys form
// ("ssh-ed25519 AAAA... alice@laptop"). A private key pasted by mistake is
// refused with ErrPrivateKey, so the message can tell its owner to replace
// it (and that it is now exposed) rather than that it "does not parse".
func ParsePublicKey(s string) (ssh.PublicKey, error) {
	if strings.Contains(s, "PRIVATE KEY") {
		return nil, ErrPrivateKey
	}
	if _, err := ssh.ParseRawPrivateKey([]byte(s)); err == nil {
		return nil, ErrPrivateKey
	}
	k, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("not an SSH public key (want the one line of a .pub file, e.g. ssh-ed25519 AAAA... you@host): %w", err)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one key in one entry: give each key as its own list item")
	}
	return k, nil
}

// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l prints it.
func Fingerprint(k ssh.PublicKey) string { return ssh.FingerprintSHA256(k) }

const (
	armorStart = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	magic      = "SSHSIG"
)

// signature is an sshsig blob (OpenSSH PROTOCOL.sshsig).
type signature struct {
	key       ssh.PublicKey
	namespace string
	reserved  string
	hashAlg   string
	sig       *ssh.Signature
}

// parseArmored decodes an armored SSH signature.
func parseArmored(armored []byte) (*signature, error) {
	s := strings.TrimSpace(string(armored))
	if !strings.HasPrefix(s, armorStart) || !strings.HasSuffix(s, armorEnd) {
		return nil, errors.New("not an SSH signature (a GPG or X.509 signature is not accepted: sign with an SSH key)")
	}
	body := strings.Join(strings.Fields(s[len(armorStart):len(s)-len(armorEnd)]), "")
	blob, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	if !bytes.HasPrefix(blob, []byte(magic)) {
		return nil, errors.New("SSH signature: no SSHSIG preamble")
	}
	var w struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		HashAlg   string
		Signature []byte
	}
	if err := ssh.Unmarshal(blob[len(magic):], &w); err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	if w.Version != 1 {
		return nil, fmt.Errorf("SSH signature: version %d, want 1", w.Version)
	}
	k, err := ssh.ParsePublicKey(w.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("SSH signature: its key: %w", err)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(w.Signature, sig); err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	return &signature{key: k, namespace: w.Namespace, reserved: w.Reserved, hashAlg: w.HashAlg, sig: sig}, nil
}

// signedData is what the key signed: the preamble, namespace and hash
// algorithm bind the signature to its purpose, then the message's hash.
func (s *signature) signedData(message []byte) ([]byte, error) {
	var h []byte
	switch s.hashAlg {
	case "sha512":
		d := sha512.Sum512(message)
		h = d[:]
	case "sha256":
		d := sha256.Sum256(message)
		h = d[:]
	default:
		return nil, fmt.Errorf("SSH signature: hash algorithm %q is not sha256 or sha512", s.hashAlg)
	}
	var b bytes.Buffer
	b.WriteString(magic)
	for _, f := range [][]byte{[]byte(s.namespace), []byte(s.reserved), []byte(s.hashAlg), h} {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(f))) //nolint:gosec // a namespace, an algorithm name and a hash: far below 4 GiB
		b.Write(f)
	}
	return b.Bytes(), nil
}

// Verify checks that armored is a valid signature of message in the git
// namespace by one of keys, and returns that key. The error says which key
// made the signature when it is not one of keys, so a person can see they
// signed with the wrong key.
func Verify(message, armored []byte, keys []ssh.PublicKey) (ssh.PublicKey, error) {
	s, err := parseArmored(armored)
	if err != nil {
		return nil, err
	}
	if s.namespace != Namespace {
		return nil, fmt.Errorf("the signature is for namespace %q, not %q (a commit signature)", s.namespace, Namespace)
	}
	var match ssh.PublicKey
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), s.key.Marshal()) {
			match = k
			break
		}
	}
	if match == nil {
		return nil, fmt.Errorf("signed with key %s, which is not listed", Fingerprint(s.key))
	}
	data, err := s.signedData(message)
	if err != nil {
		return nil, err
	}
	if err := match.Verify(data, s.sig); err != nil {
		return nil, fmt.Errorf("the signature by key %s does not match the commit (altered after signing?): %w", Fingerprint(s.key), err)
	}
	return match, nil
}

// SignerKey returns the public key that made an armored signature, without
// verifying it: what to report about a signature no listed key verifies.
func SignerKey(armored []byte) (ssh.PublicKey, error) {
	s, err := parseArmored(armored)
	if err != nil {
		return nil, err
	}
	return s.key, nil
}
