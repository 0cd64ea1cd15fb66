package write_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/imageref"
)

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
%s
freezes:
  - name: weekend
    reason: no prod changes over the weekend
    environments: [prod]
    timeZone: Asia/Ho_Chi_Minh
    weekly: {start: "Fri 17:00", end: "Mon 08:00"}
`

const envFile = `# order-svc in %s — owned by the order team
image:
  repository: ghcr.io/smp/order-svc
  tag: 3.1.0 # the running version
  digest: sha256:%s
chart:
  version: 0.1.0
replicaCount: 2
`

// A Wednesday, outside the weekend freeze.
var wednesday = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func newRemote(t *testing.T, extraServices int) string {
	t.Helper()
	var svcs strings.Builder
	files := map[string]string{}
	for i := range extraServices {
		fmt.Fprintf(&svcs, "  - name: svc-%02d\n", i)
		files[fmt.Sprintf("environments/dev/svc-%02d.yaml", i)] = fmt.Sprintf("image:\n  repository: ghcr.io/smp/svc-%02d\n  tag: 0.0.1\n  digest: sha256:%s\n", i, strings.Repeat("0", 64))
	}
	files["delivery.yaml"] = fmt.Sprintf(deliveryYAML, svcs.String())
	for _, env := range []string{"dev", "staging", "prod"} {
		files["environments/"+env+"/order-svc.yaml"] = fmt.Sprintf(envFile, env, strings.Repeat("1", 64))
	}
	return gitopstest.NewRemote(t, files)
}

func repoFor(t *testing.T, bare string) *gitops.Repo {
	t.Helper()
	r, err := write.Open(gitops.Remote{URL: bare},
		gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"},
		gitops.Options{RetryDelay: time.Millisecond, Attempts: 500, Budget: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func img(t *testing.T, svc, tag string, d byte) imageref.Ref {
	t.Helper()
	r, err := imageref.Parse(fmt.Sprintf("ghcr.io/smp/%s:%s@sha256:%s", svc, tag, strings.Repeat(string(d), 64)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func show(t *testing.T, bare, path string) string {
	t.Helper()
	return gitcmdtest.Git(t, bare, "show", "main:"+path)
}

func lastCommit(t *testing.T, bare string) string {
	t.Helper()
	return gitcmdtest.Git(t, bare, "log", "-1", "--format=%an <%ae>%n%B", "main")
}

func TestDeployWritesTheImageAndCommitsWithTrailers(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	st := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	req := write.DeployRequest{
		Common: write.Common{By: "ci", Run: "https://ci.example/run/7", Now: wednesday, ChangeID: "run-7-deploy-dev"},
		Env:    "dev", Service: "order-svc", Image: img(t, "order-svc", "sha-abc1234", 'a'),
		Source: write.Source{Commit: strings.Repeat("c", 40), Time: st},
	}
	out, err := write.Deploy(context.Background(), r, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.AlreadyDone || out.Commit == "" || out.ApprovedBy != "" {
		t.Errorf("outcome %+v (dev needs no approval: no approver)", out)
	}
	wantFile := "# order-svc in dev — owned by the order team\nimage:\n  repository: ghcr.io/smp/order-svc\n  tag: sha-abc1234 # the running version\n  digest: sha256:" + strings.Repeat("a", 64) + "\nchart:\n  version: 0.1.0\nreplicaCount: 2"
	if got := show(t, bare, "environments/dev/order-svc.yaml"); got != wantFile {
		t.Errorf("file:\n%s\nwant:\n%s", got, wantFile)
	}
	want := `smpctl-bot <smpctl-bot@users.noreply.smp.vn>
deploy(dev): order-svc → sha-abc1234

