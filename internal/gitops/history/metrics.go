package history

import (
	"context"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
)

// MetricsOptions set the window metrics are computed over.
type MetricsOptions struct {
	// Window is how far back from Until to count; default 30 days.
	Window time.Duration
	// Until ends the window; default the newest commit's time.
	Until time.Time
	// Env and Service, when set, keep only those rows.
	Env, Service string
}

// DefaultWindow is 30 days.
const DefaultWindow = 720 * time.Hour

// Durations summarises a set of durations (seconds in JSON).
type Durations struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Seconds"`
	P90   float64 `json:"p90Seconds"`
	Mean  float64 `json:"meanSeconds"`
}

func summarise(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(ds))))-1, 0)
		return ds[i].Seconds()
	}
	return Durations{Count: len(ds), P50: rank(0.5), P90: rank(0.9), Mean: (sum / time.Duration(len(ds))).Seconds()}
}

// MetricsRow is the delivery metrics of one service in one environment;
// Service "*" is the environment's total.
type MetricsRow struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	// Deploys counts deploy and promote commits in the window.
	Deploys int `json:"deploys"`
	// PerDay is the deployment frequency: Deploys per day of window.
	PerDay float64 `json:"deploysPerDay"`
	// LeadTime: commit time of the deploy − Source-Time of the code.
	LeadTime Durations `json:"leadTime"`
	// Rollbacks counts rollback commits in the window.
	Rollbacks int `json:"rollbacks"`
	// ChangeFailureRate is Rollbacks / Deploys; nil without deploys.
	ChangeFailureRate *float64 `json:"changeFailureRate"`
	// TimeToRestore: rollback commit time − commit time of the deploy it
	// undid (the latest deploy before it whose digest it replaced).
	TimeToRestore Durations `json:"timeToRestore"`
}

// Metrics is the delivery metrics of a repository over a window.
type Metrics struct {
	Source string       `json:"source"`
	Commit string       `json:"commit"`
	From   time.Time    `json:"from"`
	Until  time.Time    `json:"until"`
	Window string       `json:"window"`
	Rows   []MetricsRow `json:"rows"`
}

type acc struct {
	deploys, rollbacks int
	lead, restore      []time.Duration
}

// Metrics computes deployment frequency, lead time for changes, change
// failure rate and time to restore per environment and service from one
// pass over the commits (docs/gitops-format.md's trailers).
func (r *Repo) Metrics(ctx context.Context, o MetricsOptions) (*Metrics, error) {
	c, err := r.readChanges(ctx, o.Env, o.Service)
	if err != nil {
		return nil, err
	}
	return c.metrics(r.Source, o), nil
}

// changeSet is what the delivery figures are computed from: the image
// changes per environment and service (one walk of the history), at a
// snapshot.
type changeSet struct {
	snap   *Snapshot
	byKey  map[Key][]Event
	newest time.Time
}

// readChanges checks env and svc (when set) against HEAD and walks the
// history once for their image changes.
func (r *Repo) readChanges(ctx context.Context, env, svc string) (*changeSet, error) {
	snap, err := r.snapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	if env != "" {
		if err := snap.CheckEnv(env); err != nil {
			return nil, err
		}
	}
	if svc != "" {
		if err := snap.CheckService(svc); err != nil {
			return nil, err
		}
	}
	byKey, newest, err := r.changes(ctx, snap.Commit, env, svc)
	if err != nil {
		return nil, err
	}
	return &changeSet{snap: snap, byKey: byKey, newest: newest}, nil
}

func (c *changeSet) metrics(source string, o MetricsOptions) *Metrics {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	until := o.Until
	if until.IsZero() {
		until = c.newest
	}
	from := until.Add(-o.Window)
	buckets := tally(c.byKey, func(t time.Time) (int, bool) { return 0, !t.Before(from) && !t.After(until) })
	rows := map[Key]*acc{}
	for bk, a := range buckets {
		rows[bk.Key] = a
	}
	m := &Metrics{Source: source, Commit: c.snap.Commit, From: from, Until: until, Window: o.Window.String(), Rows: []MetricsRow{}}
	keys := make([]Key, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sortKeys(keys, c.snap.Envs())
	days := o.Window.Hours() / 24
	for _, k := range keys {
		m.Rows = append(m.Rows, rows[k].row(k, days))
	}
	return m
}

// sortKeys orders keys by environment as delivery.yaml lists them (others
// after, by name), then by service, each environment's total ("*") last.
func sortKeys(keys []Key, envs []string) {
	envOrder := map[string]int{}
	for i, e := range envs {
		envOrder[e] = i
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Env != b.Env {
			oa, okA := envOrder[a.Env]
			ob, okB := envOrder[b.Env]
			if okA != okB {
				return okA
			}
			if oa != ob {
				return oa < ob
			}
			return a.Env < b.Env
		}
		if (a.Service == "*") != (b.Service == "*") {
			return b.Service == "*"
		}
		return a.Service < b.Service
	})
}

