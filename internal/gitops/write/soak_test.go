package write_test

import (
	"context"
	"fmt"
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
	"github.com/smp/delivery/internal/testkit/testctx"
)

// soakYAML: staging takes only what soaked in dev, prod only what soaked
// in staging. No freezes: these tests run on the wall clock (commit times
// are the wall clock's), whatever day it is.
const soakYAML = `version: 3
apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: automated, trigger: rc, approval: none, soak: %s}
  - {name: prod, sync: manual, trigger: release, approval: none, soak: %s}
services:
  - name: order-svc
    image: ghcr.io/smp/order-svc
`

func newSoakRemote(t *testing.T, soak string) (string, *gitops.Repo) {
	t.Helper()
	files := map[string]string{"delivery.yaml": fmt.Sprintf(soakYAML, soak, soak)}
	for _, env := range []string{"dev", "staging", "prod"} {
		files["environments/"+env+"/order-svc.yaml"] = "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 0.0.0\n  digest: sha256:" + strings.Repeat("0", 64) + "\n"
	}
	bare := gitopstest.NewRemote(t, files)
	return bare, repoFor(t, bare)
}

// build is the n-th build of order-svc: tag 1.0.<n>, a digest of its own,
// and a source time that moves forward with n.
func build(t *testing.T, n int) (imageref.Ref, write.Source) {
	t.Helper()
	r, err := imageref.Parse(fmt.Sprintf("ghcr.io/smp/order-svc:1.0.%d@sha256:%064x", n, n+1))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	return r, write.Source{Commit: fmt.Sprintf("%040x", n+1), Time: base.Add(time.Duration(n) * time.Minute)}
}

func deployN(t *testing.T, r *gitops.Repo, n int, now time.Time) write.Outcome {
	t.Helper()
	ref, src := build(t, n)
	out, err := write.QueueOrDeploy(context.Background(), r, write.DeployRequest{
		Common: write.Common{By: "ci", Now: now}, Env: "dev", Service: "order-svc", Image: ref, Source: src,
	})
	if err != nil {
		t.Fatalf("deploy 1.0.%d: %v", n, err)
	}
	return out
}

func head(t *testing.T, bare string) string {
	t.Helper()
	return gitcmdtest.Git(t, bare, "rev-parse", "main")
}

