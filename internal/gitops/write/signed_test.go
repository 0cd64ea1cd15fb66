package write_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/signing"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
	"github.com/smp/delivery/internal/gitops/write"
)

// Issue #15 item 1: an approval proves its approver by an SSH signature.

const signedDeliveryYAML = `version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval, signedApprovals: %t}
approvers: [alice, mallory]
signers:
  - login: alice
    keys: [%q]
  - login: mallory
    keys: [%q]
services:
  - name: order-svc
`

// signedFixture is a GitOps remote whose staging takes approvals from
// alice and mallory, signed when required, and whose dev runs order-svc
// 3.3.0 (digest d…), ready to be approved for staging.
type signedFixture struct {
	bare           string
	alice, mallory signingtest.Key
}

func newSignedRemote(t *testing.T, required bool) signedFixture {
	t.Helper()
	f := signedFixture{alice: signingtest.NewKey(t, "alice"), mallory: signingtest.NewKey(t, "mallory")}
	files := map[string]string{"delivery.yaml": fmt.Sprintf(signedDeliveryYAML, required, f.alice.Public, f.mallory.Public)}
	for _, env := range []string{"dev", "staging"} {
		files["environments/"+env+"/order-svc.yaml"] = fmt.Sprintf(envFile, env, strings.Repeat("1", 64))
	}
	f.bare = gitopstest.NewRemote(t, files)
	_, err := write.Deploy(context.Background(), repoFor(t, f.bare), write.DeployRequest{
		Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: img(t, "order-svc", "3.3.0", 'd'),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// signedRepo opens the remote signing with key, as --signing-key does.
func signedRepo(t *testing.T, bare string, key string) *gitops.Repo {
	t.Helper()
	s, err := signing.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := write.Open(gitops.Remote{URL: bare},
		gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"},
		gitops.Options{RetryDelay: time.Millisecond, Budget: time.Minute, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func approve(r *gitops.Repo, by string) error {
	_, err := write.Approve(context.Background(), r, write.ApproveRequest{
		Common: write.Common{By: by, Now: wednesday}, Env: "staging", Service: "order-svc", Version: "3.3.0",
	})
	return err
}

func promoteToStaging(t *testing.T, bare string) error {
	t.Helper()
	_, err := write.Promote(context.Background(), repoFor(t, bare), write.PromoteRequest{
		Common: write.Common{By: "ci", Now: wednesday, Run: "https://ci.example/run/1"}, Service: "order-svc", From: "dev", To: "staging",
	})
	return err
}

// handApproval commits an approval file by alice with git itself, as
// anyone with push access can; args go to git commit (say, -S and a key).
func handApproval(t *testing.T, bare string, gitArgs ...string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", bare, dir)
	p := filepath.Join(dir, "state/approvals/staging/order-svc")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "version: 3.3.0\ndigest: sha256:" + strings.Repeat("d", 64) + "\napprovedBy: alice\nat: 2026-11-25T09:00:00Z\n"
	if err := os.WriteFile(filepath.Join(p, "3.3.0.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, "add", "-A")
	gitcmdtest.Git(t, dir, append(gitArgs, "commit", "-q", "-m", "approve(staging): order-svc 3.3.0\n\nApproved-By: alice")...)
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
}

func TestAnApprovalSignedByTheApproversKeyPassesTheGate(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	// git itself verifies the approval commit against alice's key.
	allowed := signingtest.AllowedSigners(t, map[string]signingtest.Key{"alice": f.alice})
	out := gitcmdtest.Git(t, f.bare, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", "main")
	if !strings.Contains(out, `Good "git" signature for alice`) {
		t.Errorf("git verify-commit of the approval:\n%s", out)
	}
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote with alice's signed approval: %v", err)
	}
}

func TestSigningWithAKeyNoAgentHoldsIsRefusedNamingTheKey(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	// key:: is git's user.signingKey form for a key given inline; with no
	// agent running, ssh-keygen cannot sign with it, and says so.
	err := approve(signedRepo(t, f.bare, "key::"+f.alice.Public), "alice")
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "sign the commit with the agent's key SHA256:") {
		t.Fatalf("approve signing with an agent that is not there = %v, want a refusal naming the key", err)
	}
}

func TestAnApprovalClaimingAliceSignedByMallorysKeyIsRefused(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	// smpctl refuses to write it ...
	err := approve(signedRepo(t, f.bare, f.mallory.Path), "alice")
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not listed for alice under signers") {
		t.Fatalf("approve --by alice with mallory's key = %v, want a refusal", err)
	}
	// ... and a hand-made one, signed by git with mallory's key, does not
	// pass the gate.
	handApproval(t, f.bare, "-c", "gpg.format=ssh", "-c", "user.signingKey="+f.mallory.Path, "-c", "commit.gpgSign=true")
	err = promoteToStaging(t, f.bare)
	want := "does not prove alice approved: signed with key " + signing.Fingerprint(mustParse(t, f.mallory.Public)) + ", which is not listed, for alice in delivery.yaml"
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "alice must approve again, signing with the key delivery.yaml lists for alice") {
		t.Fatalf("promote with mallory's signature on alice's approval = %v, want a refusal with %q", err, want)
	}
}

func TestAnUnsignedApprovalIsRefusedWhereSignaturesAreRequired(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	err := approve(repoFor(t, f.bare), "alice")
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "this approval would not be signed: give --signing-key") {
		t.Fatalf("unsigned approve = %v, want a refusal", err)
	}
	handApproval(t, f.bare)
	err = promoteToStaging(t, f.bare)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not signed, and staging requires signed approvals") {
		t.Fatalf("promote with an unsigned approval = %v, want a refusal", err)
	}
	// Approving again, signed, fixes it: the unsigned one is not "already approved".
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote after alice signed: %v", err)
	}
}

func TestAnUnsignedEditAfterASignedApprovalUnsignsIt(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	handApproval(t, f.bare) // same approver, another time: unsigned
	if err := promoteToStaging(t, f.bare); !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not signed") {
		t.Fatalf("promote after an unsigned edit = %v, want a refusal", err)
	}
}

func TestWithoutSignedApprovalsAnUnsignedApprovalStillPasses(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, false)
	if err := approve(repoFor(t, f.bare), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote with an unsigned approval where none is required: %v", err)
	}
}

