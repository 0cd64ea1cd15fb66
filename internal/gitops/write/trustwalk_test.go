package write_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

// The walk over delivery.yaml's history decodes the trust lists of each
// version alone and parses in full only where it decides; a version that
// does not parse still counts as not there, as when every version was
// parsed in full: the change is judged by the commit that made delivery.yaml
// valid with it.

// brokenThenFixed commits, as broken, the listing of mallory with a freeze
// of an environment that does not exist (delivery.yaml does not parse),
// then, as fixed, the same lists without the freeze.
func brokenThenFixed(t *testing.T, f trustFixture, broken, fixed []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", f.bare, dir)
	body := fmt.Sprintf(trustDeliveryYAML, f.alice.Public, f.rita.Public)
	body = strings.Replace(body, "approvers: [alice]", "approvers: [alice, mallory]", 1)
	body = strings.Replace(body, "services:", fmt.Sprintf("  - login: mallory\n    keys: [%q]\nservices:", f.mallory.Public), 1)
	p := filepath.Join(dir, "delivery.yaml")
	if err := os.WriteFile(p, []byte(body+"freezes:\n  - {name: x, environments: [nowhere], weekly: {start: \"Fri 17:00\", end: \"Mon 08:00\"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, append(broken, "commit", "-q", "-am", "delivery: mallory approves")...)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, append(fixed, "commit", "-q", "-am", "delivery: no such environment")...)
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
}

func TestAChangeInAVersionThatDoesNotParseIsJudgedByTheCommitThatFixedIt(t *testing.T) {
	t.Parallel()
	// rita signed the fix, which is the first version with mallory that
	// parses: accepted, as rita vouches for the lists she made valid.
	f := newTrustRemote(t)
	brokenThenFixed(t, f, nil, signedBy(f.rita))
	if err := promoteToStaging(t, f.bare); err != nil {
		t.Fatalf("promote after rita signed the version that made mallory's listing valid: %v", err)
	}

	// rita signed the broken version, and the fix is unsigned: refused,
	// naming the fix.
	g := newTrustRemote(t)
	brokenThenFixed(t, g, signedBy(g.rita), nil)
	err := promoteToStaging(t, g.bare)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), `("delivery: no such environment") changes who may approve, which keys prove them, an environment's gates or a service's image repository in delivery.yaml and is not signed`) {
		t.Fatalf("promote after an unsigned commit made mallory's listing valid = %v, want a refusal naming it", err)
	}
}
