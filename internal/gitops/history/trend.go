package history

import (
	"context"
	"time"
)

// TrendOptions set the weeks a trend covers.
type TrendOptions struct {
	// Weeks is how many weeks, ending at Until; default DefaultTrendWeeks.
	Weeks int
	// Until ends the last week; default the newest commit's time.
	Until time.Time
	// Env and Service, when set, keep only those rows.
	Env, Service string
}

// DefaultTrendWeeks is a quarter.
const DefaultTrendWeeks = 12

// Week is seven days.
const Week = 7 * 24 * time.Hour

// Trend is the four delivery figures week by week: what Metrics computes
// for one window, for each of the weeks before Until.
type Trend struct {
	Source string `json:"source"`
	Commit string `json:"commit"`
	// Weeks are the weeks' starts, oldest first; the last week ends at Until.
	Weeks []time.Time `json:"weeks"`
	Until time.Time   `json:"until"`
	Rows  []TrendRow  `json:"rows"`
}

// TrendRow is one service's figures in one environment (Service "*": the
// environment's total), one MetricsRow per week in Trend.Weeks' order; a
// week without a deploy or rollback has a zero row (its
// ChangeFailureRate nil, its durations' Count 0).
type TrendRow struct {
	Environment string       `json:"environment"`
	Service     string       `json:"service"`
	Weeks       []MetricsRow `json:"weeks"`
}

// Trend computes the delivery figures of every week before o.Until in one
// pass over the commits, counting as Metrics does (a week is a window of
// seven days: PerDay is that week's deploys over 7).
func (r *Repo) Trend(ctx context.Context, o TrendOptions) (*Trend, error) {
	snap, err := r.snapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	if o.Env != "" {
		if err := snap.CheckEnv(o.Env); err != nil {
			return nil, err
		}
	}
	if o.Service != "" {
		if err := snap.CheckService(o.Service); err != nil {
			return nil, err
		}
	}
	if o.Weeks <= 0 {
		o.Weeks = DefaultTrendWeeks
	}
	byKey, newest, err := r.changes(ctx, snap.Commit, o.Env, o.Service)
	if err != nil {
		return nil, err
	}
	until := o.Until
	if until.IsZero() {
		until = newest
	}
	start := until.Add(-time.Duration(o.Weeks) * Week)
	buckets := tally(byKey, func(t time.Time) (int, bool) {
		if t.Before(start) || t.After(until) {
			return 0, false
		}
		// The commit at Until itself belongs to the last week.
		return min(int(t.Sub(start)/Week), o.Weeks-1), true
	})
	tr := &Trend{Source: r.Source, Commit: snap.Commit, Until: until, Rows: []TrendRow{}}
	for i := range o.Weeks {
		tr.Weeks = append(tr.Weeks, start.Add(time.Duration(i)*Week))
	}
	seen := map[Key]bool{}
	var keys []Key
	for bk := range buckets {
		if !seen[bk.Key] {
			seen[bk.Key] = true
			keys = append(keys, bk.Key)
		}
	}
	sortKeys(keys, snap.Envs())
	for _, k := range keys {
		row := TrendRow{Environment: k.Env, Service: k.Service}
		for i := range o.Weeks {
			a := buckets[bucketKey{k, i}]
			if a == nil {
				a = &acc{}
			}
			row.Weeks = append(row.Weeks, a.row(k, 7))
		}
		tr.Rows = append(tr.Rows, row)
	}
	return tr, nil
}
