package write_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
)

// Issue #15: approvals expire. qa's approvals count for 72h after their
// commit; staging's, with no approvalMaxAge, for ever (the default).
const approvalAgeYAML = `version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: qa, sync: manual, trigger: rc, approval: approval, approvalMaxAge: 72h}
  - {name: staging, sync: manual, trigger: manual, approval: approval}
approvers: [lan]
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
`

// approvalAgeRemote is a GitOps remote with delivery.yaml deliveryYAML
// and order-svc 3.1.0 running in dev, qa and staging.
func approvalAgeRemote(t *testing.T, deliveryYAML string) string {
	t.Helper()
	files := map[string]string{"delivery.yaml": deliveryYAML}
	for _, env := range []string{"dev", "qa", "staging"} {
		files["environments/"+env+"/order-svc.yaml"] = "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.1.0\n  digest: sha256:" + strings.Repeat("1", 64) + "\n"
	}
	return gitopstest.NewRemote(t, files)
}

// oldApproval commits lan's approval of order-svc 3.3.0 (digest d…) for
// env with git itself, dated at.
func oldApproval(t *testing.T, bare, env string, at time.Time) {
	t.Helper()
	oldApprovalOf(t, bare, env, "3.3.0", 'd', at)
}

// oldApprovalOf commits lan's approval of order-svc version (digest of d)
// for env with git itself, dated at.
func oldApprovalOf(t *testing.T, bare, env, version string, d byte, at time.Time) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitcmdtest.Git(t, "", "clone", "-q", bare, dir)
	p := filepath.Join(dir, "state/approvals", env, "order-svc")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "version: " + version + "\ndigest: sha256:" + strings.Repeat(string(d), 64) + "\napprovedBy: lan\nat: " + at.UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(filepath.Join(p, version+".yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, dir, "add", "-A")
	gitcmdtest.GitEnv(t, dir, gitcmdtest.Dates(at), "commit", "-q", "-m", "approve("+env+"): order-svc "+version+"\n\nApproved-By: lan")
	gitcmdtest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
}

func TestAnExpiredApprovalLetsNothingThroughUntilApprovedAgain(t *testing.T) {
	t.Parallel()
	bare := approvalAgeRemote(t, approvalAgeYAML)
	r := repoFor(t, bare)
	ctx := context.Background()
	// Commit times are the wall clock's: the gate compares them with Now.
	now := time.Now().UTC().Truncate(time.Second)
	approved := now.Add(-100 * time.Hour)
	oldApproval(t, bare, "qa", approved)
	oldApproval(t, bare, "staging", approved)
	deploy := func(env string) (write.Outcome, error) {
		return write.Deploy(ctx, r, write.DeployRequest{
			Common: write.Common{By: "ci", Run: "https://ci.example/run/1", Now: now}, Env: env, Service: "order-svc",
			Image: img(t, "order-svc", "3.3.0", 'd'),
		})
	}

	before := mainOf(t, bare)
	_, err := deploy("qa")
	if !fault.IsRefused(err) {
		t.Fatalf("deploy on a 100h-old approval where they count 72h = %v (kind %v), want a refusal", err, fault.Kind(err))
	}
	for _, want := range []string{
		"the approval of order-svc 3.3.0 for qa has expired",
		"it was approved at " + approved.Format(time.RFC3339) + " by lan (commit ",
		"approvals in qa count for 72h0m0s (approvalMaxAge in delivery.yaml), so it expired at " + approved.Add(72*time.Hour).Format(time.RFC3339),
		"approve it again: `smpctl approve --env qa --service order-svc --version 3.3.0 --by NAME`",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%v", want, err)
		}
	}
	if got := mainOf(t, bare); got != before {
		t.Fatalf("a refused deploy moved main from %s to %s", before, got)
	}

	// Where approvalMaxAge is not set, the same approval still counts.
	if out, err := deploy("staging"); err != nil || out.Action != "deploy" {
		t.Fatalf("deploy to staging, whose approvals do not expire = %+v, %v", out, err)
	}

	// Approving the same digest again is not "already approved": it is
	// how an expired approval counts again.
	out, err := write.Approve(ctx, r, write.ApproveRequest{
		Common: write.Common{By: "lan", Now: now}, Env: "qa", Service: "order-svc", Version: "3.3.0", Digest: img(t, "order-svc", "3.3.0", 'd').Digest,
	})
	if err != nil || out.AlreadyDone {
		t.Fatalf("approve an expired approval again = %+v, %v; want a new approval", out, err)
	}
	if out, err := deploy("qa"); err != nil || out.Action != "deploy" {
		t.Fatalf("deploy on the renewed approval = %+v, %v", out, err)
	}
	// A fresh approval is no-op to repeat, as before.
	again, err := write.Approve(ctx, r, write.ApproveRequest{
		Common: write.Common{By: "lan", Now: now}, Env: "qa", Service: "order-svc", Version: "3.3.0", Digest: img(t, "order-svc", "3.3.0", 'd').Digest,
	})
	if err != nil || !again.AlreadyDone {
		t.Fatalf("approve a fresh approval again = %+v, %v; want already done", again, err)
	}
}

