package write_test

import (
	"context"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/write"
)

// Issue #15: the trust chain covered the lists (approvers,
// releaseManagers, signers) but not the gates that use them, so an
// unsigned commit could turn signing off, or the approval itself, and an
// unsigned approval went through. An environment's gates and a service's
// image repository are now judged like the lists.

func TestAnUnsignedCommitThatLoosensAGateMakesTheGateRefuse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, subject string
		edit          func(string) string
	}{
		{"signing turned off", "delivery: staging without signatures", func(s string) string {
			return strings.Replace(s, "approval: approval, signedApprovals: true}", "approval: approval}", 1)
		}},
		{"approval turned off", "delivery: staging needs no approval", func(s string) string {
			return strings.Replace(s, "approval: approval, signedApprovals: true}", "approval: none}", 1)
		}},
		{"the service's image moved", "delivery: order-svc image", func(s string) string {
			return strings.Replace(s, "  - name: order-svc\n", "  - name: order-svc\n    image: ghcr.io/evil/order-svc\n", 1)
		}},
		// Format version 4's binding of a proven run: who may write through
		// requireOIDC is trust too.
		{"the service's repository moved", "delivery: order-svc repository", func(s string) string {
			s = strings.Replace(s, "version: 3\n", "version: 4\n", 1)
			return strings.Replace(s, "  - name: order-svc\n", "  - name: order-svc\n    repository: mallory/order-svc\n", 1)
		}},
		{"any workflow trusted", "delivery: trust every workflow", func(s string) string {
			return strings.Replace(s, "version: 3\n", "version: 4\ntrustedWorkflows: ['*/*/*@*']\n", 1)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newTrustRemote(t)
			editDelivery(t, f, c.subject, c.edit)
			// Another, harmless commit after it does not bury it.
			editDelivery(t, f, "delivery: pay-svc", func(s string) string { return s + "  - name: pay-svc\n" })
			err := promoteToStaging(t, f.bare)
			if c.name == "the service's image moved" {
				// What the move is for: a deploy of that repository's image
				// (to dev, which needs no approval) — refused as well.
				evil := img(t, "order-svc", "6.6.6", 'e')
				evil.Repository = "ghcr.io/evil/order-svc"
				_, err = write.Deploy(context.Background(), repoFor(t, f.bare), write.DeployRequest{
					Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: evil,
				})
			}
			if !fault.IsRefused(err) || !strings.Contains(err.Error(), `("`+c.subject+`")`) || !strings.Contains(err.Error(), "is not signed") ||
				!strings.Contains(err.Error(), "a release manager listed before that change ([rita]") {
				t.Fatalf("promote after %q, unsigned = %v; want a refusal naming that commit", c.subject, err)
			}
			// Signed by a release manager, the same change counts.
			editDelivery(t, f, "delivery: rita vouches", addBob, signedBy(f.rita)...)
			if c.name != "the service's image moved" {
				if err := promoteToStaging(t, f.bare); err != nil {
					t.Fatalf("promote after rita signed a later change: %v", err)
				}
			}
		})
	}
}

// Turning signing off with a release manager's signature is a decision
// the chain respects: later unsigned changes are review's again.
func TestSigningTurnedOffByAReleaseManagerLeavesLaterChangesToReview(t *testing.T) {
	t.Parallel()
	f := newTrustRemote(t)
	editDelivery(t, f, "delivery: staging without signatures", func(s string) string {
		return strings.Replace(s, "approval: approval, signedApprovals: true}", "approval: approval}", 1)
	}, signedBy(f.rita)...)
	editDelivery(t, f, "delivery: bob approves", addBob)
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote after rita turned signing off and an unsigned change followed: %v", err)
	}
}
