package write_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/write"
)

// TestPromoteDoesNotCopyAChartRangeOn: deploy refuses a chart version that
// is a range (Argo CD would follow a floating chart), but promote copied
// the source environment's chart.version as it found it, so a hand edit
// of dev's file reached staging and prod.
func TestPromoteDoesNotCopyAChartRangeOn(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	if _, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "3.3.0-rc.1", 'd'), ChartVersion: "0.2.0"}); err != nil {
		t.Fatal(err)
	}
	// A hand edit, as anyone with push access can.
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", bare, dir)
	p := filepath.Join(dir, "environments/dev/order-svc.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "version: 0.2.0", "version: '>=0.1.0'", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, "commit", "-q", "-am", "dev: follow the newest chart")
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
	if _, err := write.Approve(ctx, r, write.ApproveRequest{Common: write.Common{By: "lan", Now: wednesday}, Env: "staging", Service: "order-svc", Version: "3.3.0-rc.1"}); err != nil {
		t.Fatal(err)
	}
	before := commits(t, bare)
	_, err = write.Promote(ctx, r, write.PromoteRequest{Common: write.Common{By: "ci", Now: wednesday}, Service: "order-svc", From: "dev", To: "staging"})
	if !fault.IsInvalid(err) || !strings.Contains(err.Error(), `environments/dev/order-svc.yaml pins chart version ">=0.1.0", which is not one version`) {
		t.Fatalf("promote of a chart range = %v, want bad input naming the file", err)
	}
	if commits(t, bare) != before {
		t.Error("a refused promote committed")
	}
}
