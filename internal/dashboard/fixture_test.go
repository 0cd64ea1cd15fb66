package dashboard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/notify"
	"github.com/smp/delivery/internal/notify/outbox"
)

// The fixture's delivery.yaml: the seed's three environments and gates,
// three services, and a one-off prod freeze (%s to %s) in force at the
// dashboard's clock but not when the story's commits are written.
const deliveryYAML = `apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval}
  - {name: prod, sync: manual, trigger: release, approval: release-manager}
approvers: [lan]
releaseManagers: [minh, thu]
services:
  - name: order-svc
    critical: true
  - name: partner-svc
  - name: billing-svc
freezes:
  - name: release-week
    reason: year-end release week
    environments: [prod]
    from: %s
    until: %s
`

// story is a real smp-gitops remote written by smpctl's own writers
// (internal/gitops/write), commit by commit. The writers date their commits
// with the wall clock, so the dashboard's clock is set relative to the
// story's start: now() is 25 hours later, and every age reads "24h".
//
//   - order-svc: 3.2.0 in prod (approved by minh), 3.3.0-rc.1 in staging,
//     not yet approved for prod — the queue's first entry;
//   - partner-svc: 1.0.0 in prod, held by oncall; 1.1.0-rc.1 in staging,
//     approved for prod by thu as 1.1.0 — waits for its promotion;
//   - billing-svc: only in dev;
//   - order-svc's prod deploy could not be sent to Slack (recorded in
//     state/notifications, as smpctl does).
type story struct {
	t     testing.TB
	bare  string
	repo  *gitops.Repo
	start time.Time
	// freezeUntil ends the prod freeze the dashboard shows.
	freezeUntil time.Time
	run         int
}

// now is the dashboard's clock for the story: a day and an hour after it
// started, less a second, inside the prod freeze. Commit times are whole
// seconds, and start is too: a commit in the story's first second would be
// exactly 25h old at start+25h and read "25h" (ages are truncated), so on a
// fast machine the ages were not all "24h".
func (s *story) now() time.Time { return s.start.Add(25*time.Hour - time.Second) }

