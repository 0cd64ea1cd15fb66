package signing_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/signing"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
)

func parse(t *testing.T, k signingtest.Key) ssh.PublicKey {
	t.Helper()
	pk, err := signing.ParsePublicKey(k.Public)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func TestASignatureVerifiesOnlyAgainstTheKeyThatMadeIt(t *testing.T) {
	t.Parallel()
	alice, mallory := signingtest.NewKey(t, "alice"), signingtest.NewKey(t, "mallory")
	s, err := signing.NewKeySigner(alice.Path)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\napprove(prod): order-svc 3.3.0\n")
	sig, err := s.SignCommit(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(msg, sig, []ssh.PublicKey{parse(t, mallory), parse(t, alice)}); err != nil {
		t.Errorf("alice's signature against alice's key: %v", err)
	}
	if _, err := signing.Verify(msg, sig, []ssh.PublicKey{parse(t, mallory)}); err == nil || !strings.Contains(err.Error(), "not listed") {
		t.Errorf("alice's signature against mallory's key = %v, want not listed", err)
	}
	tampered := []byte(strings.Replace(string(msg), "3.3.0", "6.6.6", 1))
	if _, err := signing.Verify(tampered, sig, []ssh.PublicKey{parse(t, alice)}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a changed commit = %v, want does not match", err)
	}
	// The public key names the signer too (ssh-agent signs with it).
	if s2, err := signing.NewKeySigner(alice.Path + ".pub"); err != nil || s2.PublicKey() == nil {
		t.Errorf("signer of the .pub: %v", err)
	}
	if s.PublicKey() == nil || signing.Fingerprint(s.PublicKey()) != signing.Fingerprint(parse(t, alice)) {
		t.Error("the signer of the private key does not know its public key")
	}
}

func TestAKeyOfAnotherNamespaceDoesNotSignACommit(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	cmd := exec.Command("ssh-keygen", "-Y", "sign", "-n", "file", "-f", alice.Path)
	cmd.Stdin = strings.NewReader("payload")
	sig, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify([]byte("payload"), sig, []ssh.PublicKey{parse(t, alice)}); err == nil || !strings.Contains(err.Error(), `namespace "file"`) {
		t.Errorf("a file signature as a commit's = %v, want the namespace named", err)
	}
}

func TestParsePublicKeyNamesAPrivateKeyAsSuch(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	priv, err := os.ReadFile(alice.Path)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"a private key pasted whole":  string(priv),
		"a private key's first line":  "-----BEGIN OPENSSH PRIVATE KEY-----",
		"a PEM private key's heading": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
	} {
		if _, err := signing.ParsePublicKey(in); !errors.Is(err, signing.ErrPrivateKey) {
			t.Errorf("%s: %v, want ErrPrivateKey", name, err)
		}
	}
	for name, in := range map[string]string{
		"garbage":        "ssh-ed25519 not-base64",
		"two keys":       alice.Public + "\n" + alice.Public,
		"a fingerprint":  "SHA256:abcdef",
		"an empty entry": "",
	} {
		if _, err := signing.ParsePublicKey(in); err == nil || errors.Is(err, signing.ErrPrivateKey) {
			t.Errorf("%s: %v, want a parse error", name, err)
		}
	}
}

// The commits smpctl signs are the commits git signs: git verify-commit
// accepts them, and smpctl verifies what `git commit -S` signed.
func TestSignedCommitsAreGitsOwn(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	allowed := signingtest.AllowedSigners(t, map[string]signingtest.Key{"alice": alice})
	dir := t.TempDir()
	gitcmdtest.Git(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, "add", "a.yaml")
	gitcmdtest.Git(t, dir, "-c", "gpg.format=ssh", "-c", "user.signingKey="+alice.Path, "commit", "-q", "-S", "-m", "by git")
	ctx := context.Background()

	// git signed it: smpctl verifies it.
	raw := gitcmdtest.Git(t, dir, "cat-file", "commit", "HEAD") + "\n"
	payload, sig := signing.SplitCommit([]byte(raw), false)
	if sig == nil {
		t.Fatalf("no signature found in\n%s", raw)
	}
	if _, err := signing.Verify(payload, sig, []ssh.PublicKey{parse(t, alice)}); err != nil {
		t.Errorf("git's signature: %v", err)
	}

	// smpctl signs an unsigned commit: git verifies it.
	gitcmdtest.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "by smpctl\n\nApproved-By: alice")
	raw = gitcmdtest.Git(t, dir, "cat-file", "commit", "HEAD") + "\n"
	if _, sig := signing.SplitCommit([]byte(raw), false); sig != nil {
		t.Fatal("an unsigned commit has a signature")
	}
	s, err := signing.NewKeySigner(alice.Path)
	if err != nil {
		t.Fatal(err)
	}
	sig, err = s.SignCommit(ctx, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	signed := signing.AddSignature([]byte(raw), sig, false)
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(string(signed))
	sha, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	out := gitcmdtest.Git(t, dir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", strings.TrimSpace(string(sha)))
	if !strings.Contains(out, `Good "git" signature for alice`) {
		t.Errorf("git verify-commit:\n%s", out)
	}
	if p, back := signing.SplitCommit(signed, false); string(p) != raw || string(back) != string(sig) {
		t.Errorf("SplitCommit(AddSignature(c)) is not c:\n%s\n---\n%s", p, back)
	}
}

// A SHA-256 repository keeps the signature in gpgsig-sha256: git verifies
// what smpctl signs there too.
func TestSignedCommitsInASHA256RepositoryAreGitsOwn(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	allowed := signingtest.AllowedSigners(t, map[string]signingtest.Key{"alice": alice})
	dir := t.TempDir()
	gitcmdtest.Git(t, dir, "init", "-q", "--object-format=sha256", "-b", "main")
	gitcmdtest.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "approve(prod): order-svc 3.3.0")
	raw := gitcmdtest.Git(t, dir, "cat-file", "commit", "HEAD") + "\n"
	s, err := signing.NewKeySigner(alice.Path)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignCommit(context.Background(), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	signed := signing.AddSignature([]byte(raw), sig, true)
	if !strings.Contains(string(signed), "\ngpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n") {
		t.Fatalf("no gpgsig-sha256 header:\n%s", signed)
	}
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(string(signed))
	sha, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	out := gitcmdtest.Git(t, dir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", strings.TrimSpace(string(sha)))
	if !strings.Contains(out, `Good "git" signature for alice`) {
		t.Errorf("git verify-commit:\n%s", out)
	}
	payload, back := signing.SplitCommit(signed, true)
	if _, err := signing.Verify(payload, back, []ssh.PublicKey{parse(t, alice)}); err != nil {
		t.Errorf("smpctl's verification: %v", err)
	}
}
