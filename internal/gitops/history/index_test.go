package history

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/gitopsgen"
)

// walkCounter counts an opened repository's walks: full walks from a
// commit, walks that stop at an older head (WalkOptions.Exclude), and
// listings of given commits.
type walkCounter struct {
	mu    sync.Mutex
	walks []WalkOptions
}

func (w *walkCounter) add(o WalkOptions) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.walks = append(w.walks, o)
}

func (w *walkCounter) take() (full, since, listed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.walks {
		switch {
		case len(o.Commits) > 0:
			listed++
		case len(o.Exclude) > 0:
			since++
		default:
			full++
		}
	}
	w.walks = nil
	return full, since, listed
}

// indexRepo is a generated history (6 services, 300 commits) in a clone,
// with hand edits of two services' files, one of them in a folder under
// state/approvals.
func indexRepo(t *testing.T) (*fixture, *Repo, *walkCounter) {
	t.Helper()
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "gen.git")
	if err := gitopsgen.Build(ctx, bare, gitopsgen.Options{Services: 6, Commits: 300, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	runGit(t, work, t0, "clone", "--quiet", bare, "w")
	f := &fixture{t: t, dir: filepath.Join(work, "w")}
	late := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, rel := range []string{"environments/prod/svc-002.yaml", "state/approvals/dev/svc-002/9.9.9.yaml", "environments/prod/svc-003.yaml"} {
		f.write(rel, "image:\n  tag: by-hand\n")
		f.commit(late.Add(time.Duration(i)*time.Hour), "hand edit "+rel)
	}
	var w walkCounter
	r, err := Open(ctx, f.dir, OpenOptions{OnWalk: w.add})
	if err != nil {
		t.Fatal(err)
	}
	return f, r, &w
}

// indexOptions reach back over the whole generated history.
var indexOptions = ServiceOptions{
	Envs:    []string{"dev", "staging", "prod"},
	Metrics: MetricsOptions{Window: 5 * 365 * 24 * time.Hour},
	Trend:   TrendOptions{Weeks: 5 * 52},
}

// sameAsService checks that x says for every service at its commit, HEAD,
// what Repo.Service, one walk per service, says.
func sameAsService(t *testing.T, r *Repo, x *Index) {
	t.Helper()
	ctx := context.Background()
	if head, err := r.Head(ctx); err != nil || head != x.Commit() {
		t.Fatalf("the index is at %s, HEAD at %s (%v)", x.Commit(), head, err)
	}
	for _, svc := range x.snap.Services() {
		want, err := r.Service(ctx, svc, indexOptions)
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.Service(svc, indexOptions)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the index says\n%+v\nService says\n%+v", svc, got, want)
		}
		if svc != "svc-006" && (len(want.Timeline) == 0 || len(want.Metrics.Rows) == 0) {
			t.Errorf("%s: an empty report proves nothing: %d timeline entries, %d metrics rows", svc, len(want.Timeline), len(want.Metrics.Rows))
		}
	}
}

// Issue #16: one walk reads what every service's Repo.Service reads with a
// walk each, and the index says the same for each of them — hand edits
// included, in the environments whose files they touched.
func TestAnIndexIsEveryServiceFromOneWalk(t *testing.T) {
	t.Parallel()
	f, r, w := indexRepo(t)
	// svc-006 has no commit: a file in prod only, by hand.
	f.write("environments/prod/svc-006.yaml", "image:\n  tag: by-hand\n")
	f.commit(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), "hand edit: add svc-006")
	x, err := r.Index(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if full, since, listed := w.take(); full != 1 || since != 0 || listed != 1 {
		t.Errorf("reading the index walked %d times (%d since an older head) and listed commits %d times, want once and once", full, since, listed)
	}
	sameAsService(t, r, x)
	if _, err := x.Service("nope", indexOptions); err == nil {
		t.Error("the index read an unknown service without an error")
	}
	if _, err := x.Service("svc-002", ServiceOptions{Envs: []string{"qa"}}); err == nil {
		t.Error("the index read an unknown environment without an error")
	}
}

