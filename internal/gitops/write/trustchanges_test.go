package write_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
	"github.com/smp/delivery/internal/gitops/write"
)

// Issue #15 item 1: a change to delivery.yaml's approvers, release
// managers or signers counts only when a release manager (as listed
// before the change) signs it.

const trustDeliveryYAML = `version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval, signedApprovals: true}
approvers: [alice]
releaseManagers: [rita]
signers:
  - login: alice
    keys: [%q]
  - login: rita
    keys: [%q]
services:
  - name: order-svc
`

type trustFixture struct {
	bare                 string
	alice, rita, mallory signingtest.Key
}

// newTrustRemote is a remote with signing on from its first commit, and
// order-svc 3.3.0 in dev, approved for staging by alice (signed).
func newTrustRemote(t *testing.T) trustFixture {
	t.Helper()
	f := trustFixture{alice: signingtest.NewKey(t, "alice"), rita: signingtest.NewKey(t, "rita"), mallory: signingtest.NewKey(t, "mallory")}
	files := map[string]string{"delivery.yaml": fmt.Sprintf(trustDeliveryYAML, f.alice.Public, f.rita.Public)}
	for _, env := range []string{"dev", "staging"} {
		files["environments/"+env+"/order-svc.yaml"] = fmt.Sprintf(envFile, env, strings.Repeat("1", 64))
	}
	f.bare = gitopstest.NewRemote(t, files)
	if _, err := write.Deploy(context.Background(), repoFor(t, f.bare), write.DeployRequest{
		Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: img(t, "order-svc", "3.3.0", 'd'),
	}); err != nil {
		t.Fatal(err)
	}
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	return f
}

// addMallory lists mallory as an approver with her key, committed by
// hand (git commit with gitArgs, say a signing key) as anyone with push
// access can.
func addMallory(t *testing.T, f trustFixture, gitArgs ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", f.bare, dir)
	body := fmt.Sprintf(trustDeliveryYAML, f.alice.Public, f.rita.Public)
	body = strings.Replace(body, "approvers: [alice]", "approvers: [alice, mallory]", 1)
	body = strings.Replace(body, "services:", fmt.Sprintf("  - login: mallory\n    keys: [%q]\nservices:", f.mallory.Public), 1)
	if err := os.WriteFile(filepath.Join(dir, "delivery.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, append(gitArgs, "commit", "-q", "-am", "delivery: mallory approves")...)
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
}

// editDelivery commits edit's change of delivery.yaml by hand, with
// gitArgs (say a signing key), as anyone with push access can.
func editDelivery(t *testing.T, f trustFixture, subject string, edit func(string) string, gitArgs ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", f.bare, dir)
	b, err := os.ReadFile(filepath.Join(dir, "delivery.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "delivery.yaml"), []byte(edit(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, append(gitArgs, "commit", "-q", "-am", subject)...)
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
}

// addBob lists bob as an approver.
func addBob(s string) string {
	return strings.Replace(s, "approvers: [alice", "approvers: [bob, alice", 1)
}

func signedBy(k signingtest.Key) []string {
	return []string{"-c", "gpg.format=ssh", "-c", "user.signingKey=" + k.Path, "-c", "commit.gpgSign=true"}
}

func TestAnUnsignedCommitAddingMallorysKeyMakesTheGateRefuse(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	addMallory(t, f)
	err := promoteToStaging(t, f.bare)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), `("delivery: mallory approves") changes who may approve, which keys prove them, an environment's gates or a service's image repository in delivery.yaml and is not signed`) ||
		!strings.Contains(err.Error(), "a release manager listed before that change ([rita], as of commit ") ||
		!strings.Contains(err.Error(), "the last trusted change) must make it again, signed with their key") {
		t.Fatalf("promote after an unsigned change to signers = %v, want a refusal naming the commit and the fix", err)
	}
	// mallory cannot approve on it either.
	if err := approve(signedRepo(t, f.bare, f.mallory.Path), "mallory"); !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not signed") {
		t.Fatalf("mallory's approval on her own listing = %v, want a refusal", err)
	}
}

func TestAChangeToSignersSignedByAnApproverWhoIsNoReleaseManagerIsRefused(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	addMallory(t, f, signedBy(f.alice)...)
	if err := promoteToStaging(t, f.bare); !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not signed by a release manager's key") {
		t.Fatalf("promote after alice signed a change to signers = %v, want a refusal", err)
	}
}

func TestAChangeToSignersSignedByAReleaseManagerIsAccepted(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	addMallory(t, f, signedBy(f.rita)...)
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote after rita signed the change to signers: %v", err)
	}
}

func TestAnUnsignedChangeOutsideTheTrustListsLeavesTheGateOpen(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	addMallory(t, f, signedBy(f.rita)...)
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", f.bare, dir)
	b, err := os.ReadFile(filepath.Join(dir, "delivery.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "delivery.yaml"), append(b, "  - name: pay-svc\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, "commit", "-q", "-am", "delivery: pay-svc")
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote after an unsigned change that adds a service: %v", err)
	}
}

// Trust is a chain: a key that only an unsigned change listed cannot vouch
// for a later change, even though the version just before that change
// lists it as a release manager's.
func TestAReleaseManagerListedByAnUnsignedChangeCannotVouchForALaterOne(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	editDelivery(t, f, "delivery: mallory manages releases", func(s string) string {
		s = strings.Replace(s, "releaseManagers: [rita]", "releaseManagers: [rita, mallory]", 1)
		return strings.Replace(s, "services:", fmt.Sprintf("  - login: mallory\n    keys: [%q]\nservices:", f.mallory.Public), 1)
	})
	editDelivery(t, f, "delivery: bob approves", addBob, signedBy(f.mallory)...)
	err := promoteToStaging(t, f.bare)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), `("delivery: bob approves")`) || !strings.Contains(err.Error(), "is not signed by a release manager's key") ||
		!strings.Contains(err.Error(), "a release manager listed before that change ([rita], as of commit") {
		t.Fatalf("promote after mallory, listed unsigned, signed a change = %v, want a refusal judged from the lists before mallory's listing", err)
	}
}

// A release manager of the last trusted version who signs a later change
// vouches for the lists as they are then, an earlier unsigned change's
// included.
func TestAReleaseManagersSignedChangeVouchesForAnEarlierUnsignedOne(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	addMallory(t, f)
	if err := promoteToStaging(t, f.bare); !fault.IsRefused(err) {
		t.Fatalf("promote after an unsigned change to signers = %v, want a refusal", err)
	}
	editDelivery(t, f, "delivery: bob approves", addBob, signedBy(f.rita)...)
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote after rita signed a later change: %v", err)
	}
}
