package dashboard_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
)

// An approval in an environment with approvalMaxAge says in the queue when
// it expires, and once it has, that the version waits for an approver
// again: the deploy and promote refuse it (write.checkApprovalAge), so
// "waits for its promotion" would send the release manager the wrong way.
func TestTheQueueSaysWhenAnApprovalExpires(t *testing.T) {
	t.Parallel()
	start := time.Now().UTC().Truncate(time.Second)
	files := map[string]string{"delivery.yaml": `apiVersion: delivery.smp.vn/v1
kind: Delivery
version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval}
  - {name: prod, sync: manual, trigger: release, approval: release-manager, approvalMaxAge: 48h}
approvers: [lan]
releaseManagers: [minh, thu]
services:
  - name: partner-svc
`}
	for _, env := range []string{"dev", "staging", "prod"} {
		files["environments/"+env+"/partner-svc.yaml"] = "image:\n  repository: ghcr.io/smp/partner-svc\nchart:\n  version: 0.1.0\n"
	}
	s := &story{t: t, bare: gitopstest.NewRemote(t, files), start: start}
	var err error
	s.repo, err = write.Open(gitops.Remote{URL: s.bare}, gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"}, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.approve("staging", "partner-svc", "1.1.0-rc.1", 'd', "lan")
	s.deploy("staging", "partner-svc", "1.1.0-rc.1", 'd', "alice")
	s.approve("prod", "partner-svc", "1.1.0", 'd', "thu")

	// The approval's commit is less than a minute after start, so the
	// half hours keep the truncated figures whole.
	for _, tc := range []struct {
		after time.Duration
		want  string
		since string // how long 1.1.0-rc.1 has run in staging
	}{
		{90 * time.Minute, "promotion to prod (approved by thu as 1.1.0, expires in 46h)", "1h"},
		{50*time.Hour + 30*time.Minute, "approval by thu as 1.1.0 expired 2h ago: approval for prod again by minh, thu", "2d"},
	} {
		now := start.Add(tc.after)
		_, _, doc := get(t, s.dashboard(dashboard.Options{Now: func() time.Time { return now }}), "/")
		q := byID(doc, "queue")
		if q == nil {
			t.Fatalf("%v after the approval: no approval queue on the page", tc.after)
		}
		rows := all(all(q, "tbody")[0], "tr")
		if len(rows) != 1 {
			t.Fatalf("%v after the approval: %d queue entries, want partner-svc's only", tc.after, len(rows))
		}
		want := fmt.Sprintf("partner-svc 1.1.0-rc.1 sha256:dddddddddddd staging → prod %s %s", tc.want, tc.since)
		if got := text(rows[0]); got != want {
			t.Errorf("%v after the approval, queue entry:\n got %q\nwant %q", tc.after, got, want)
		}
		expired := false
		for _, span := range all(rows[0], "span") {
			expired = expired || hasClass(span, "expired")
		}
		if want := tc.after > 48*time.Hour; expired != want {
			t.Errorf("%v after the approval: marked expired = %v, want %v", tc.after, expired, want)
		}
	}
}