func newStory(t testing.TB) *story {
	t.Helper()
	start := time.Now().UTC().Truncate(time.Second)
	until := start.Add(72 * time.Hour)
	files := map[string]string{"delivery.yaml": fmt.Sprintf(deliveryYAML,
		start.Add(24*time.Hour).Format(time.RFC3339), until.Format(time.RFC3339))}
	for _, svc := range []string{"order-svc", "partner-svc", "billing-svc"} {
		for _, env := range []string{"dev", "staging", "prod"} {
			if svc == "billing-svc" && env != "dev" {
				continue
			}
			files["environments/"+env+"/"+svc+".yaml"] = fmt.Sprintf("image:\n  repository: ghcr.io/smp/%s\nchart:\n  version: 0.1.0\nreplicaCount: 2\n", svc)
		}
	}
	s := &story{t: t, bare: gitopstest.NewRemote(t, files), start: start, freezeUntil: until}
	var err error
	s.repo, err = write.Open(gitops.Remote{URL: s.bare}, gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"}, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.ship("order-svc", 'a', "sha-aaaaaaa", "3.2.0-rc.1", "3.2.0", "minh")
	s.deploy("dev", "order-svc", "sha-bbbbbbb", 'b', "ci")
	s.approve("staging", "order-svc", "3.3.0-rc.1", 'b', "lan")
	s.deploy("staging", "order-svc", "3.3.0-rc.1", 'b', "alice")

	s.ship("partner-svc", 'c', "sha-ccccccc", "1.0.0-rc.1", "1.0.0", "thu")
	// As a gate watch run by oncall (verify --for --by oncall, with
	// onGateFailure: hold) writes it: the gate's figures in its trailers.
	s.hold("prod", "partner-svc", "oncall", "5xx after 1.0.0",
		gitops.Trailer{Key: "Gate-Verdict", Value: "failed"}, gitops.Trailer{Key: "Gate-Version", Value: "1.0.0"},
		gitops.Trailer{Key: "Gate-Baseline", Value: "0.9.0"}, gitops.Trailer{Key: "Gate-Window", Value: "30s"},
		gitops.Trailer{Key: "Gate-Requests", Value: "1379"}, gitops.Trailer{Key: "Gate-Error-Rate", Value: "0.4995"},
		gitops.Trailer{Key: "Gate-P95", Value: "2.4ms"}, gitops.Trailer{Key: "Gate-Baseline-P95", Value: "2.5ms"},
		gitops.Trailer{Key: "Gate-Failed", Value: "error rate"})
	s.deploy("dev", "partner-svc", "sha-ddddddd", 'd', "ci")
	s.approve("staging", "partner-svc", "1.1.0-rc.1", 'd', "lan")
	s.deploy("staging", "partner-svc", "1.1.0-rc.1", 'd', "alice")
	s.approve("prod", "partner-svc", "1.1.0", 'd', "thu")

	s.deploy("dev", "billing-svc", "sha-eeeeeee", 'e', "ci")

	// order-svc's prod deploy reached nobody on Slack: smpctl recorded it.
	s.notifyFailed(notify.Event{Kind: notify.Deploy, Env: "prod", Service: "order-svc", Version: "3.2.0", Digest: digest('a'), By: "bob", Time: time.Now()},
		"slack[0]", "slack[0]: 403 invalid_token: the webhook's token was revoked")
	return s
}

// notifyFailed records, as smpctl does after a write, that e could not be
// sent to sender (package notify/outbox, the dashboard's source for it).
func (s *story) notifyFailed(e notify.Event, sender, why string) {
	s.t.Helper()
	head := strings.TrimSpace(gitcmdtest.Git(s.t, s.bare, "rev-parse", "main"))
	rep := notify.Report{Kind: e.Kind, Env: e.Env, Service: e.Service, Results: []notify.Result{{Sender: sender, Attempts: 1, Error: why}}}
	if _, err := outbox.Record(context.Background(), s.repo, head, e, rep); err != nil {
		s.t.Fatalf("record the failed %s of %s in %s: %v", e.Kind, e.Service, e.Env, err)
	}
}

// ship takes svc through dev, staging and prod with one digest.
func (s *story) ship(svc string, d byte, devTag, rc, release, releaseManager string) {
	s.deploy("dev", svc, devTag, d, "ci")
	s.approve("staging", svc, rc, d, "lan")
	s.deploy("staging", svc, rc, d, "alice")
	s.approve("prod", svc, release, d, releaseManager)
	s.deploy("prod", svc, release, d, "bob")
}

func (s *story) common(by string) write.Common {
	s.t.Helper()
	s.run++
	return write.Common{By: by, Run: fmt.Sprintf("https://ci.example/runs/%d", s.run), Now: time.Now()}
}

func digest(d byte) string { return "sha256:" + strings.Repeat(string(d), 64) }

func (s *story) deploy(env, svc, tag string, d byte, by string) {
	s.t.Helper()
	ref, err := imageref.Parse(fmt.Sprintf("ghcr.io/smp/%s:%s@%s", svc, tag, digest(d)))
	if err != nil {
		s.t.Fatal(err)
	}
	c := s.common(by)
	src := write.Source{Commit: strings.Repeat(string(d), 40), Time: c.Now.Add(-time.Hour)}
	if _, err := write.Deploy(context.Background(), s.repo, write.DeployRequest{Common: c, Env: env, Service: svc, Image: ref, Source: src}); err != nil {
		s.t.Fatalf("deploy %s to %s: %v", svc, env, err)
	}
}

func (s *story) approve(env, svc, version string, d byte, by string) {
	s.t.Helper()
	req := write.ApproveRequest{Common: s.common(by), Env: env, Service: svc, Version: version, Digest: digest(d), RequestedBy: "alice"}
	if _, err := write.Approve(context.Background(), s.repo, req); err != nil {
		s.t.Fatalf("approve %s %s for %s: %v", svc, version, env, err)
	}
}

func (s *story) hold(env, svc, by, reason string, trailers ...gitops.Trailer) {
	s.t.Helper()
	if _, err := write.PlaceHold(context.Background(), s.repo, write.HoldRequest{Common: s.common(by), Env: env, Service: svc, Reason: reason, Trailers: trailers}); err != nil {
		s.t.Fatalf("hold %s in %s: %v", svc, env, err)
	}
}

// opener reads dir as smpctl dashboard --gitops dir does.
func opener(t testing.TB, dir string) dashboard.Opener {
	cache := t.TempDir()
	return func(ctx context.Context) (*history.Repo, error) {
		return history.Open(ctx, dir, history.OpenOptions{CacheDir: cache})
	}
}

// newDashboard serves the story's remote at the story's clock.
func (s *story) dashboard(o dashboard.Options) *dashboard.Dashboard {
	s.t.Helper()
	if o.Now == nil {
		o.Now = s.now
	}
	return newDashboard(s.t, s.bare, o)
}

func newDashboard(t testing.TB, dir string, o dashboard.Options) *dashboard.Dashboard {
	t.Helper()
	d, err := dashboard.New(opener(t, dir), o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
