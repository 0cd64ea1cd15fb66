package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/imageref"
)

// TestTheTimelineLinksCommitsThroughDeliveryYAMLsCommitURL: without
// --commit-url, the dashboard links each commit the way the notifications
// already do (delivery.yaml's notifications.commitURL): one setting, not
// two that drift.
func TestTheTimelineLinksCommitsThroughDeliveryYAMLsCommitURL(t *testing.T) {
	t.Parallel()
	const cfg = `version: 2
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
services:
  - name: order-svc
notifications:
  commitURL: https://git.example/smp/smp-gitops/commit/{commit}
`
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": cfg,
		"environments/dev/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\nchart:\n  version: 0.1.0\n"})
	repo, err := write.Open(gitops.Remote{URL: bare}, gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"}, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := imageref.Parse("ghcr.io/smp/order-svc:sha-aaaaaaa@" + digest('a'))
	if err != nil {
		t.Fatal(err)
	}
	out, err := write.Deploy(context.Background(), repo, write.DeployRequest{Common: write.Common{By: "ci", Now: time.Now()}, Env: "dev", Service: "order-svc", Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	code, body, doc := get(t, newDashboard(t, bare, dashboard.Options{}), "/services/order-svc")
	if code != http.StatusOK {
		t.Fatalf("GET /services/order-svc = %d:\n%s", code, body)
	}
	want := fmt.Sprintf("https://git.example/smp/smp-gitops/commit/%s", out.Commit)
	var hrefs []string
	for _, a := range all(byID(doc, "timeline"), "a") {
		for _, at := range a.Attr {
			if at.Key == "href" {
				hrefs = append(hrefs, at.Val)
			}
		}
	}
	if !strings.Contains(strings.Join(hrefs, "\n"), want) {
		t.Errorf("the timeline's links %q do not link the deploy's commit through commitURL (%s)", hrefs, want)
	}
}
