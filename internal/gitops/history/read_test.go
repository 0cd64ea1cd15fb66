package history

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/gitopsgen"

	"github.com/smp/delivery/internal/fault"
)

// story builds the history most tests read: order-svc built from three
// source commits and moved dev → staging → prod, a bad prod deploy rolled
// back with a hold, and partner-svc only in dev.
func story(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	h := time.Hour
	f.change(change{action: "deploy", env: "dev", svc: "order-svc", tag: "sha-aaaaaaa", digest: digest('a'),
		source: "aaaa", sourceTime: t0.Add(1 * h), by: "ci-bot", at: t0.Add(2 * h)})
	f.change(change{action: "deploy", env: "staging", svc: "order-svc", tag: "3.2.0-rc.1", digest: digest('a'),
		source: "aaaa", sourceTime: t0.Add(1 * h), by: "alice", at: t0.Add(5 * h)})
	f.change(change{action: "promote", env: "prod", svc: "order-svc", tag: "3.2.0", digest: digest('a'), from: "staging",
		source: "aaaa", sourceTime: t0.Add(1 * h), by: "carol", at: t0.Add(25 * h)})
	f.change(change{action: "deploy", env: "dev", svc: "order-svc", tag: "sha-bbbbbbb", digest: digest('b'),
		source: "bbbb", sourceTime: t0.Add(26 * h), by: "ci-bot", at: t0.Add(27 * h)})
	f.change(change{action: "promote", env: "staging", svc: "order-svc", tag: "3.3.0-rc.1", digest: digest('b'), from: "dev",
		source: "bbbb", sourceTime: t0.Add(26 * h), by: "alice", at: t0.Add(30 * h)})
	f.write("state/approvals/prod/order-svc/3.3.0.yaml", "version: 3.3.0\napprovedBy: carol\n")
	f.commit(t0.Add(31*h), "approve(prod): order-svc 3.3.0\n\nAction: approve\nEnvironment: prod\nService: order-svc\nApproved-By: carol")
	f.change(change{action: "promote", env: "prod", svc: "order-svc", tag: "3.3.0", digest: digest('b'), from: "staging",
		source: "bbbb", sourceTime: t0.Add(26 * h), by: "carol", at: t0.Add(32 * h)})
	f.change(change{action: "rollback", env: "prod", svc: "order-svc", tag: "3.2.0", digest: digest('a'), previous: digest('b'),
		source: "aaaa", sourceTime: t0.Add(1 * h), by: "dave", at: t0.Add(33 * h)})
	f.write("state/holds/prod/order-svc.yaml", "since: 2026-11-02T18:00:00Z\nby: dave\nreason: errors after 3.3.0\ndigest: "+digest('a')+"\n")
	f.commit(t0.Add(33*h), "hold(prod): order-svc\n\nAction: hold\nEnvironment: prod\nService: order-svc\nDeployed-By: dave")
	f.change(change{action: "deploy", env: "dev", svc: "partner-svc", tag: "sha-ccccccc", digest: digest('c'),
		source: "cccc", sourceTime: t0.Add(34 * h), by: "ci-bot", at: t0.Add(35 * h)})
	// A hand edit that does not touch the image: attribution stays with
	// the deploy.
	f.write("environments/dev/partner-svc.yaml", "# partner-svc in dev\nimage:\n  repository: ghcr.io/smp/partner-svc\n  tag: sha-ccccccc\n  digest: "+digest('c')+"\nchart:\n  version: 0.1.0\nreplicaCount: 5\n")
	f.commit(t0.Add(36*h), "bump partner-svc replicas")
	return f
}

