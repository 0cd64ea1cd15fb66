package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/smp/delivery/internal/dashboard"
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

// take returns the walks since the last take: full walks from a commit,
// and walks of listed commits only (git log --no-walk).
func (l *walkLog) take() (full, listed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.walks {
		if len(o.Commits) > 0 {
			listed++
		} else {
			full++
		}
	}
	l.walks = nil
	return full, listed
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