// row is a's figures as the metrics of k over days.
func (a *acc) row(k Key, days float64) MetricsRow {
	row := MetricsRow{
		Environment: k.Env, Service: k.Service,
		Deploys: a.deploys, PerDay: float64(a.deploys) / days,
		LeadTime: summarise(a.lead), Rollbacks: a.rollbacks,
		TimeToRestore: summarise(a.restore),
	}
	if a.deploys > 0 {
		cfr := float64(a.rollbacks) / float64(a.deploys)
		row.ChangeFailureRate = &cfr
	}
	return row
}

// changes walks the history from commit once and returns, per environment
// and service (only env's and svc's when set), the commits that changed an
// image, newest first as git lists them, and the newest commit's time.
func (r *Repo) changes(ctx context.Context, commit, env, svc string) (map[Key][]Event, time.Time, error) {
	byKey := map[Key][]Event{}
	var newest time.Time
	err := r.Walk(ctx, WalkOptions{From: commit}, func(ev *WalkEvent) bool {
		if ev.Time.After(newest) {
			newest = ev.Time
		}
		if !ev.Action.Changes() || !delivery.ValidName(ev.Environment) || !delivery.ValidName(ev.Service) {
			// Not an image change, or a hand-written trailer naming no
			// real environment or service.
			return true
		}
		if (env != "" && ev.Environment != env) || (svc != "" && ev.Service != svc) {
			return true
		}
		k := Key{ev.Environment, ev.Service}
		byKey[k] = append(byKey[k], ev.Event)
		return true
	})
	return byKey, newest, err
}

// bucketKey is one environment's and service's figures in one bucket of
// time (the metrics' window, a week of a trend).
type bucketKey struct {
	Key
	Bucket int
}

// tally counts deploys, lead times, rollbacks and times to restore per
// key and bucket; bucket says which bucket an event's time falls in, and
// false for a time outside all of them. Service "*" holds an environment's
// totals. byKey's lists are newest first and read oldest first (a
// rollback undoes the deploy before it), without changing them: one set of
// changes may be tallied twice.
func tally(byKey map[Key][]Event, bucket func(time.Time) (int, bool)) map[bucketKey]*acc {
	rows := map[bucketKey]*acc{}
	get := func(k Key, b int) (*acc, *acc) {
		for _, bk := range []bucketKey{{k, b}, {Key{k.Env, "*"}, b}} {
			if rows[bk] == nil {
				rows[bk] = &acc{}
			}
		}
		return rows[bucketKey{k, b}], rows[bucketKey{Key{k.Env, "*"}, b}]
	}
	for k, evs := range byKey {
		var deploys []Event // deploys seen so far, oldest first
		for _, ev := range slices.Backward(evs) {
			switch ev.Action {
			case ActionDeploy, ActionPromote:
				deploys = append(deploys, ev)
				b, ok := bucket(ev.Time)
				if !ok {
					continue
				}
				a, t := get(k, b)
				a.deploys++
				t.deploys++
				if ev.SourceTime != nil && !ev.Time.Before(*ev.SourceTime) {
					d := ev.Time.Sub(*ev.SourceTime)
					a.lead, t.lead = append(a.lead, d), append(t.lead, d)
				}
			case ActionRollback:
				undone := undoneDeploy(deploys, ev)
				b, ok := bucket(ev.Time)
				if !ok {
					continue
				}
				a, t := get(k, b)
				a.rollbacks++
				t.rollbacks++
				if undone != nil {
					d := ev.Time.Sub(undone.Time)
					a.restore, t.restore = append(a.restore, d), append(t.restore, d)
				}
			}
		}
	}
	return rows
}

// undoneDeploy finds the deploy a rollback undid: the latest earlier deploy
// whose digest the rollback replaced (its Previous-Digest), else the latest
// earlier deploy.
func undoneDeploy(deploys []Event, rb Event) *Event {
	for i := len(deploys) - 1; i >= 0; i-- {
		d := deploys[i]
		if d.Time.After(rb.Time) {
			continue
		}
		if rb.PreviousDigest == "" || d.Digest == rb.PreviousDigest {
			return &deploys[i]
		}
	}
	for i := len(deploys) - 1; i >= 0; i-- {
		if !deploys[i].Time.After(rb.Time) {
			return &deploys[i]
		}
	}
	return nil
}
