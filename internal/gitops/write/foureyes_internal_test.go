package write

import (
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
)

// Issue #15 item 1: the deployer and the approver are compared by key.
// delivery.yaml's validation refuses one key under two logins; the gate
// must refuse self-approval by key even on a config that got past it.
func TestSelfApprovalByTwoLoginsWithOneKeyIsRefused(t *testing.T) {
	t.Parallel()
	carol := signingtest.NewKey(t, "carol")
	k, err := signing.ParsePublicKey(carol.Public)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &delivery.Config{
		ReleaseManagers: []string{"carol", "carol-admin"},
		Signers:         []delivery.Signer{{Login: "carol", Keys: []string{carol.Public}}, {Login: "carol-admin", Keys: []string{carol.Public}}},
	}
	prod := delivery.Environment{Name: "prod", Approval: delivery.ApprovalReleaseManager, SignedApprovals: true}
	// carol-admin approved, signing with carol's key; carol deploys.
	err = checkFourEyesByKey(nil, cfg, prod, "order-svc", "3.3.0", "carol", k)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "which is carol's own: a release manager must not approve their own deploy, whatever login they use") {
		t.Fatalf("self-approval under another login = %v, want a refusal", err)
	}
	other := signingtest.NewKey(t, "dave")
	cfg.Signers = append(cfg.Signers, delivery.Signer{Login: "dave", Keys: []string{other.Public}})
	dk, err := signing.ParsePublicKey(other.Public)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkFourEyesByKey(nil, cfg, prod, "order-svc", "3.3.0", "carol", dk); err != nil {
		t.Fatalf("approval signed by dave's key, carol deploys: %v", err)
	}
}