func TestAHoldIsSignedByWhoPlacesIt(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, false)
	_, err := write.PlaceHold(context.Background(), signedRepo(t, f.bare, f.alice.Path), write.HoldRequest{
		Common: write.Common{By: "alice", Now: wednesday}, Env: "dev", Service: "order-svc", Reason: "checking",
	})
	if err != nil {
		t.Fatal(err)
	}
	allowed := signingtest.AllowedSigners(t, map[string]signingtest.Key{"alice": f.alice})
	if out := gitcmdtest.Git(t, f.bare, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", "main"); !strings.Contains(out, `Good "git" signature for alice`) {
		t.Errorf("git verify-commit of the hold:\n%s", out)
	}
}

func mustParse(t *testing.T, pub string) ssh.PublicKey {
	t.Helper()
	k, err := signing.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTheCDsApproveStepFindsASignedApprovalAndRecordsNothing: the reusable
// CD's approve step holds no key, so where approvals are signed it failed
// before it looked at the approval already there; with it, no CD could
// serve a signedApprovals environment. The release manager signs first,
// on their machine; the step then records nothing, and the gate passes.
func TestTheCDsApproveStepFindsASignedApprovalAndRecordsNothing(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	n := commits(t, f.bare)
	out, err := write.Approve(context.Background(), repoFor(t, f.bare), write.ApproveRequest{
		Common: write.Common{By: "mallory", Now: wednesday}, Env: "staging", Service: "order-svc", Version: "3.3.0",
	})
	if err != nil || !out.AlreadyDone {
		t.Fatalf("the unsigned approve after alice's signed one = %+v, %v; want already approved", out, err)
	}
	if commits(t, f.bare) != n {
		t.Error("the unsigned approve committed")
	}
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote with alice's signed approval: %v", err)
	}
	// Without a signed approval there, the same step is still refused.
	g := newSignedRemote(t, true)
	if err := approve(repoFor(t, g.bare), "mallory"); !fault.IsRefused(err) && !fault.IsInvalid(err) {
		t.Fatalf("an unsigned approve with no signed approval there = %v, want a refusal", err)
	}
}