// A new head on top of the indexed one is read by walking the new commits
// only; the older index still says what it said at its own commit.
func TestAnIndexIsExtendedByTheCommitsSinceItsHead(t *testing.T) {
	t.Parallel()
	f, r, w := indexRepo(t)
	ctx := context.Background()
	old, err := r.Index(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := old.Service("svc-002", indexOptions)
	if err != nil {
		t.Fatal(err)
	}
	w.take()

	at := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	f.change(change{action: "deploy", env: "dev", svc: "svc-002", tag: "sha-new", digest: digest('n'), previous: digest('m'),
		source: strings.Repeat("n", 40), sourceTime: at.Add(-time.Hour), by: "ci", at: at})
	f.change(change{action: "rollback", env: "dev", svc: "svc-002", tag: "sha-old", digest: digest('m'), previous: digest('n'), by: "oncall", at: at.Add(time.Hour)})
	f.write("state/holds/staging/svc-004.yaml", "by: someone\n")
	f.commit(at.Add(2*time.Hour), "hand edit: hold svc-004 in staging")
	x, err := r.Index(ctx, "", old)
	if err != nil {
		t.Fatal(err)
	}
	full, since, listed := w.take()
	if full != 0 || since != 1 || listed != 1 {
		t.Errorf("the new head walked the whole history %d times, the new commits %d times and listed %d times, want 0, 1 and 1", full, since, listed)
	}
	if got := x.Len() - old.Len(); got != 3 {
		t.Errorf("the new index has %d more commits, want 3", got)
	}
	sameAsService(t, r, x)
	again, err := old.Service("svc-002", indexOptions)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, before) || again.Commit == x.Commit() {
		t.Errorf("the older index changed when it was extended:\n%+v\nwas\n%+v", again, before)
	}
	w.take()
	// At the same head: the same index, no walk.
	if same, err := r.Index(ctx, x.Commit(), x); err != nil || same != x {
		t.Errorf("Index at its own head = %p, %v; want the same index", same, err)
	}
	if full, since, listed := w.take(); full+since+listed != 0 {
		t.Errorf("the same head walked %d times", full+since+listed)
	}
}

// A head that is not a descendant (a force push) or that a merge brought
// is read with one walk of the whole history, and says what Service says.
func TestAnIndexIsReadAgainAfterAForcePushOrAMerge(t *testing.T) {
	t.Parallel()
	f, r, w := indexRepo(t)
	ctx := context.Background()
	old, err := r.Index(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.take()

	at := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	f.git(at, "reset", "--quiet", "--hard", "HEAD~2")
	f.change(change{action: "deploy", env: "prod", svc: "svc-001", tag: "sha-forced", digest: digest('f'), by: "ci", at: at})
	x, err := r.Index(ctx, "", old)
	if err != nil {
		t.Fatal(err)
	}
	if full, since, listed := w.take(); full != 1 || since != 0 || listed != 1 {
		t.Errorf("after a force push: %d full walks, %d since the old head, %d listings; want 1, 0, 1", full, since, listed)
	}
	sameAsService(t, r, x)
	w.take()

	// A branch merged in: its commit is older than main's newest, so git
	// lists it below commits that a chain on top of x would have after it.
	f.git(at, "checkout", "--quiet", "-b", "side", "HEAD~1")
	f.change(change{action: "deploy", env: "staging", svc: "svc-001", tag: "sha-side", digest: digest('s'), by: "ci", at: at.Add(-48 * time.Hour)})
	f.git(at, "checkout", "--quiet", "main")
	f.change(change{action: "deploy", env: "dev", svc: "svc-001", tag: "sha-main", digest: digest('t'), by: "ci", at: at.Add(time.Hour)})
	f.git(at.Add(2*time.Hour), "merge", "--quiet", "--no-ff", "-m", "merge side", "side")
	y, err := r.Index(ctx, "", x)
	if err != nil {
		t.Fatal(err)
	}
	if full, _, _ := w.take(); full != 1 {
		t.Errorf("after a merge: %d full walks, want 1", full)
	}
	sameAsService(t, r, y)
}

// The paths a hand edit is tied to a service by are the paths Service
// lists it with: a service's file, its hold, its approvals' folder.
func TestServiceOfPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path string
		want Key
		ok   bool
	}{
		{"environments/prod/order-svc.yaml", Key{"prod", "order-svc"}, true},
		{"state/holds/dev/order-svc.yaml", Key{"dev", "order-svc"}, true},
		{"state/approvals/staging/order-svc/3.3.0.yaml", Key{"staging", "order-svc"}, true},
		{"state/approvals/staging/order-svc", Key{"staging", "order-svc"}, true},
		{"environments/prod/order-svc.yml", Key{}, false},
		{"environments/prod", Key{}, false},
		{"state/notifications/x.yaml", Key{}, false},
		{"delivery.yaml", Key{}, false},
	} {
		got, ok := serviceOfPath(c.path)
		if got != c.want || ok != c.ok {
			t.Errorf("serviceOfPath(%q) = %v, %v; want %v, %v", c.path, got, ok, c.want, c.ok)
		}
	}
}