// An expired approval is refused when a deploy would be queued behind a
// soak, not only when it lands: the queue must not keep a deploy that can
// never land, nor be a way to use an approval past its age.
func TestAnExpiredApprovalIsRefusedAtQueueTime(t *testing.T) {
	t.Parallel()
	// What runs in qa soaks an hour before staging takes it.
	yaml := strings.Replace(approvalAgeYAML, "trigger: manual, approval: approval}", "trigger: manual, approval: approval, soak: 1h}", 1)
	if yaml == approvalAgeYAML {
		t.Fatal("the fixture's staging line changed: the soak was not added")
	}
	bare := approvalAgeRemote(t, yaml)
	r := repoFor(t, bare)
	ctx := context.Background()
	// Soak and approval ages run on commit times, which are the wall clock's.
	now := time.Now().UTC().Truncate(time.Second)
	deploy := func(tag string, d byte) (write.Outcome, error) {
		return write.QueueOrDeploy(ctx, r, write.DeployRequest{
			Common: write.Common{By: "ci", Now: now}, Env: "qa", Service: "order-svc", Image: img(t, "order-svc", tag, d),
		})
	}
	approve := func(tag string, d byte) {
		t.Helper()
		if _, err := write.Approve(ctx, r, write.ApproveRequest{
			Common: write.Common{By: "lan", Now: now}, Env: "qa", Service: "order-svc", Version: tag, Digest: img(t, "order-svc", tag, d).Digest,
		}); err != nil {
			t.Fatal(err)
		}
	}
	approve("3.3.0", 'd')
	if out, err := deploy("3.3.0", 'd'); err != nil || out.Action != "deploy" {
		t.Fatalf("deploy 3.3.0 to qa = %+v, %v; want it deployed (nothing soaks yet)", out, err)
	}

	// 3.3.0 soaks in qa now; 3.4.0's approval is 100h old where they count 72h.
	oldApprovalOf(t, bare, "qa", "3.4.0", 'e', now.Add(-100*time.Hour))
	before := mainOf(t, bare)
	_, err := deploy("3.4.0", 'e')
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "the approval of order-svc 3.4.0 for qa has expired") {
		t.Fatalf("a deploy behind the soak on an expired approval = %v; want a refusal naming the expiry", err)
	}
	if got := mainOf(t, bare); got != before {
		t.Fatalf("a refused queued deploy moved main from %s to %s", before, got)
	}

	// Approved again, the same deploy is queued.
	approve("3.4.0", 'e')
	if out, err := deploy("3.4.0", 'e'); err != nil || out.Action != "queue" {
		t.Fatalf("the deploy behind the soak on a renewed approval = %+v, %v; want it queued", out, err)
	}
	if !strings.Contains(show(t, bare, "state/queue/qa/order-svc.yaml"), "tag: 3.4.0") {
		t.Errorf("the queue does not hold 3.4.0")
	}
}
