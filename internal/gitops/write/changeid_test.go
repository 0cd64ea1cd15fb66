//go:build unix

package write_test

import (
	"context"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/write"
)

// TestAChangeIDOfAnotherChangeIsRefused: the id was matched alone, so a
// leftover SMP_CHANGE_ID made a write to another environment or service
// report "already landed" and exit 0 with nothing written.
func TestAChangeIDOfAnotherChangeIsRefused(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	deploy := func(tag string, d byte) (write.Outcome, error) {
		return write.Deploy(ctx, r, write.DeployRequest{
			Common: write.Common{By: "ci", Now: wednesday, ChangeID: "run-41-deploy-dev"}, Env: "dev", Service: "order-svc",
			Image: img(t, "order-svc", tag, d),
		})
	}
	first, err := deploy("3.2.0", 'a')
	if err != nil {
		t.Fatal(err)
	}
	n := commits(t, bare)
	// The same change run again: already done, nothing written.
	again, err := deploy("3.2.0", 'a')
	if err != nil || !again.AlreadyDone {
		t.Fatalf("re-run of the same deploy = %+v, %v; want already done", again, err)
	}
	// Another image under the same id is the same change run again (a
	// re-run that built the commit into another digest): already landed.
	if again, err := deploy("3.3.0", 'b'); err != nil || !again.AlreadyDone || again.Commit != first.Commit {
		t.Fatalf("a deploy of 3.3.0 under 3.2.0's change id = %+v, %v; want already landed as %.12s", again, err, first.Commit)
	}
	// Another environment under the same id (a hold in staging).
	_, err = write.PlaceHold(ctx, r, write.HoldRequest{Common: write.Common{By: "oncall", Now: wednesday, ChangeID: "run-41-deploy-dev"}, Env: "staging", Service: "order-svc", Reason: "db"})
	if !fault.IsInvalid(err) || !strings.Contains(err.Error(), "whose Environment is dev; this change's is staging") {
		t.Fatalf("a hold in staging under dev's deploy's change id = %v; want bad input", err)
	}
	if commits(t, bare) != n {
		t.Error("a refused change committed")
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, strings.Repeat("a", 64)) {
		t.Errorf("dev should still run 3.2.0:\n%s", got)
	}
}
