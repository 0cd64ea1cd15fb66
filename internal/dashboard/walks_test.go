package dashboard_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/history"
)

// walkLog records the history walks (git log processes) of the
// repositories an opener opens.
type walkLog struct {
	mu    sync.Mutex
	walks []history.WalkOptions
}

func (l *walkLog) add(o history.WalkOptions) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.walks = append(l.walks, o)
}

// take returns the walks since the last take: walks from a commit (whole
// or stopping at an older head), and walks of listed commits only (git
// log --no-walk).
func (l *walkLog) take() (full, listed int) {
	for _, o := range l.takeAll() {
		if len(o.Commits) > 0 {
			listed++
		} else {
			full++
		}
	}
	return full, listed
}

// takeAll returns the walks since the last take.
func (l *walkLog) takeAll() []history.WalkOptions {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.walks
	l.walks = nil
	return w
}

// walkedStory is the story's dashboard, with its walks logged, after the
// poller's first read.
func walkedStory(t *testing.T) (*story, *dashboard.Dashboard, *walkLog) {
	t.Helper()
	s := newStory(t)
	log := &walkLog{}
	cache := t.TempDir()
	d, err := dashboard.New(func(ctx context.Context) (*history.Repo, error) {
		return history.Open(ctx, s.bare, history.OpenOptions{CacheDir: cache, OnWalk: log.add})
	}, dashboard.Options{Now: s.now})
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, d)
	log.take()
	return s, d, log
}

