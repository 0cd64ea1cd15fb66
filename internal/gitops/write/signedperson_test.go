package write_test

import (
	"context"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
	"github.com/smp/delivery/internal/gitops/write"
)

// Issue #15 item 1: where staging has signedApprovals, a rollback or a
// hold by a person proves the person by an SSH signature too.

// promotedSigned is a signed remote whose staging runs order-svc 3.3.0,
// promoted on alice's signed approval, so it has a digest to roll back to.
func promotedSigned(t *testing.T) signedFixture {
	t.Helper()
	f := newSignedRemote(t, true)
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatal(err)
	}
	return f
}

func rollbackStaging(r *gitops.Repo, by string, byGate bool) error {
	_, err := write.Rollback(context.Background(), r, write.RollbackRequest{
		Common: write.Common{By: by, Now: wednesday}, Env: "staging", Service: "order-svc", Reason: "errors", ByGate: byGate,
	})
	return err
}

func mainOf(t *testing.T, bare string) string {
	t.Helper()
	return strings.TrimSpace(gitcmdtest.Git(t, bare, "rev-parse", "main"))
}

func TestAnUnsignedRollbackIsRefusedWhereSignaturesAreRequired(t *testing.T) {
	t.Parallel()
	f := promotedSigned(t)
	before := mainOf(t, f.bare)
	err := rollbackStaging(repoFor(t, f.bare), "alice", false)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "this rollback by alice would not be signed: give --signing-key") {
		t.Fatalf("unsigned rollback = %v, want a refusal saying how to sign", err)
	}
	if got := mainOf(t, f.bare); got != before {
		t.Fatalf("a refused rollback moved main from %s to %s", before, got)
	}
	if err := rollbackStaging(signedRepo(t, f.bare, f.alice.Path), "alice", false); err != nil {
		t.Fatalf("rollback signed by alice: %v", err)
	}
	allowed := signingtest.AllowedSigners(t, map[string]signingtest.Key{"alice": f.alice})
	if out := gitcmdtest.Git(t, f.bare, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", "main"); !strings.Contains(out, `Good "git" signature for alice`) {
		t.Errorf("git verify-commit of the rollback:\n%s", out)
	}
}

func TestARollbackSignedByAnotherPersonsKeyIsRefused(t *testing.T) {
	t.Parallel()
	f := promotedSigned(t)
	err := rollbackStaging(signedRepo(t, f.bare, f.mallory.Path), "alice", false)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not listed for alice under signers") {
		t.Fatalf("rollback --by alice signed by mallory = %v, want a refusal", err)
	}
}

func TestTheGateWatchRollsBackUnsigned(t *testing.T) {
	t.Parallel()
	f := promotedSigned(t)
	// verify --for is the pipeline, not a person: it goes back only to a
	// digest that ran in staging.
	if err := rollbackStaging(repoFor(t, f.bare), "smpctl-gate", true); err != nil {
		t.Fatalf("the gate's unsigned rollback: %v", err)
	}
}

func TestAHoldByAKeyNotListedIsRefused(t *testing.T) {
	t.Parallel()
	f := promotedSigned(t)
	before := mainOf(t, f.bare)
	hold := func(r *gitops.Repo, place bool) error {
		req := write.HoldRequest{Common: write.Common{By: "alice", Now: wednesday}, Env: "staging", Service: "order-svc", Reason: "checking"}
		var err error
		if place {
			_, err = write.PlaceHold(context.Background(), r, req)
		} else {
			_, err = write.ReleaseHold(context.Background(), r, req)
		}
		return err
	}
	if err := hold(signedRepo(t, f.bare, f.mallory.Path), true); !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not listed for alice under signers") {
		t.Fatalf("hold --by alice signed by mallory = %v, want a refusal", err)
	}
	if err := hold(repoFor(t, f.bare), true); !fault.IsRefused(err) || !strings.Contains(err.Error(), "this hold by alice would not be signed") {
		t.Fatalf("unsigned hold = %v, want a refusal", err)
	}
	if got := mainOf(t, f.bare); got != before {
		t.Fatalf("a refused hold moved main from %s to %s", before, got)
	}
	if err := hold(signedRepo(t, f.bare, f.alice.Path), true); err != nil {
		t.Fatalf("hold signed by alice: %v", err)
	}
	if err := hold(repoFor(t, f.bare), false); !fault.IsRefused(err) || !strings.Contains(err.Error(), "this hold release by alice would not be signed") {
		t.Fatalf("unsigned hold release = %v, want a refusal", err)
	}
	if err := hold(signedRepo(t, f.bare, f.alice.Path), false); err != nil {
		t.Fatalf("hold release signed by alice: %v", err)
	}
}

func TestWithoutSignedApprovalsAnUnsignedRollbackStillPasses(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, false)
	if err := approve(repoFor(t, f.bare), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatal(err)
	}
	if err := rollbackStaging(repoFor(t, f.bare), "alice", false); err != nil {
		t.Fatalf("unsigned rollback where signatures are not required: %v", err)
	}
}

func TestAPersonsUnsignedPromoteIsRefusedAndCIsIsNot(t *testing.T) {
	t.Parallel()
	f := newSignedRemote(t, true)
	if err := approve(signedRepo(t, f.bare, f.alice.Path), "alice"); err != nil {
		t.Fatal(err)
	}
	promote := func(r *gitops.Repo, run string) error {
		_, err := write.Promote(context.Background(), r, write.PromoteRequest{
			Common: write.Common{By: "alice", Now: wednesday, Run: run}, Service: "order-svc", From: "dev", To: "staging",
		})
		return err
	}
	before := mainOf(t, f.bare)
	if err := promote(repoFor(t, f.bare), ""); !fault.IsRefused(err) || !strings.Contains(err.Error(), "this promote by alice would not be signed") {
		t.Fatalf("a person's unsigned promote = %v, want a refusal", err)
	}
	if err := promote(signedRepo(t, f.bare, f.mallory.Path), ""); !fault.IsRefused(err) || !strings.Contains(err.Error(), "is not listed for alice under signers") {
		t.Fatalf("promote --by alice signed by mallory = %v, want a refusal", err)
	}
	if got := mainOf(t, f.bare); got != before {
		t.Fatalf("a refused promote moved main from %s to %s", before, got)
	}
	// CI's promote (Pipeline-Run) ships unsigned what alice's signed approval allows.
	if err := promote(repoFor(t, f.bare), "https://ci.example/run/1"); err != nil {
		t.Fatalf("CI's promote on a signed approval: %v", err)
	}
}
