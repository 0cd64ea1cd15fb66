package delivery

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
)

func signersYAML(version int, signers, env string) string {
	return fmt.Sprintf("version: %d\napprovers: [alice]\nreleaseManagers: [minh]\n%senvironments:\n  - {name: dev}\n  - {name: staging, approval: approval%s}\n", version, signers, env)
}

func TestSignersMapLoginsToParsedKeys(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	c, err := Parse([]byte(signersYAML(3, fmt.Sprintf("signers:\n  - login: alice\n    keys: [%q]\n", alice.Public), ", signedApprovals: true")))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Environments[1].SignedApprovals {
		t.Error("staging's signedApprovals was not read")
	}
	if got := c.SignerKeys("alice"); len(got) != 1 {
		t.Errorf("alice's keys = %d, want 1", len(got))
	}
	if got := c.SignerKeys("minh"); len(got) != 0 {
		t.Errorf("minh's keys = %d, want none", len(got))
	}
}

func TestBadSignersAreInvalidInput(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	priv, err := os.ReadFile(alice.Path)
	if err != nil {
		t.Fatal(err)
	}
	one := func(login, key string) string {
		return fmt.Sprintf("signers:\n  - login: %s\n    keys: [%q]\n", login, key)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"signers in an older version", signersYAML(2, one("alice", alice.Public), ""), "write version: 3"},
		{"signedApprovals in an older version", signersYAML(2, one("alice", alice.Public), ", signedApprovals: true"), "write version: 3"},
		{"a private key pasted by mistake", signersYAML(3, one("alice", string(priv)), ""), "signers[0].keys[0]: this is a PRIVATE key: delete it"},
		{"a key that does not parse", signersYAML(3, one("alice", "ssh-ed25519 AAAAnope"), ""), "signers[0].keys[0]: not an SSH public key"},
		{"a login with a space", signersYAML(3, one("'alice '", alice.Public), ""), "signers[0].login: invalid login"},
		{"a signer without keys", signersYAML(3, "signers: [{login: alice, keys: []}]\n", ""), "alice has no key"},
		{"a login listed twice", signersYAML(3, one("alice", alice.Public)+fmt.Sprintf("  - login: alice\n    keys: [%q]\n", alice.Public), ""), "alice is listed twice"},
		{"one key for two people", signersYAML(3, one("alice", alice.Public)+fmt.Sprintf("  - login: minh\n    keys: [%q]\n", alice.Public), ""), "is also listed for alice"},
		{"signed approvals where none is needed", "version: 3\n" + one("alice", alice.Public) + "environments:\n  - {name: dev, signedApprovals: true}\n", "there is nothing to sign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !fault.IsInvalid(err) {
				t.Fatalf("Parse = %v, want invalid input with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "BEGIN OPENSSH") || strings.Contains(err.Error(), strings.Split(string(priv), "\n")[1]) {
				t.Fatalf("the error repeats the private key: %v", err)
			}
		})
	}
}

func TestSignedApprovalsThatNobodyCanGiveAreInvalid(t *testing.T) {
	t.Parallel()
	alice := signingtest.NewKey(t, "alice")
	// Only alice (an approver) has a key: prod's release managers have none.
	in := fmt.Sprintf("version: 3\napprovers: [alice]\nreleaseManagers: [minh]\nsigners: [{login: alice, keys: [%q]}]\nenvironments:\n  - {name: dev}\n  - {name: prod, approval: release-manager, signedApprovals: true}\n", alice.Public)
	_, err := Parse([]byte(in))
	if err == nil || !strings.Contains(err.Error(), "environments[1].signedApprovals: nobody who may approve prod has a key in signers") {
		t.Fatalf("Parse = %v", err)
	}
}