func TestPromoteRefusesAVersionThatDidNotSoakAndSaysWhatItStillNeeds(t *testing.T) {
	t.Parallel()
	bare, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	now := time.Now()
	deployN(t, r, 1, now)
	promote := write.PromoteRequest{Common: write.Common{By: "ci", Now: now}, Service: "order-svc", From: "dev", To: "staging"}
	_, err := write.Promote(ctx, r, promote)
	if !fault.IsRefused(err) {
		t.Fatalf("promote without a soak: %v (kind %v), want a refusal", err, fault.Kind(err))
	}
	for _, want := range []string{
		"promote of order-svc 1.0.1 to staging refused: staging needs soak: 1h0m0s in dev",
		"with 0s of soak recorded: it still needs 1h0m0s of soak",
		"`smpctl verify --env dev --service order-svc --for 1h0m0s`",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%v", want, err)
		}
	}

	// A soak shorter than the requirement: it still needs the difference.
	later := now.Add(2 * time.Hour)
	deployed := write.Common{By: "watch", Now: later}
	st, err := write.SoakStateOf(ctx, r, "dev", "order-svc", later)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write.RecordSoak(ctx, r, write.SoakRequest{Common: deployed, Env: "dev", Service: "order-svc", Version: "1.0.1",
		Since: st.DeployedAt, Until: st.DeployedAt.Add(20 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	promote.Now = later
	if _, err := write.Promote(ctx, r, promote); !fault.IsRefused(err) || !strings.Contains(err.Error(), "with 20m0s of soak recorded: it still needs 40m0s of soak") {
		t.Fatalf("promote after 20m of soak: %v", err)
	}

	// A full soak lets it through.
	if _, err := write.RecordSoak(ctx, r, write.SoakRequest{Common: deployed, Env: "dev", Service: "order-svc", Version: "1.0.1", Gate: "error rate 0.1%, p95 120ms"}); err != nil {
		t.Fatal(err)
	}
	if c := lastCommit(t, bare); !strings.Contains(c, "soak(dev): order-svc 1.0.1 soaked ") || !strings.Contains(c, "Action: soak") || !strings.Contains(c, "Gate: error rate 0.1%, p95 120ms") {
		t.Errorf("soak commit:\n%s", c)
	}
	if _, err := write.Promote(ctx, r, promote); err != nil {
		t.Fatalf("promote after the soak: %v", err)
	}
	if got := show(t, bare, "environments/staging/order-svc.yaml"); !strings.Contains(got, "tag: 1.0.1") {
		t.Errorf("staging:\n%s", got)
	}
}

func TestRecordingTheSameSoakAgainWritesNothing(t *testing.T) {
	t.Parallel()
	bare, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	deployN(t, r, 1, time.Now())
	later := time.Now().Add(90 * time.Minute)
	req := write.SoakRequest{Common: write.Common{By: "watch", Now: later, ChangeID: "watch-7-soak"}, Env: "dev", Service: "order-svc", Version: "1.0.1"}
	out, err := write.RecordSoak(ctx, r, req)
	if err != nil || out.AlreadyDone {
		t.Fatalf("first record: %+v, %v", out, err)
	}
	h := head(t, bare)

	// A restarted watch with the same change id, and one without: nothing twice.
	if out, err := write.RecordSoak(ctx, r, req); err != nil || !out.AlreadyDone {
		t.Fatalf("same change id: %+v, %v", out, err)
	}
	req.ChangeID = ""
	out, err = write.RecordSoak(ctx, r, req)
	if err != nil || !out.AlreadyDone || !strings.Contains(out.Message, "order-svc 1.0.1 already soaked 1h30m") {
		t.Fatalf("same window again: %+v, %v", out, err)
	}
	// A shorter window than the one recorded says nothing new either.
	req.Until = later.Add(-time.Hour)
	if out, err := write.RecordSoak(ctx, r, req); err != nil || !out.AlreadyDone {
		t.Fatalf("a shorter window: %+v, %v", out, err)
	}
	if head(t, bare) != h {
		t.Error("a repeated soak record committed")
	}
}

func TestRecordSoakBadInputSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	_, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	deployN(t, r, 1, time.Now())
	now := time.Now().Add(time.Hour)
	ok := write.SoakRequest{Common: write.Common{By: "watch", Now: now}, Env: "dev", Service: "order-svc", Version: "1.0.1"}
	for _, tc := range []struct {
		name string
		edit func(*write.SoakRequest)
		want string
	}{
		{"an unknown environment", func(q *write.SoakRequest) { q.Env = "qa" }, `unknown environment "qa": delivery.yaml lists dev, staging, prod`},
		{"an unknown service", func(q *write.SoakRequest) { q.Service = "cart-svc" }, `unknown service "cart-svc"`},
		{"a version the environment does not run", func(q *write.SoakRequest) { q.Version = "1.0.0" }, `order-svc runs "1.0.1" in dev (environments/dev/order-svc.yaml), not 1.0.0`},
		{"another digest", func(q *write.SoakRequest) { q.Digest = "sha256:" + strings.Repeat("f", 64) }, "record the soak of the image that ran"},
		{"a window before the deploy", func(q *write.SoakRequest) { q.Since = now.Add(-48 * time.Hour) }, "before order-svc 1.0.1 was deployed to dev"},
		{"a window that ends before it starts", func(q *write.SoakRequest) { q.Since, q.Until = now, now.Add(-time.Minute) }, "give --since before --until"},
		{"a window in the future", func(q *write.SoakRequest) { q.Until = now.Add(time.Hour) }, "record a soak once it has happened"},
		{"a tag that is no version", func(q *write.SoakRequest) { q.Version = "../x" }, `version "../x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := ok
			tc.edit(&q)
			_, err := write.RecordSoak(ctx, r, q)
			if !fault.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v (kind %v), want bad input saying %q", err, fault.Kind(err), tc.want)
			}
		})
	}
}

func TestAutomatedDeploysQueueWhileACandidateSoaksAndDrainAfter(t *testing.T) {
	t.Parallel()
	bare, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	now := time.Now()
	if out := deployN(t, r, 1, now); out.Action != "deploy" {
		t.Fatalf("the first deploy: %+v", out)
	}
	// 1.0.1 soaks for staging: 1.0.2 and then 1.0.3 queue behind it.
	out := deployN(t, r, 2, now)
	if out.Action != "queue" || !strings.Contains(out.Message, "queue(dev): order-svc → 1.0.2") || !strings.Contains(out.Message, "order-svc 1.0.1 soaks in dev until staging has soaked 1h0m0s") {
		t.Fatalf("the second deploy: %+v", out)
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, "tag: 1.0.1") {
		t.Fatalf("a queued deploy replaced the candidate:\n%s", got)
	}
	if out := deployN(t, r, 2, now); out.Action != "queue" || !out.AlreadyDone || !strings.Contains(out.Message, "already queued") {
		t.Errorf("the same deploy again: %+v", out)
	}
	deployN(t, r, 3, now)
	c := lastCommit(t, bare)
	v2, _ := build(t, 2)
	for _, want := range []string{"queue(dev): order-svc → 1.0.3", "Action: queue", "Superseded: " + v2.String(), "Soaking: 1.0.1"} {
		if !strings.Contains(c, want) {
			t.Errorf("the superseding queue commit lacks %q:\n%s", want, c)
		}
	}
	if q := show(t, bare, "state/queue/dev/order-svc.yaml"); !strings.Contains(q, "tag: 1.0.3") || !strings.Contains(q, "behind: 1.0.1") {
		t.Errorf("queue file:\n%s", q)
	}

	// An older build than the queued one is refused, not queued.
	ref, src := build(t, 2)
	src.Commit = fmt.Sprintf("%040x", 99)
	ref.Digest = "sha256:" + strings.Repeat("9", 64)
	if _, err := write.QueueOrDeploy(ctx, r, write.DeployRequest{Common: write.Common{By: "ci", Now: now}, Env: "dev", Service: "order-svc", Image: ref, Source: src}); !fault.IsRefused(err) || !strings.Contains(err.Error(), "older than the queued 1.0.3") {
		t.Errorf("an older build: %v", err)
	}

	// Draining while it soaks writes nothing.
	drain := write.DrainRequest{Common: write.Common{By: "watch", Now: now}, Env: "dev", Service: "order-svc"}
	h := head(t, bare)
	if out, err := write.DrainQueue(ctx, r, drain); err != nil || !out.AlreadyDone || !strings.Contains(out.Message, "order-svc 1.0.1 still soaks in dev") {
		t.Fatalf("drain while soaking: %+v, %v", out, err)
	}
	if head(t, bare) != h {
		t.Error("draining while soaking committed")
	}

	// The soak ends: the newest queued deploy lands, once.
	later := now.Add(2 * time.Hour)
	if _, err := write.RecordSoak(ctx, r, write.SoakRequest{Common: write.Common{By: "watch", Now: later}, Env: "dev", Service: "order-svc", Version: "1.0.1"}); err != nil {
		t.Fatal(err)
	}
	drain.Now, drain.ChangeID = later, "watch-7-drain"
	out, err := write.DrainQueue(ctx, r, drain)
	if err != nil || out.AlreadyDone || out.Image == nil || out.Image.Tag != "1.0.3" {
		t.Fatalf("drain after the soak: %+v, %v", out, err)
	}
	c = lastCommit(t, bare)
	for _, want := range []string{"deploy(dev): order-svc → 1.0.3", "Deployed-By: ci", "Dequeued-By: watch", "Queued-At: "} {
		if !strings.Contains(c, want) {
			t.Errorf("the drain's commit lacks %q:\n%s", want, c)
		}
	}
	if gitcmdtest.Git(t, bare, "ls-tree", "--name-only", "main", "state/queue/dev/") != "" {
		t.Error("the queue file is still there after the drain")
	}
	// A restarted watch drains again: nothing twice, with or without the id.
	h = head(t, bare)
	for _, id := range []string{"watch-7-drain", ""} {
		drain.ChangeID = id
		if out, err := write.DrainQueue(ctx, r, drain); err != nil || !out.AlreadyDone {
			t.Errorf("drain again (change id %q): %+v, %v", id, out, err)
		}
	}
	if head(t, bare) != h {
		t.Error("a second drain committed")
	}
}

func TestAManualDeployIsNotQueuedAndSupersedesTheQueue(t *testing.T) {
	t.Parallel()
	bare, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	now := time.Now()
	deployN(t, r, 1, now)
	deployN(t, r, 2, now) // queued
	ref, src := build(t, 3)
	if _, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "trung", Now: now}, Env: "dev", Service: "order-svc", Image: ref, Source: src}); err != nil {
		t.Fatalf("a person's deploy while soaking: %v", err)
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, "tag: 1.0.3") {
		t.Fatalf("dev after a manual deploy:\n%s", got)
	}
	// 1.0.2 is older than what runs now: once 1.0.3's time is up, draining drops it, by name.
	later := now.Add(3 * time.Hour)
	out, err := write.DrainQueue(ctx, r, write.DrainRequest{Common: write.Common{By: "watch", Now: later}, Env: "dev", Service: "order-svc"})
	if err != nil || out.Action != "dequeue" || !strings.Contains(out.Message, "dequeue(dev): order-svc 1.0.2 older than the running build") {
		t.Fatalf("drain of a stale entry: %+v, %v", out, err)
	}
	v2, _ := build(t, 2)
	if c := lastCommit(t, bare); !strings.Contains(c, "Superseded: "+v2.String()) {
		t.Errorf("the dequeue commit does not name 1.0.2:\n%s", c)
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, "tag: 1.0.3") {
		t.Errorf("draining a stale entry deployed it:\n%s", got)
	}
}

func TestARollbackIsNeverBlockedBySoakAndItsHoldKeepsTheQueue(t *testing.T) {
	t.Parallel()
	bare, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	now := time.Now()
	deployN(t, r, 1, now)
	// Land 1.0.2 while 1.0.1 has soaked but is not promoted... by a person.
	ref, src := build(t, 2)
	if _, err := write.Deploy(ctx, r, write.DeployRequest{Common: write.Common{By: "trung", Now: now}, Env: "dev", Service: "order-svc", Image: ref, Source: src}); err != nil {
		t.Fatal(err)
	}
	deployN(t, r, 3, now) // queued behind 1.0.2
	if _, err := write.Rollback(ctx, r, write.RollbackRequest{Common: write.Common{By: "oncall", Now: now}, Env: "dev", Service: "order-svc", Reason: "gate failed"}); err != nil {
		t.Fatalf("rollback while soaking: %v", err)
	}
	if got := show(t, bare, "environments/dev/order-svc.yaml"); !strings.Contains(got, "tag: 1.0.1") {
		t.Fatalf("dev after the rollback:\n%s", got)
	}
	// The hold ends the soak, but the queue waits for it to be released.
	drain := write.DrainRequest{Common: write.Common{By: "watch", Now: now}, Env: "dev", Service: "order-svc"}
	if _, err := write.DrainQueue(ctx, r, drain); !fault.IsRefused(err) || !strings.Contains(err.Error(), "deploy the queued order-svc 1.0.3 to dev: order-svc in dev is held") {
		t.Fatalf("drain while held: %v", err)
	}
	if q := show(t, bare, "state/queue/dev/order-svc.yaml"); !strings.Contains(q, "tag: 1.0.3") {
		t.Errorf("the refused drain lost the queue:\n%s", q)
	}
	if _, err := write.ReleaseHold(ctx, r, write.HoldRequest{Common: write.Common{By: "oncall", Now: now}, Env: "dev", Service: "order-svc"}); err != nil {
		t.Fatal(err)
	}
	// Released, 1.0.1 (rolled back to, deployed long before) does not soak: the queue drains.
	drain.Now = now.Add(3 * time.Hour)
	if out, err := write.DrainQueue(ctx, r, drain); err != nil || out.Image == nil || out.Image.Tag != "1.0.3" || out.AlreadyDone {
		t.Fatalf("drain after the release: %+v, %v", out, err)
	}
}

// TestAHighChurnServiceStillGetsAVersionToProd: CI deploys to dev every few
// milliseconds while staging and prod need a 3s soak. A watch records
// soaks, promotes and drains as `smpctl verify --for` and CD would. A
// version reaches prod, and every build CI deployed is in git as deployed
// to dev or as superseded by a newer one — none is lost.
func TestAHighChurnServiceStillGetsAVersionToProd(t *testing.T) {
	t.Parallel()
	const builds = 25
	bare, r := newSoakRemote(t, "3s")
	ctx := testctx.New(t)

	var wg sync.WaitGroup
	churnErr := make(chan error, 1)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for n := 1; n <= builds; n++ {
			ref, src := build(t, n)
			if _, err := write.QueueOrDeploy(ctx, r, write.DeployRequest{
				Common: write.Common{By: "ci", Now: time.Now()}, Env: "dev", Service: "order-svc", Image: ref, Source: src,
			}); err != nil {
				churnErr <- fmt.Errorf("deploy 1.0.%d: %w", n, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	watch := write.Common{By: "watch"}
	// soakAndPromote is what a watch does when its window passed: record
	// the soak of what env runs and promote it to next. A soak too short
	// yet, or a promotion refused because the candidate changed, is tried
	// again on the next round.
	soakAndPromote := func(env, next string) bool {
		watch.Now = time.Now()
		st, err := write.SoakStateOf(ctx, r, env, "order-svc", watch.Now)
		if err != nil {
			t.Fatal(err)
		}
		if st.DeployedAt.IsZero() || st.Tag == "0.0.0" || watch.Now.Sub(st.DeployedAt) < st.Need.D() {
			return false
		}
		// On a loaded machine the watch can be slower than the candidate's
		// grace (2·soak): CI's next deploy then lands, and the record or
		// the promotion is of a version dev no longer runs — as for a real
		// watch, that round is lost, not the build.
		if _, err := write.RecordSoak(ctx, r, write.SoakRequest{Common: watch, Env: env, Service: "order-svc", Version: st.Tag, Digest: st.Digest}); err != nil {
			if !fault.IsInvalid(err) {
				t.Fatalf("record the soak of %s in %s: %v", st.Tag, env, err)
			}
			t.Logf("record the soak of %s in %s: %v", st.Tag, env, err)
			return false
		}
		_, err = write.Promote(ctx, r, write.PromoteRequest{Common: watch, Service: "order-svc", From: env, To: next})
		if err != nil {
			if !fault.IsRefused(err) {
				t.Fatalf("promote %s from %s to %s: %v", st.Tag, env, next, err)
			}
			t.Logf("promote %s from %s to %s: %v", st.Tag, env, next, err)
			return false
		}
		return true
	}
	inProd := false
	for round := 0; ; round++ {
		select {
		case err := <-churnErr:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatalf("no version reached prod with the queue drained before the test's deadline (%d rounds)", round)
		default:
		}
		// staging first: a promotion from dev would replace staging's
		// candidate just as it soaked.
		if soakAndPromote("staging", "prod") {
			inProd = true
		}
		if soakAndPromote("dev", "staging") {
			watch.Now = time.Now()
			if _, err := write.DrainQueue(ctx, r, write.DrainRequest{Common: watch, Env: "dev", Service: "order-svc"}); err != nil {
				t.Fatalf("drain dev: %v", err)
			}
		}
		select {
		case <-done:
			st, err := write.SoakStateOf(ctx, r, "dev", "order-svc", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if inProd && st.Queued == nil {
				wg.Wait()
				checkNoBuildLost(t, bare, builds)
				return
			}
		default:
		}
		// A watch's poll, a sixth of the soak: every round reads the
		// remote twice (git fetch and friends), which at 50 ms took a
		// quarter of the test's CPU from the deploys it watches.
		time.Sleep(500 * time.Millisecond)
	}
}

// checkNoBuildLost finds every build in dev's history: deployed, or named
// as superseded by a queue, deploy or dequeue commit.
func checkNoBuildLost(t *testing.T, bare string, builds int) {
	t.Helper()
	log := gitcmdtest.Git(t, bare, "log", "--format=%s%n%(trailers:key=Superseded,valueonly)", "main")
	deployed, superseded := 0, 0
	for n := 1; n <= builds; n++ {
		ref, _ := build(t, n)
		switch {
		case strings.Contains(log, "deploy(dev): order-svc → "+ref.Tag+"\n"):
			deployed++
		case strings.Contains(log, ref.String()):
			superseded++
		default:
			t.Errorf("build %s is neither deployed to dev nor recorded as superseded", ref.Tag)
		}
	}
	if !strings.Contains(gitcmdtest.Git(t, bare, "show", "main:environments/prod/order-svc.yaml"), "tag: 1.0.") {
		t.Error("prod runs no build of the churn")
	}
	t.Logf("%d builds: %d deployed to dev, %d superseded in the queue", builds, deployed, superseded)
}

// TestADeployIntoASoakedEnvironmentNeedsTheSoakToo: the reusable CD ships
// releases to staging and prod with deploy (under the release tag), not
// promote, and only promote checked the soak: delivery.yaml's soak held
// nothing back in the pipeline. A deploy now needs the digest's soak in
// the environment before, whatever tag it soaked under there.
func TestADeployIntoASoakedEnvironmentNeedsTheSoakToo(t *testing.T) {
	t.Parallel()
	bare, r := newSoakRemote(t, "1h")
	ctx := context.Background()
	now := time.Now()
	deployN(t, r, 1, now) // dev runs 1.0.1 (sha256:…02)
	dev, src := build(t, 1)
	rc, err := imageref.Parse(fmt.Sprintf("ghcr.io/smp/order-svc:1.1.0-rc.1@%s", dev.Digest))
	if err != nil {
		t.Fatal(err)
	}
	deploy := write.DeployRequest{Common: write.Common{By: "ci", Now: now, Run: "https://ci.example/runs/9"}, Env: "staging", Service: "order-svc", Image: rc, Source: src}
	before := head(t, bare)
	_, err = write.Deploy(ctx, r, deploy)
	if !fault.IsRefused(err) || !strings.Contains(err.Error(), "deploy of order-svc 1.1.0-rc.1 to staging refused: staging needs soak: 1h0m0s in dev") ||
		!strings.Contains(err.Error(), "then deploy again") {
		t.Fatalf("deploy to staging of a build that did not soak in dev = %v, want a refusal", err)
	}
	if head(t, bare) != before {
		t.Error("a refused deploy committed")
	}
	// The build soaks in dev under its dev tag: the same digest, shipped
	// under the release tag, may go.
	later := now.Add(2 * time.Hour)
	if _, err := write.RecordSoak(ctx, r, write.SoakRequest{Common: write.Common{By: "watch", Now: later}, Env: "dev", Service: "order-svc", Version: dev.Tag}); err != nil {
		t.Fatal(err)
	}
	deploy.Now = later
	if _, err := write.Deploy(ctx, r, deploy); err != nil {
		t.Fatalf("deploy to staging after the soak in dev: %v", err)
	}
	if got := show(t, bare, "environments/staging/order-svc.yaml"); !strings.Contains(got, "tag: 1.1.0-rc.1") {
		t.Errorf("staging:\n%s", got)
	}
}
