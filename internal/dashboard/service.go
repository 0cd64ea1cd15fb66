package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
)

// servicePage is what /services/{name} shows.
type servicePage struct {
	pageBase
	Service string
	Cells   []serviceCell
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
	// Gate is the live gate figures per environment, with
	// Options.Prometheus.
	Gate []gateFigure
	// Earlier is the gate figures of the releases each environment ran
	// before the current one, with Options.Prometheus.
	Earlier []gateRelease
	// GateCharts draws Earlier and Gate release by release.
	GateCharts []gateChartEnv
	// Notifications are the service's recorded notifications that could
	// not be sent, newest first: pending ones, and resent ones as a record.
	Notifications []history.Notification
}

// serviceCell is the service in one environment, with what guards it.
type serviceCell struct {
	history.Cell
	// Queued is the deploy waiting for the running version's soak.
	Queued *queuedDeploy
	// SignatureNeed is what the environment asks of an approval when the
	// cell has no ApprovalSignature (signatureNeed).
	SignatureNeed string
}

// timelineEntry is one commit of the service's history in one environment.
type timelineEntry = history.EnvEvent

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
		if row.Name != name {
			continue
		}
		for _, c := range row.Environments {
			p.Cells = append(p.Cells, serviceCell{Cell: c, Queued: queuedFor(v.status, c), SignatureNeed: signatureNeed(v.status.Config, c.Environment)})
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
		// The matrix the view holds has both sides: a diff is a loop over
		// it, not a second read of the files and the history.
		diff, err := v.status.Diff(p.DiffFrom, p.DiffTo, name)
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
		return d.reads(ctx, v, name, now)
	})
	if err != nil {
		d.serverError(w, r, "read "+name, err)
		return
	}
	p.Trend, p.Metrics = reads.trend, reads.metrics
	p.Gate = d.gateFigures(ctx, name, p.Cells, now)
	p.Timeline = reads.timeline
	p.Earlier = d.earlierGateFigures(ctx, name, p.Timeline, envs)
	p.GateCharts = gateCharts(envs, p.Earlier, p.Gate)
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
// its serviceReads. Views that share a head (one marked stale, say) share
// it.
type serviceCache struct {
	mu sync.Mutex
	m  map[string]any
}

// cached returns the value kept under key, reading it with read the first
// time; errors are not kept. Two first requests may both read: the lock is
// not held across the read, so one slow page does not hold up the others
// (the walk they share is indexOf's, which is read once).
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

// viewIndex is the history index of a view's head, read by the first
// service page visited at that head and shared by all of them (views that
// share a head share it too).
type viewIndex struct {
	mu sync.Mutex // held across the read: concurrent first visits wait for one walk
	x  *history.Index
}

// indexOf returns the index of the history at v.head — the head v's matrix
// was read at, never a newer HEAD, so a page agrees with itself while
// commits land. The first call at a head reads it: the index of the
// previous head extended by the commits since (one short walk), or, when
// there is none or the head is not a descendant of it (a force push), one
// walk of the whole history. Errors are not kept: the next visit tries
// again.
func (d *Dashboard) indexOf(ctx context.Context, v *view) (*history.Index, error) {
	v.index.mu.Lock()
	defer v.index.mu.Unlock()
	if v.index.x != nil {
		return v.index.x, nil
	}
	d.idxMu.Lock()
	prev := d.lastIndex
	d.idxMu.Unlock()
	x, err := v.repo.Index(ctx, v.head, prev)
	if err != nil {
		return nil, fmt.Errorf("read the history at %s: %w", short(v.head), err)
	}
	v.index.x = x
	// Keep it as the next head's base only while its view is the current
	// one: a page of an older view, still rendering after a refresh, must
	// not set the base back.
	if cur := d.current(); cur != nil && cur.head == v.head {
		d.idxMu.Lock()
		d.lastIndex = x
		d.idxMu.Unlock()
	}
	return x, nil
}

// readsFromIndex reads what svc's page shows from the index of v's head.
func (d *Dashboard) readsFromIndex(ctx context.Context, v *view, svc string, now time.Time) (*serviceReads, error) {
	x, err := d.indexOf(ctx, v)
	if err != nil {
		return nil, err
	}
	return readService(x, v.status.Environments, svc, d.o.Window, now)
}

// readService reads from the index the timeline (every environment's
// history of svc, in commit order), the metrics of svc and their weekly
// trend.
func readService(x *history.Index, envs []string, svc string, window time.Duration, now time.Time) (*serviceReads, error) {
	rep, err := x.Service(svc, serviceOptions(envs, window, now))
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", svc, err)
	}
	return fromReport(rep, envs, svc), nil
}

// serviceOptions is what a service page reads of the history.
func serviceOptions(envs []string, window time.Duration, now time.Time) history.ServiceOptions {
	return history.ServiceOptions{
		Envs:    envs,
		Metrics: history.MetricsOptions{Window: window, Until: now},
		Trend:   history.TrendOptions{Weeks: trendWeeks, Until: now},
	}
}

// fromReport is what a service page shows of the service's report.
func fromReport(rep *history.ServiceReport, envs []string, svc string) *serviceReads {
	out := &serviceReads{timeline: rep.Timeline, trend: trendCharts(envs, rep.Trend)}
	for _, row := range rep.Metrics.Rows {
		if row.Service == svc { // not the environment's totals
			out.metrics = append(out.metrics, row)
		}
	}
	return out
}