func TestStatusShowsWhatRunsWhereAndWhoPutItThere(t *testing.T) {
	t.Parallel()
	f := story(t)
	st, err := f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.Environments, ","); got != "dev,staging,prod" {
		t.Errorf("environments = %s, want delivery.yaml's order dev,staging,prod", got)
	}
	prod, _ := st.Cell("order-svc", "prod")
	if prod.Tag != "3.2.0" || prod.Digest != digest('a') || prod.Action != ActionRollback || prod.DeployedBy != "dave" ||
		!prod.Held || prod.Hold == nil || prod.Hold.By != "dave" || prod.SourceCommit != "aaaa" || prod.Drift {
		t.Errorf("order-svc in prod = %+v, want 3.2.0 rolled back by dave, held, source aaaa", prod)
	}
	if want := t0.Add(33 * time.Hour); prod.DeployedAt == nil || !prod.DeployedAt.Equal(want) {
		t.Errorf("deployed at %v, want %v", prod.DeployedAt, want)
	}
	stg, _ := st.Cell("order-svc", "staging")
	if stg.Tag != "3.3.0-rc.1" || stg.Action != ActionPromote || stg.PromotedFrom != "dev" || stg.Held {
		t.Errorf("order-svc in staging = %+v", stg)
	}
	dev, _ := st.Cell("partner-svc", "dev")
	if dev.Tag != "sha-ccccccc" || dev.DeployedBy != "ci-bot" || dev.Drift {
		t.Errorf("partner-svc in dev = %+v: a replicas edit must not take the deploy's place", dev)
	}
	if c, _ := st.Cell("partner-svc", "prod"); c.Present || c.Held {
		t.Errorf("partner-svc has no prod file, got %+v", c)
	}
}

func TestStatusFlagsAnImageEditedByHand(t *testing.T) {
	t.Parallel()
	f := story(t)
	f.write("environments/dev/order-svc.yaml", "image:\n  repository: ghcr.io/smp/order-svc\n  tag: hotfix\n  digest: "+digest('d')+"\n")
	at := t0.Add(40 * time.Hour)
	f.git(at, "add", "--all")
	f.git(at, "-c", "user.name=mallory", "commit", "--quiet", "--author", "mallory <m@example.com>", "-m", "quick fix")
	st, err := f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Cell("order-svc", "dev")
	if !c.Drift || c.Tag != "hotfix" || c.DeployedBy != "mallory" || c.DeployedAt == nil || !c.DeployedAt.Equal(at) {
		t.Errorf("hand-edited cell = %+v, want drift attributed to mallory at %v", c, at)
	}
}

func TestStatusMarksAFileThatIsNotYAML(t *testing.T) {
	t.Parallel()
	f := story(t)
	f.write("environments/staging/partner-svc.yaml", "image: [unclosed\n")
	f.commit(t0.Add(50*time.Hour), "break it")
	st, err := f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Cell("partner-svc", "staging"); c.Error == "" || !c.Present {
		t.Errorf("broken file = %+v, want an error", c)
	}
}

func TestHistoryListsEveryCommitOfOneServiceInOneEnvironment(t *testing.T) {
	t.Parallel()
	f := story(t)
	r := f.open(t)
	h, err := r.History(context.Background(), "prod", "order-svc", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h.Events {
		got = append(got, string(e.Action)+" "+e.Tag+e.Version)
	}
	want := "hold ,rollback 3.2.0,promote 3.3.0,approve 3.3.0,promote 3.2.0"
	if strings.Join(got, ",") != want {
		t.Errorf("prod history = %s\nwant %s", strings.Join(got, ","), want)
	}
	h, err = r.History(context.Background(), "prod", "order-svc", 2)
	if err != nil || len(h.Events) != 2 {
		t.Fatalf("limit 2: %d events, %v", len(h.Events), err)
	}
	h, err = r.History(context.Background(), "dev", "partner-svc", 0)
	if err != nil || len(h.Events) != 2 || h.Events[0].Action != "" || h.Events[0].Subject != "bump partner-svc replicas" {
		t.Fatalf("dev partner-svc history must include the hand edit first: %+v, %v", h, err)
	}
}

func TestReadersRefuseUnknownAndMaliciousNames(t *testing.T) {
	t.Parallel()
	r := story(t).open(t)
	ctx := context.Background()
	for _, tt := range []struct{ env, svc, want string }{
		{"qa", "order-svc", "unknown environment"},
		{"../prod", "order-svc", "invalid environment"},
		{"prod", "..\\x", "invalid service"},
		{"prod", "a/b", "invalid service"},
		{"Prod", "order-svc", "invalid environment"},
		{"prod", "ordér", "invalid service"},
		{"prod", "billing-svc", "unknown service"},
	} {
		_, err := r.History(ctx, tt.env, tt.svc, 0)
		if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("History(%q, %q) = %v, want bad input %q", tt.env, tt.svc, err, tt.want)
		}
	}
	if _, err := r.Diff(ctx, "prod", "prod", DiffOptions{}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("diff prod prod = %v, want bad input", err)
	}
	if _, err := r.Metrics(ctx, MetricsOptions{Env: "../etc"}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("metrics --env ../etc = %v, want bad input", err)
	}
}