Action: deploy
Environment: dev
Service: order-svc
Image: ghcr.io/smp/order-svc:sha-abc1234@sha256:` + strings.Repeat("a", 64) + `
Image-Digest: sha256:` + strings.Repeat("a", 64) + `
Previous-Digest: sha256:` + strings.Repeat("1", 64) + `
Source-Commit: ` + strings.Repeat("c", 40) + `
Source-Time: 2026-11-25T09:00:00Z
Deployed-By: ci
Pipeline-Run: https://ci.example/run/7
Change-Id: run-7-deploy-dev`
	if got := lastCommit(t, bare); got != want {
		t.Errorf("commit:\n%s\nwant:\n%s", got, want)
	}

	// The same deploy again: already deployed, no commit.
	head := gitcmdtest.Git(t, bare, "rev-parse", "main")
	out, err = write.Deploy(context.Background(), r, req)
	if err != nil || !out.AlreadyDone || !strings.Contains(out.Message, "already deployed") {
		t.Fatalf("second deploy: %+v, %v", out, err)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != head {
		t.Error("the second deploy committed")
	}
}

func TestDeployRefusesDuringAFreezeUnlessOverridden(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	writeApproval(t, r, "prod", "3.3.0", 'b', "minh")
	friday := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC) // 18:00 in Ho Chi Minh City
	req := write.DeployRequest{
		Common: write.Common{By: "ci", Now: friday},
		Env:    "prod", Service: "order-svc", Image: img(t, "order-svc", "3.3.0", 'b'),
	}
	head := gitcmdtest.Git(t, bare, "rev-parse", "main")
	_, err := write.Deploy(context.Background(), r, req)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), `freeze "weekend" is active until Mon 2026-11-30 08:00 +07 (Asia/Ho_Chi_Minh)`) {
		t.Fatalf("err = %v (kind %v), want a refusal naming the window", err, fault.Kind(err))
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != head {
		t.Error("a refused deploy committed")
	}
	req.OverrideFreeze = "hotfix for incident 42"
	if _, err := write.Deploy(context.Background(), r, req); err != nil {
		t.Fatal(err)
	}
	if c := lastCommit(t, bare); !strings.Contains(c, "Override-Freeze: hotfix for incident 42") || !strings.Contains(c, "Approved-By: minh") {
		t.Errorf("commit lacks Override-Freeze or Approved-By:\n%s", c)
	}
}

func writeApproval(t *testing.T, r *gitops.Repo, env, version string, d byte, by string) {
	t.Helper()
	_, err := write.Approve(context.Background(), r, write.ApproveRequest{
		Common: write.Common{By: by, Now: wednesday}, Env: env, Service: "order-svc",
		Version: version, Digest: "sha256:" + strings.Repeat(string(d), 64),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPromoteCopiesTheImageThroughTheGates(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	now := write.Common{By: "ci", Now: wednesday}
	if _, err := write.Deploy(ctx, r, write.DeployRequest{Common: now, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "3.3.0-rc.1", 'd'), ChartVersion: "0.2.0",
		Source: write.Source{Commit: strings.Repeat("e", 40), Time: wednesday.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	// Skipping staging is refused.
	_, err := write.Promote(ctx, r, write.PromoteRequest{Common: now, Service: "order-svc", From: "dev", To: "prod"})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "skips staging") {
		t.Fatalf("skip: %v", err)
	}
	// Staging needs an approval.
	_, err = write.Promote(ctx, r, write.PromoteRequest{Common: now, Service: "order-svc", From: "dev", To: "staging"})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "needs an approval") {
		t.Fatalf("no approval: %v", err)
	}
	// An approver not in delivery.yaml is refused.
	_, err = write.Approve(ctx, r, write.ApproveRequest{Common: write.Common{By: "mallory", Now: wednesday}, Env: "staging", Service: "order-svc", Version: "3.3.0-rc.1"})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "mallory may not approve staging") {
		t.Fatalf("mallory: %v", err)
	}
	// lan approves; the digest comes from dev.
	if _, err := write.Approve(ctx, r, write.ApproveRequest{Common: write.Common{By: "lan", Now: wednesday}, Env: "staging", Service: "order-svc", Version: "3.3.0-rc.1"}); err != nil {
		t.Fatal(err)
	}
	if got := show(t, bare, "state/approvals/staging/order-svc/3.3.0-rc.1.yaml"); !strings.Contains(got, "digest: sha256:"+strings.Repeat("d", 64)) || !strings.Contains(got, "approvedBy: lan") {
		t.Errorf("approval file:\n%s", got)
	}
	out, err := write.Promote(ctx, r, write.PromoteRequest{Common: now, Service: "order-svc", From: "dev", To: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Image.Tag != "3.3.0-rc.1" {
		t.Errorf("promoted %+v", out.Image)
	}
	// The outcome says who approved, as the commit does: notifications read it there.
	if out.ApprovedBy != "lan" {
		t.Errorf("promote into staging: ApprovedBy = %q, want lan (the recorded approval)", out.ApprovedBy)
	}
	f := show(t, bare, "environments/staging/order-svc.yaml")
	if !strings.Contains(f, "digest: sha256:"+strings.Repeat("d", 64)) || !strings.Contains(f, "version: 0.2.0") || !strings.HasPrefix(f, "# order-svc in staging") {
		t.Errorf("staging file:\n%s", f)
	}
	c := lastCommit(t, bare)
	for _, want := range []string{"promote(staging): order-svc → 3.3.0-rc.1", "Promoted-From: dev", "Approved-By: lan", "Source-Commit: " + strings.Repeat("e", 40), "Source-Time: 2026-11-25T09:00:00Z"} {
		if !strings.Contains(c, want) {
			t.Errorf("commit lacks %q:\n%s", want, c)
		}
	}
	// Prod: a release manager who is not the deployer.
	writeApproval(t, r, "prod", "3.3.0-rc.1", 'd', "minh")
	_, err = write.Promote(ctx, r, write.PromoteRequest{Common: write.Common{By: "minh", Now: wednesday}, Service: "order-svc", From: "staging", To: "prod"})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "cannot also deploy it") {
		t.Fatalf("self-approval: %v", err)
	}
	out, err = write.Promote(ctx, r, write.PromoteRequest{Common: write.Common{By: "thu", Now: wednesday}, Service: "order-svc", From: "staging", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if out.ApprovedBy != "minh" {
		t.Errorf("promote into prod: ApprovedBy = %q, want minh (the release manager)", out.ApprovedBy)
	}
	// Promoting backwards is bad input.
	_, err = write.Promote(ctx, r, write.PromoteRequest{Common: now, Service: "order-svc", From: "prod", To: "dev"})
	if !fault.IsInvalid(err) {
		t.Fatalf("backwards: %v", err)
	}
}

func TestRollbackRestoresThePreviousImageAndHolds(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	for i, tag := range []string{"3.2.0", "3.3.0"} {
		_, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc",
			Image: img(t, "order-svc", tag, byte('a'+i)), Source: write.Source{Commit: strings.Repeat(string(rune('a'+i)), 40), Time: wednesday.Add(time.Duration(i) * time.Minute)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc", Reason: "5xx spike"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Image.Tag != "3.2.0" {
		t.Fatalf("rolled back to %s, want 3.2.0", out.Image.Tag)
	}
	c := lastCommit(t, bare)
	// The fast lane names the commit that put 3.2.0 in dev: the evidence that it
	// passed dev's gates, which the rollback does not pass again.
	ranFrom := gitcmdtest.Git(t, bare, "log", "-1", "--format=%H", "--grep", "deploy(dev): order-svc → 3.2.0", "main")
	fast := "Fast-Lane: ran in dev from " + ranFrom[:12]
	for _, want := range []string{"rollback(dev): order-svc → 3.2.0", "Action: rollback", "Previous-Digest: sha256:" + strings.Repeat("b", 64), "Source-Commit: " + strings.Repeat("a", 40), fast} {
		if !strings.Contains(c, want) {
			t.Errorf("commit lacks %q:\n%s", want, c)
		}
	}
	if !strings.Contains(out.Message, "fast lane: ran in dev from "+ranFrom[:12]) {
		t.Errorf("the rollback says %q; want it to say it takes the fast lane", out.Message)
	}
	hold := show(t, bare, "state/holds/dev/order-svc.yaml")
	if !strings.Contains(hold, "by: oncall") || !strings.Contains(hold, "rolled back from 3.3.0: 5xx spike") {
		t.Errorf("hold:\n%s", hold)
	}
	// An automated deploy is now refused, naming the hold and the fix.
	_, err = write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "3.4.0", 'f'), Source: write.Source{Time: wednesday.Add(time.Hour)}})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "held since 2026-11-25T10:00:00Z by oncall") || !strings.Contains(err.Error(), "smpctl hold release --env dev --service order-svc") {
		t.Fatalf("deploy on hold: %v", err)
	}
	// Rollback --to a tag from further back.
	out, err = write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc", To: "3.1.0"})
	if err != nil || out.Image.Digest != "sha256:"+strings.Repeat("1", 64) {
		t.Fatalf("rollback --to 3.1.0: %+v %v", out, err)
	}
	// Rollback --to a revision of the GitOps repository.
	rev := gitcmdtest.Git(t, bare, "log", "--format=%H", "--grep", "deploy(dev): order-svc → 3.3.0", "main")
	out, err = write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc", To: rev[:10]})
	if err != nil || out.Image.Tag != "3.3.0" {
		t.Fatalf("rollback --to %s: %+v %v", rev[:10], out, err)
	}
	// Release, then deploy again.
	if _, err := write.ReleaseHold(ctx, r, write.HoldRequest{Common: write.Common{By: "oncall", Now: wednesday}, Env: "dev", Service: "order-svc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc",
		Image: img(t, "order-svc", "3.4.0", 'f'), Source: write.Source{Time: wednesday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	_, err = write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "x", Now: wednesday}, Env: "dev", Service: "order-svc", To: "9.9.9"})
	if !fault.IsInvalid(err) {
		t.Fatalf("rollback to an unknown tag: %v", err)
	}
}

func TestOutOfOrderDeploysAreRefused(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	ctx := context.Background()
	// A real service repository: c1 → c2.
	svc := t.TempDir()
	gitcmdtest.Git(t, svc, "init", "--quiet", "--initial-branch=main")
	gitcmdtest.Git(t, svc, "commit", "--quiet", "--allow-empty", "-m", "c1")
	c1 := gitcmdtest.Git(t, svc, "rev-parse", "HEAD")
	gitcmdtest.Git(t, svc, "commit", "--quiet", "--allow-empty", "-m", "c2")
	c2 := gitcmdtest.Git(t, svc, "rev-parse", "HEAD")

	dep := func(tag string, d byte, src write.Source) error {
		_, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: img(t, "order-svc", tag, d), Source: src})
		return err
	}
	if err := dep("sha-c2", 'b', write.Source{Commit: c2, Time: wednesday}); err != nil {
		t.Fatal(err)
	}
	// By time: an older build is refused.
	err := dep("sha-c1", 'a', write.Source{Commit: c1, Time: wednesday.Add(-time.Hour)})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "older than the running source") {
		t.Fatalf("older by time: %v", err)
	}
	// By ancestry: c1 is refused even when its claimed time is later.
	err = dep("sha-c1", 'a', write.Source{Commit: c1, Time: wednesday.Add(time.Hour), Repo: svc})
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "by ancestry") {
		t.Fatalf("older by ancestry: %v", err)
	}
	// A --source-repo that is not a repository is bad input.
	err = dep("sha-c1", 'a', write.Source{Commit: c1, Time: wednesday, Repo: t.TempDir()})
	if !fault.IsInvalid(err) {
		t.Fatalf("bad source repo: %v", err)
	}
	// A newer build passes.
	if err := dep("sha-c3", 'c', write.Source{Commit: strings.Repeat("3", 40), Time: wednesday.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputIsExit2AndWritesNothing(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 0)
	r := repoFor(t, bare)
	// An environment file that is not YAML.
	work := t.TempDir()
	gitcmdtest.Git(t, work, "clone", "--quiet", bare, ".")
	if err := os.WriteFile(filepath.Join(work, "environments/staging/order-svc.yaml"), []byte("image: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, work, "commit", "--quiet", "-am", "break staging")
	gitcmdtest.Git(t, work, "push", "--quiet", "origin", "main")
	head := gitcmdtest.Git(t, bare, "rev-parse", "main")
	good := img(t, "order-svc", "3.3.0", 'a')
	for _, tc := range []struct {
		name, env, svc, says string
	}{
		{"path traversal in the environment", "../prod", "order-svc", "invalid environment"},
		{"a slash in the service", "dev", "a/b", "invalid service"},
		{"a backslash", "dev", `..\x`, "invalid service"},
		{"upper case", "Dev", "order-svc", "invalid environment"},
		{"a space", "dev", "order svc", "invalid service"},
		{"unicode", "dév", "order-svc", "invalid environment"},
		{"an unknown environment", "qa", "order-svc", `unknown environment "qa"`},
		{"an unknown service", "dev", "cart-svc", `unknown service "cart-svc"`},
		{"an environment file that is not YAML", "staging", "order-svc", "environments/staging/order-svc.yaml in the GitOps repository: not a YAML mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := write.Deploy(context.Background(), r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: tc.env, Service: tc.svc, Image: good})
			if !fault.IsInvalid(err) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v (kind %v), want invalid input saying %q", err, fault.Kind(err), tc.says)
			}
		})
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != head {
		t.Error("bad input committed")
	}
	_, err := write.Open(gitops.Remote{URL: filepath.Join(t.TempDir(), "missing.git")}, gitops.Identity{Name: "a", Email: "a@b"}, gitops.Options{})
	if !fault.IsInvalid(err) || !errors.Is(err, gitops.ErrRemoteNotFound) {
		t.Errorf("missing remote: %v", err)
	}
}

// TestConcurrentDeploys: 20 deploys of 20 services and 10 deploys of one
// service, all at once, through a hook that rejects the first pushes. Every
// deploy lands or is refused as out of order (a clear error); none is lost;
// the history shows each one that landed; the final state is the newest.
func TestConcurrentDeploys(t *testing.T) {
	t.Parallel()
	bare := newRemote(t, 20)
	gitopstest.RejectFirst(t, bare, 5)
	r := repoFor(t, bare)
	ctx := context.Background()
	type result struct {
		svc, tag string
		err      error
	}
	results := make(chan result, 30)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			svc := fmt.Sprintf("svc-%02d", i)
			_, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: svc,
				Image: img(t, svc, "1.0.0", 'a'), Source: write.Source{Time: wednesday}})
			results <- result{svc, "1.0.0", err}
		})
	}
	for i := range 10 {
		wg.Go(func() {
			tag := fmt.Sprintf("3.4.%d", i)
			_, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc",
				Image: img(t, "order-svc", tag, "0123456789"[i]), Source: write.Source{Time: wednesday.Add(time.Duration(i) * time.Minute)}})
			results <- result{"order-svc", tag, err}
		})
	}
	wg.Wait()
	close(results)
	history := gitcmdtest.Git(t, bare, "log", "--format=%s", "main")
	landed := 0
	for res := range results {
		subject := fmt.Sprintf("deploy(dev): %s → %s", res.svc, res.tag)
		switch {
		case res.err == nil:
			landed++
			if !strings.Contains(history, subject) {
				t.Errorf("%s reported success but is not in the history", subject)
			}
		case res.svc == "order-svc" && strings.Contains(res.err.Error(), "older than the running source"):
			if strings.Contains(history, subject) {
				t.Errorf("%s was refused but is in the history", subject)
			}
		default:
			t.Errorf("%s: %v", subject, res.err)
		}
	}
	if landed < 21 {
		t.Errorf("%d deploys landed, want at least 21 (20 services and the newest order-svc)", landed)
	}
	if n := strings.Count(history, "\n") + 1; n != landed+1 {
		t.Errorf("%d commits, want %d (init + every landed deploy)", n, landed+1)
	}
	if f := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(f, "tag: 3.4.9") {
		t.Errorf("final order-svc is not the newest build:\n%s", f)
	}
}

func TestRefusedCredentialsAreExit1WithoutTheToken(t *testing.T) {
	t.Parallel()
	const token = "ghp_this-is-the-secret"
	bare := newRemote(t, 0)
	srv, ca := gitopstest.HTTPSRemote(t, filepath.Dir(bare), token)
	url := srv.URL + "/" + filepath.Base(bare)
	req := write.DeployRequest{Common: write.Common{By: "ci", Now: wednesday}, Env: "dev", Service: "order-svc", Image: img(t, "order-svc", "3.3.0", 'a')}
	r, err := write.Open(gitops.Remote{URL: url, Token: "wrong" + token, CAFile: ca}, gitops.Identity{Name: "a", Email: "a@b"}, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = write.Deploy(context.Background(), r, req)
	if !fault.IsRefused(err) || !errors.Is(err, gitops.ErrAuth) || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "SMP_GIT_TOKEN") {
		t.Fatalf("err = %v (kind %v), want a refusal, ErrAuth, a hint at SMP_GIT_TOKEN and no token", err, fault.Kind(err))
	}
	r, err = write.Open(gitops.Remote{URL: url, Token: token, CAFile: ca}, gitops.Identity{Name: "a", Email: "a@b"}, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write.Deploy(context.Background(), r, req); err != nil {
		t.Fatalf("deploy over https with the token: %v", err)
	}
}