func refresh(t *testing.T, d *dashboard.Dashboard) {
	t.Helper()
	if _, err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// timelineOf is the service page's timeline, entry by entry.
func timelineOf(t *testing.T, d *dashboard.Dashboard, svc string) []string {
	t.Helper()
	code, body, doc := get(t, d, "/services/"+svc)
	if code != http.StatusOK {
		t.Fatalf("GET /services/%s = %d:\n%s", svc, code, body)
	}
	var out []string
	for _, li := range all(byID(doc, "timeline"), "li") {
		out = append(out, text(li))
	}
	return out
}

// sameAsAWalkPerService checks that what the pages show of each service —
// timeline, metrics, trend, the releases whose gate figures are shown — is
// what a walk of its own reads (history.Repo.Service, the pages' read
// before issue #16) at the view's head.
func sameAsAWalkPerService(t *testing.T, d *dashboard.Dashboard) {
	t.Helper()
	for _, svc := range []string{"order-svc", "partner-svc", "billing-svc"} {
		fromIndex, fromWalk, err := dashboard.ServiceReadsBothWays(context.Background(), d, svc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromIndex, fromWalk) {
			t.Errorf("%s: the page reads from the index\n%+v\nwhere a walk of its own reads\n%+v", svc, fromIndex, fromWalk)
		}
	}
}

// Issue #16: the service pages of one head share one walk of the history
// (an index of every service), where each page's first visit walked it.
func TestEveryServicePageOfAHeadSharesOneWalk(t *testing.T) {
	t.Parallel()
	_, d, log := walkedStory(t)
	for _, svc := range []string{"order-svc", "partner-svc", "billing-svc", "partner-svc"} {
		if tl := timelineOf(t, d, svc); len(tl) == 0 {
			t.Errorf("%s: an empty timeline", svc)
		}
	}
	if full, listed := log.take(); full != 1 || listed > 1 {
		t.Errorf("three service pages walked the history %d times (and listed commits %d times), want once (and at most once)", full, listed)
	}
	sameAsAWalkPerService(t, d)
}

// A commit on top of the head the pages were read at is read alone: the
// next page walks the new commit only (git log new --not old). A force
// push — a head that does not descend from the last — is read with one
// walk of the whole history, shared again by every page. Each time the
// pages say what a walk per service says.
func TestANewHeadIsReadFromTheCommitsSinceTheLastOrInFullAfterAForcePush(t *testing.T) {
	t.Parallel()
	s, d, log := walkedStory(t)
	timelineOf(t, d, "order-svc")
	old := strings.TrimSpace(gitcmdtest.Git(t, s.bare, "rev-parse", "main"))
	log.take()

	s.deploy("dev", "partner-svc", "sha-fffffff", 'f', "ci")
	head := strings.TrimSpace(gitcmdtest.Git(t, s.bare, "rev-parse", "main"))
	refresh(t, d)
	log.take() // the matrix's
	// Another service's page: the index is every service's.
	timelineOf(t, d, "billing-svc")
	walks := log.takeAll()
	if len(walks) != 1 || walks[0].From != head || !slices.Equal(walks[0].Exclude, []string{old}) {
		t.Errorf("after one commit on top the next page walked %+v; want one walk from %.12s stopping at %.12s", walks, head, old)
	}
	if tl := timelineOf(t, d, "partner-svc"); len(tl) != 11 || !strings.Contains(tl[0], "sha-fffffff") {
		t.Errorf("partner-svc's timeline after the deploy:\n%s\nwant 11 entries, the new deploy first", strings.Join(tl, "\n"))
	}
	if full, listed := log.take(); full+listed != 0 {
		t.Errorf("another page at the same head walked %d times", full+listed)
	}
	sameAsAWalkPerService(t, d)
	log.take()

	// Force-push: main two commits back, then a hand edit of
	// partner-svc's prod file on top.
	work := filepath.Join(t.TempDir(), "w")
	gitcmdtest.Git(t, "", "clone", "--quiet", s.bare, work)
	gitcmdtest.Git(t, work, "reset", "--quiet", "--hard", "HEAD~2")
	if err := os.WriteFile(filepath.Join(work, "environments/prod/partner-svc.yaml"), []byte("image:\n  repository: ghcr.io/smp/partner-svc\n  tag: by-hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitcmdtest.Git(t, work, "commit", "--quiet", "--all", "-m", "pin partner-svc by hand")
	gitcmdtest.Git(t, work, "push", "--quiet", "--force", "origin", "HEAD:main")
	refresh(t, d)
	log.take()
	tl := timelineOf(t, d, "partner-svc")
	timelineOf(t, d, "order-svc")
	walks = log.takeAll()
	full := 0
	for _, w := range walks {
		if len(w.Commits) == 0 {
			full++
			if len(w.Exclude) > 0 {
				t.Errorf("after a force push a walk stopped at %v: the old head is not an ancestor", w.Exclude)
			}
		}
	}
	if full != 1 {
		t.Errorf("after a force push two pages walked the history %d times: %+v; want once", full, walks)
	}
	if len(tl) != 11 || !strings.Contains(tl[0], "pin partner-svc by hand") || slices.ContainsFunc(tl, func(e string) bool { return strings.Contains(e, "sha-fffffff") }) {
		t.Errorf("partner-svc's timeline after the force push:\n%s\nwant the hand edit first, then the 10 entries before the deploy pushed over", strings.Join(tl, "\n"))
	}
	sameAsAWalkPerService(t, d)
}

// A page is read at the head of the view it renders, whatever HEAD is by
// then: a commit that lands after the poller's read shows on the next
// view, not half on this one (the matrix at the old head, the timeline at
// the new).
func TestAServicePageReadsTheHistoryAtItsViewsHead(t *testing.T) {
	t.Parallel()
	s, d, _ := walkedStory(t)
	s.deploy("dev", "partner-svc", "sha-fffffff", 'f', "ci")
	tl := timelineOf(t, d, "partner-svc")
	if len(tl) != 10 || slices.ContainsFunc(tl, func(e string) bool { return strings.Contains(e, "sha-fffffff") }) {
		t.Errorf("the timeline of the view before the deploy:\n%s\nwant its 10 entries, without the deploy that landed since", strings.Join(tl, "\n"))
	}
	refresh(t, d)
	if tl := timelineOf(t, d, "partner-svc"); len(tl) != 11 || !strings.Contains(tl[0], "sha-fffffff") {
		t.Errorf("the timeline after the refresh:\n%s\nwant the deploy first", strings.Join(tl, "\n"))
	}
}

// Issue #16: a service page's first visit read every environment's history
// with a walk of its own, walked again to order the timeline, again for
// the metrics and trend and again for the diff's matrix — five walks of
// 5,000 commits. It shares one.
func TestAServicePagesFirstVisitWalksTheHistoryOnce(t *testing.T) {
	t.Parallel()
	s := newStory(t)
	var log walkLog
	cache := t.TempDir()
	d, err := dashboard.New(func(ctx context.Context) (*history.Repo, error) {
		return history.Open(ctx, s.bare, history.OpenOptions{CacheDir: cache, OnWalk: log.add})
	}, dashboard.Options{Now: s.now})
	if err != nil {
		t.Fatal(err)
	}
	// The matrix is read by the poller, before anyone opens a page.
	if _, err := d.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.take()

	code, body, doc := get(t, d, "/services/partner-svc")
	if code != http.StatusOK {
		t.Fatalf("GET /services/partner-svc = %d:\n%s", code, body)
	}
	// The page shows what it read: all ten entries of the timeline, the
	// metrics of every environment and the diff.
	if n := len(all(byID(doc, "timeline"), "li")); n != 10 {
		t.Errorf("the timeline has %d entries, want 10", n)
	}
	if n := len(all(all(byID(doc, "metrics"), "tbody")[0], "tr")); n != 3 {
		t.Errorf("the metrics have %d rows, want 3", n)
	}
	if got := text(byID(doc, "diff")); !strings.Contains(got, "1.1.0-rc.1 1.0.0") {
		t.Errorf("the diff reads %q", got)
	}
	// At most one more walk, over the commits without an action only (the
	// hand edits and the notifications' records), to see which touched the
	// service's files.
	if full, listed := log.take(); full != 1 || listed > 1 {
		t.Errorf("the first visit walked the history %d times (and listed commits %d times), want once (and at most once)", full, listed)
	}

	// Another visit, and another pair of environments, at the same head:
	// no walk at all.
	get(t, d, "/services/partner-svc")
	if _, _, doc := get(t, d, "/services/partner-svc?from=dev&to=staging"); !strings.Contains(text(byID(doc, "diff")), "runs the same image") {
		t.Errorf("the dev → staging diff reads %q", text(byID(doc, "diff")))
	}
	if full, listed := log.take(); full+listed != 0 {
		t.Errorf("visits at the same head walked the history %d times, want none", full+listed)
	}
}