// BenchmarkServiceReads compares, in one run on the repository
// (200 services × 3 environments × 5,000 commits), the dashboard's reads
// of service pages one walk per service (Repo.Service, "walk") with one
// Index per head ("index"):
//
//   - all-pages: every service's page read at one head;
//   - new-commit: one commit lands on top, then one page is read at the new
//     head (the index of the old head already read).
//
// Each iteration of new-commit adds its commit to a copy of the repository
// (a clone sharing its objects), so the history grows by one per
// iteration. index-bytes is the heap an Index of the whole history holds.
func BenchmarkServiceReads(b *testing.B) {
	r := benchRepo(b)
	ctx := context.Background()
	head, err := r.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	snap, err := r.snapshotAt(ctx, head, false)
	if err != nil {
		b.Fatal(err)
	}
	services := snap.Services()
	if len(services) != 200 {
		b.Fatalf("%d services", len(services))
	}
	o := ServiceOptions{Envs: gitopsgen.Envs, Metrics: MetricsOptions{Window: DefaultWindow}, Trend: TrendOptions{Weeks: DefaultTrendWeeks}}
	b.Run("all-pages/walk", func(b *testing.B) {
		for b.Loop() {
			for _, svc := range services {
				if _, err := r.Service(ctx, svc, o); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("all-pages/index", func(b *testing.B) {
		for b.Loop() {
			x, err := r.Index(ctx, head, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, svc := range services {
				if _, err := x.Service(svc, o); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(indexBytes(b, r, head)), "index-bytes")
	})
	for _, how := range []string{"walk", "index"} {
		b.Run("new-commit/"+how, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "w")
			runGitB(b, "", "clone", "--quiet", "--shared", benchDir, dir)
			w, err := Open(ctx, dir, OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			x, err := w.Index(ctx, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				if err := os.WriteFile(filepath.Join(dir, "environments/dev/svc-007.yaml"), fmt.Appendf(nil, "image:\n  tag: sha-%07x\n", n), 0o644); err != nil {
					b.Fatal(err)
				}
				runGitB(b, dir, "commit", "--quiet", "--all", "-m", fmt.Sprintf("deploy(dev): svc-007 → sha-%07x\n\nAction: deploy\nEnvironment: dev\nService: svc-007", n))
				b.StartTimer()
				if how == "walk" {
					if _, err := w.Service(ctx, "svc-007", o); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if x, err = w.Index(ctx, "", x); err != nil {
					b.Fatal(err)
				}
				if _, err := x.Service("svc-007", o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// indexBytes is the heap an Index of the history at head holds.
func indexBytes(b *testing.B, r *Repo, head string) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x, err := r.Index(context.Background(), head, nil)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	return after.HeapAlloc - before.HeapAlloc
}

func runGitB(b *testing.B, dir string, args ...string) {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