func TestDiffNamesWhatDiffersAndTheSourceCommitsBetween(t *testing.T) {
	t.Parallel()
	// The service's own repository: three commits; staging runs c3, prod c1.
	src := t.TempDir()
	runGit(t, src, t0, "init", "--quiet", "--initial-branch=main")
	var shas []string
	for i, subj := range []string{"feat: orders", "fix: idempotency key", "feat: partner webhook"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		runGit(t, src, at, "commit", "--quiet", "--allow-empty", "-m", subj)
		shas = append(shas, runGit(t, src, at, "rev-parse", "HEAD"))
	}
	f := newFixture(t)
	f.change(change{action: "deploy", env: "staging", svc: "order-svc", tag: "3.3.0-rc.1", digest: digest('b'), source: shas[2], at: t0.Add(5 * time.Hour)})
	f.change(change{action: "deploy", env: "prod", svc: "order-svc", tag: "3.2.0", digest: digest('a'), source: shas[0], at: t0.Add(6 * time.Hour)})
	f.change(change{action: "deploy", env: "staging", svc: "partner-svc", tag: "1.0.0", digest: digest('c'), at: t0.Add(7 * time.Hour)})
	f.change(change{action: "deploy", env: "prod", svc: "partner-svc", tag: "1.0.0", digest: digest('c'), at: t0.Add(8 * time.Hour)})

	d, err := f.open(t).Diff(context.Background(), "staging", "prod", DiffOptions{SourceRepo: src})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Services) != 1 || d.Same != 1 {
		t.Fatalf("diff = %+v, want order-svc differing and partner-svc the same", d)
	}
	sd := d.Services[0]
	if sd.Service != "order-svc" || strings.Join(sd.Differs, ",") != "image" || sd.From.SourceCommit != shas[2] || sd.To.SourceCommit != shas[0] {
		t.Errorf("order-svc diff = %+v", sd)
	}
	var subjects []string
	for _, c := range sd.Commits {
		subjects = append(subjects, c.Subject)
	}
	if got := strings.Join(subjects, "|"); got != "feat: partner webhook|fix: idempotency key" {
		t.Errorf("commits between = %q, want the two after prod's", got)
	}

	// A service repository that lacks the commits says so instead of failing.
	other := t.TempDir()
	runGit(t, other, t0, "init", "--quiet")
	d, err = f.open(t).Diff(context.Background(), "staging", "prod", DiffOptions{SourceRepo: other, Service: "order-svc"})
	if err != nil || len(d.Services) != 1 || !strings.Contains(d.Services[0].Note, "is not in") {
		t.Errorf("diff with an unrelated source repo = %+v, %v", d, err)
	}
	if _, err := f.open(t).Diff(context.Background(), "staging", "prod", DiffOptions{SourceRepo: t.TempDir()}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("--source-repo that is not a repo: %v, want bad input", err)
	}
}

