package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
)

// servicePage is what /services/{name} shows.
type servicePage struct {
	pageBase
	Service string
	Cells   []history.Cell
	// Timeline is every environment's history of the service, newest
	// first, at most timelineLimit entries.
	Timeline  []timelineEntry
	Truncated int
	// Diff compares the environments DiffFrom and DiffTo for the service;
	// Pairs are the environment pairs a link can switch it to.
	Diff     *history.Diff
	DiffFrom string
	DiffTo   string
	Pairs    [][2]string
	Metrics  []history.MetricsRow
	Window   time.Duration
	Trend    []trendEnv
	// Notifications are the service's recorded notifications that could
	// not be sent, newest first: pending ones, and resent ones as a record.
	Notifications []history.Notification
}

// timelineEntry is one commit of the service's history in one environment.
type timelineEntry struct {
	Env string
	history.Event
}

// timelineLimit bounds the entries a service page lists; the chart and the
// metrics still count every commit.
const timelineLimit = 200

// trendWeeks is how many weeks the trend charts show: a quarter.
const trendWeeks = 12

func (d *Dashboard) service(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := d.viewFor(ctx)
	if v.err != nil {
		d.renderError(w, r, v)
		return
	}
	name := r.PathValue("name")
	now := d.o.Now()
	p := servicePage{pageBase: d.base(v, name, now), Service: name, Window: d.o.Window}
	for _, row := range v.status.Services {
		if row.Name == name {
			p.Cells = row.Environments
		}
	}
	if p.Cells == nil {
		d.renderProblem(w, r, v, http.StatusNotFound, "Unknown service",
			fmt.Sprintf("%s is neither in delivery.yaml nor has a file under environments/ at %s: pick a service from the matrix, or add it with smpctl gitops add-service %s.", name, short(v.head), name))
		return
	}
	for _, n := range v.notifications {
		if n.Service == name {
			p.Notifications = append(p.Notifications, n)
		}
	}
	envs := v.status.Environments
	for i := 1; i < len(envs); i++ {
		p.Pairs = append(p.Pairs, [2]string{envs[i-1], envs[i]})
	}
	p.DiffFrom, p.DiffTo = r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if p.DiffFrom == "" && p.DiffTo == "" && len(p.Pairs) > 0 {
		// The last gate is the one people wait on: staging → prod.
		last := p.Pairs[len(p.Pairs)-1]
		p.DiffFrom, p.DiffTo = last[0], last[1]
	}
	if p.DiffFrom != "" || p.DiffTo != "" {
		diff, err := cached(v.services, "diff\x00"+name+"\x00"+p.DiffFrom+"\x00"+p.DiffTo, func() (*history.Diff, error) {
			return v.repo.Diff(ctx, p.DiffFrom, p.DiffTo, history.DiffOptions{Service: name})
		})
		if errors.Is(err, fault.ErrInvalid) {
			d.renderProblem(w, r, v, http.StatusBadRequest, "Cannot compare these environments", err.Error())
			return
		}
		if err != nil {
			d.serverError(w, r, "diff", err)
			return
		}
		p.Diff = diff
	}
	reads, err := cached(v.services, "reads\x00"+name, func() (*serviceReads, error) {
		return readService(ctx, v.repo, envs, name, d.o.Window, now)
	})
	if err != nil {
		d.serverError(w, r, "read "+name, err)
		return
	}
	p.Trend, p.Metrics = reads.trend, reads.metrics
	p.Timeline = reads.timeline
	if len(p.Timeline) > timelineLimit {
		p.Truncated = len(p.Timeline) - timelineLimit
		p.Timeline = p.Timeline[:timelineLimit]
	}
	d.render(w, r, serviceTmpl, &p)
}

// serviceReads is what a service page reads from the history. It changes
// only with the head, so it is kept with the view (serviceCache): a page
// seen again, or re-fetched by the live update of another open tab, costs a
// render. The metrics' window and the trend end when they were read.
type serviceReads struct {
	timeline []timelineEntry
	trend    []trendEnv
	metrics  []history.MetricsRow
}

// serviceCache keeps what the service pages of one view read: per service
// its serviceReads, per service and pair of environments its diff. Views
// that share a head (one marked stale, say) share it.
type serviceCache struct {
	mu sync.Mutex
	m  map[string]any
}

// cached returns the value kept under key, reading it with read the first
// time; errors are not kept. Two first requests may both read: the lock is
// not held across the read, so one slow page does not hold up the others.
func cached[T any](c *serviceCache, key string, read func() (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	r, err := read()
	if err != nil {
		return r, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]any{}
	}
	c.m[key] = r
	c.mu.Unlock()
	return r, nil
}

// readService reads the timeline (every environment's history of svc, in
// commit order), the metrics of svc and their weekly trend.
func readService(ctx context.Context, repo *history.Repo, envs []string, svc string, window time.Duration, now time.Time) (*serviceReads, error) {
	var all []timelineEntry
	for _, env := range envs {
		h, err := repo.History(ctx, env, svc, 0)
		if err != nil {
			return nil, fmt.Errorf("history of %s in %s: %w", svc, env, err)
		}
		for _, e := range h.Events {
			all = append(all, timelineEntry{Env: env, Event: e})
		}
	}
	if err := order(ctx, repo, all); err != nil {
		return nil, fmt.Errorf("order the timeline of %s: %w", svc, err)
	}
	// One walk for the window's figures and their weekly trend.
	m, tr, err := repo.Figures(ctx, history.MetricsOptions{Window: window, Until: now, Service: svc}, history.TrendOptions{Weeks: trendWeeks, Until: now})
	if err != nil {
		return nil, fmt.Errorf("delivery figures of %s: %w", svc, err)
	}
	out := &serviceReads{timeline: all, trend: trendCharts(envs, tr)}
	for _, row := range m.Rows {
		if row.Service == svc { // not the environment's totals
			out.metrics = append(out.metrics, row)
		}
	}
	return out, nil
}

// order sorts the entries newest first in the repository's commit order:
// commit times are seconds, and a pipeline writes several commits in one.
// One walk of the history, stopped once every entry's commit is placed.
func order(ctx context.Context, repo *history.Repo, entries []timelineEntry) error {
	pos := map[string]int{}
	for _, e := range entries {
		pos[e.Commit] = -1
	}
	left, n := len(pos), 0
	if left == 0 {
		return nil
	}
	err := repo.Walk(ctx, history.WalkOptions{}, func(ev *history.WalkEvent) bool {
		if p, ok := pos[ev.Commit]; ok && p < 0 {
			pos[ev.Commit] = n
			left--
		}
		n++
		return left > 0
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(entries, func(a, b timelineEntry) int { return pos[a.Commit] - pos[b.Commit] })
	return nil
}
