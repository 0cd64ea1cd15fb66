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
	c, err := r.readChanges(ctx, o.Env, o.Service)
	if err != nil {
		return nil, err
	}
	return c.trend(r.Source, o), nil
}

// Figures computes Metrics and Trend with one walk of the history, for a
// page that shows both: the window's figures and their weekly trend. The
// environment and service they keep are mo's; to's are ignored.
func (r *Repo) Figures(ctx context.Context, mo MetricsOptions, to TrendOptions) (*Metrics, *Trend, error) {
	c, err := r.readChanges(ctx, mo.Env, mo.Service)
	if err != nil {
		return nil, nil, err
	}
	return c.metrics(r.Source, mo), c.trend(r.Source, to), nil
}

func (c *changeSet) trend(source string, o TrendOptions) *Trend {
	if o.Weeks <= 0 {
		o.Weeks = DefaultTrendWeeks
	}
	until := o.Until
	if until.IsZero() {
		until = c.newest
	}
	start := until.Add(-time.Duration(o.Weeks) * Week)
	buckets := tally(c.byKey, func(t time.Time) (int, bool) {
		if t.Before(start) || t.After(until) {
			return 0, false
		}
		// The commit at Until itself belongs to the last week.
		return min(int(t.Sub(start)/Week), o.Weeks-1), true
	})
	tr := &Trend{Source: source, Commit: c.snap.Commit, Until: until, Rows: []TrendRow{}}
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
	sortKeys(keys, c.snap.Envs())
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
	return tr
}