func TestMetricsFromTheCommitsAlone(t *testing.T) {
	t.Parallel()
	f := story(t)
	until := t0.Add(48 * time.Hour)
	m, err := f.open(t).Metrics(context.Background(), MetricsOptions{Window: 48 * time.Hour, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]MetricsRow{}
	for _, r := range m.Rows {
		rows[r.Environment+"/"+r.Service] = r
	}
	prod := rows["prod/order-svc"]
	// Two promotions (3.2.0 at +25h from source +1h: 24h; 3.3.0 at +32h
	// from +26h: 6h), one rollback at +33h of the +32h promotion.
	if prod.Deploys != 2 || prod.Rollbacks != 1 || prod.ChangeFailureRate == nil || *prod.ChangeFailureRate != 0.5 {
		t.Errorf("prod/order-svc = %+v, want 2 deploys, 1 rollback, CFR 0.5", prod)
	}
	if prod.LeadTime.Count != 2 || prod.LeadTime.P50 != (6*time.Hour).Seconds() || prod.LeadTime.P90 != (24*time.Hour).Seconds() {
		t.Errorf("prod lead time = %+v, want p50 6h p90 24h", prod.LeadTime)
	}
	if prod.TimeToRestore.Count != 1 || prod.TimeToRestore.P50 != time.Hour.Seconds() {
		t.Errorf("prod time to restore = %+v, want 1h", prod.TimeToRestore)
	}
	if prod.PerDay != 1 {
		t.Errorf("prod per day = %v, want 2 deploys / 2 days", prod.PerDay)
	}
	dev := rows["dev/*"]
	if dev.Deploys != 3 || dev.Rollbacks != 0 || dev.ChangeFailureRate == nil || *dev.ChangeFailureRate != 0 {
		t.Errorf("dev total = %+v, want 3 deploys, no rollbacks", dev)
	}
	if m.Rows[0].Environment != "dev" || m.Rows[len(m.Rows)-1].Environment != "prod" || m.Rows[len(m.Rows)-1].Service != "*" {
		t.Errorf("rows not in environment order with totals last: %+v", m.Rows)
	}

	// A window that ends before the rollback counts the deploys only.
	m, err = f.open(t).Metrics(context.Background(), MetricsOptions{Window: 4 * time.Hour, Until: t0.Add(32 * time.Hour), Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 2 || m.Rows[0].Deploys != 1 || m.Rows[0].Rollbacks != 0 {
		t.Errorf("narrow window = %+v, want only the 3.3.0 promotion", m.Rows)
	}
}

func TestOpenReadsPathsBareRepositoriesAndURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := story(t)
	bare := filepath.Join(t.TempDir(), "gitops.git")
	runGit(t, f.dir, t0, "clone", "--quiet", "--bare", f.dir, bare)
	r, err := Open(ctx, bare, OpenOptions{})
	if err != nil {
		t.Fatalf("open bare: %v", err)
	}
	if st, err := r.Status(ctx); err != nil || len(st.Services) != 2 {
		t.Fatalf("status of bare: %v %v", st, err)
	}

	cache := t.TempDir()
	url := "file://" + bare
	r, err = Open(ctx, url, OpenOptions{CacheDir: cache, FetchTimeout: time.Minute})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	st, _ := r.Status(ctx)
	// A new commit on the remote shows up on the next open (fetch).
	f.change(change{action: "deploy", env: "staging", svc: "partner-svc", tag: "1.0.0-rc.1", digest: digest('e'), at: t0.Add(60 * time.Hour)})
	runGit(t, f.dir, t0, "push", "--quiet", bare, "main")
	r, err = Open(ctx, url, OpenOptions{CacheDir: cache, FetchTimeout: time.Minute})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	st2, err := r.Status(ctx)
	if err != nil || st2.Commit == st.Commit {
		t.Fatalf("fetch did not bring the new commit: %v", err)
	}
	if c, _ := st2.Cell("partner-svc", "staging"); c.Tag != "1.0.0-rc.1" {
		t.Errorf("after fetch partner-svc/staging = %+v", c)
	}
	clones, _ := filepath.Glob(filepath.Join(cache, "*.git"))
	if len(clones) != 1 {
		t.Errorf("cache holds %d clones, want one per URL", len(clones))
	}

	notRepo := t.TempDir()
	os.WriteFile(filepath.Join(notRepo, "x"), []byte("x"), 0o644)
	noConfig := t.TempDir()
	runGit(t, noConfig, t0, "init", "--quiet")
	runGit(t, noConfig, t0, "commit", "--quiet", "--allow-empty", "-m", "x")
	for _, tt := range []struct {
		spec, want string
		notGitOps  bool
	}{
		{"", "no GitOps repository", false},
		{filepath.Join(t.TempDir(), "nope"), "no such file", false},
		{notRepo, "not a git repository", true},
		{noConfig, "no delivery.yaml", true},
		{"file://" + filepath.Join(t.TempDir(), "nope.git"), "does not exist", false},
	} {
		_, err := Open(ctx, tt.spec, OpenOptions{CacheDir: t.TempDir()})
		if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %v, want bad input containing %q", tt.spec, err, tt.want)
		}
		if got := errors.Is(err, ErrNotGitOps); got != tt.notGitOps {
			t.Errorf("Open(%q): errors.Is(err, ErrNotGitOps) = %v, want %v", tt.spec, got, tt.notGitOps)
		}
	}
}

func TestHistoryFindsHandEditsOfHoldsAndApprovalsToo(t *testing.T) {
	t.Parallel()
	f := story(t)
	at := t0.Add(70 * time.Hour)
	f.write("state/approvals/staging/order-svc/3.3.0-rc.1.yaml", "version: 3.3.0-rc.1\napprovedBy: alice\n")
	f.commit(at, "record alice's approval by hand")
	f.write("state/approvals/staging/partner-svc/1.0.0.yaml", "version: 1.0.0\n")
	f.commit(at.Add(time.Hour), "another service's approval")
	h, err := f.open(t).History(context.Background(), "staging", "order-svc", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h.Events {
		got = append(got, e.Subject)
	}
	want := "record alice's approval by hand|promote(staging): order-svc → 3.3.0-rc.1|deploy(staging): order-svc → 3.2.0-rc.1"
	if strings.Join(got, "|") != want {
		t.Errorf("staging history:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

func TestOpeningTheSameURLConcurrentlyWorks(t *testing.T) {
	t.Parallel()
	f := story(t)
	bare := filepath.Join(t.TempDir(), "gitops.git")
	runGit(t, f.dir, t0, "clone", "--quiet", "--bare", f.dir, bare)
	cache := t.TempDir()
	url := "file://" + bare
	// First the clone, then the fetch: eight readers at once each time.
	for round := range 2 {
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				r, err := Open(context.Background(), url, OpenOptions{CacheDir: cache, FetchTimeout: time.Minute})
				if err == nil {
					_, err = r.Status(context.Background())
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
	}
}

func TestStatusReadsSeedStyleCommitsWithoutTrailers(t *testing.T) {
	t.Parallel()
	// The seed's pipeline: yq edits the tag, commits the subject only.
	f := newFixture(t)
	f.write("environments/dev/order-svc.yaml", "image:\n  repository: ghcr.io/smp/order-svc\n  tag: main\n")
	f.commit(t0.Add(time.Hour), "deploy(dev): order-svc → main")
	st, err := f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Cell("order-svc", "dev")
	if c.Tag != "main" || c.Action != ActionDeploy || c.Drift || c.DeployedBy != "smpctl-bot" {
		t.Errorf("seed-style deploy = %+v", c)
	}
	// A later yq edit of the tag without a deploy subject is drift.
	f.write("environments/dev/order-svc.yaml", "image:\n  repository: ghcr.io/smp/order-svc\n  tag: sha-2\n")
	f.commit(t0.Add(2*time.Hour), "update dev")
	st, err = f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Cell("order-svc", "dev"); !c.Drift || c.Tag != "sha-2" || c.Action != "" {
		t.Errorf("tag edited by hand = %+v, want drift attributed to the hand commit", c)
	}
}

// TestHistoryMatchesAPathLimitedLog checks History's shortcut against the
// plain answer, `git log -- paths`, on a generated history with hand edits.
func TestHistoryMatchesAPathLimitedLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "gen.git")
	if err := gitopsgen.Build(ctx, bare, gitopsgen.Options{Services: 6, Commits: 300, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	runGit(t, work, t0, "clone", "--quiet", bare, "w")
	dir := filepath.Join(work, "w")
	edit := func(rel, content, msg string, at time.Time) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		runGit(t, dir, at, "add", "--all")
		runGit(t, dir, at, "commit", "--quiet", "-m", msg)
	}
	late := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	edit("environments/prod/svc-002.yaml", "image:\n  tag: by-hand\n", "hand edit prod", late)
	edit("environments/dev/svc-002.yaml", "image:\n  tag: by-hand\n", "hand edit dev", late.Add(time.Hour))
	edit("state/approvals/prod/svc-002/9.9.9.yaml", "version: 9.9.9\n", "approval by hand", late.Add(2*time.Hour))
	r, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []Key{{"prod", "svc-002"}, {"dev", "svc-002"}, {"staging", "svc-004"}} {
		h, err := r.History(ctx, k.Env, k.Service, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, e := range h.Events {
			got = append(got, e.Commit)
		}
		paths := []string{"environments/" + k.Env + "/" + k.Service + ".yaml", "state/holds/" + k.Env + "/" + k.Service + ".yaml", "state/approvals/" + k.Env + "/" + k.Service}
		err = r.Walk(ctx, WalkOptions{Paths: paths}, func(ev *WalkEvent) bool {
			// The generated init commit writes every file: History counts
			// it only through its trailers (Action: init names no service).
			if ev.Action != ActionInit {
				want = append(want, ev.Commit)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") || len(got) < 2 {
			t.Errorf("%v: History has %d commits, git log -- paths %d:\n got %v\nwant %v", k, len(got), len(want), got, want)
		}
	}
}
