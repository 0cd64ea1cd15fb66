package dashboard

import (
	"fmt"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitops/history"
)

// The trend charts are inline SVG drawn here, on the server: the page may
// load nothing but the dashboard's own files (its Content-Security-Policy),
// and a chart of twelve bars does not earn a charting library. Every chart
// has a text alternative (its title and a one-sentence summary for screen
// readers, and the figures as a table under it), since a bar's height says
// nothing to someone who cannot see it.

// trendEnv is one environment's four delivery figures, week by week.
type trendEnv struct {
	Env    string
	Charts []trendChart
	// Weeks are the table's rows: each week's four figures as text.
	Weeks []trendWeek
}

// trendChart is one figure's chart: a bar per point (a week, a
// release), oldest first.
type trendChart struct {
	// ID names the chart's title and description for aria-labelledby.
	ID string
	// Figure is what is charted, e.g. "Lead time p50".
	Figure string
	// Top is the value at the top of the scale, as text.
	Top string
	// Summary says the chart in a sentence: its text alternative.
	Summary string
	Bars    []trendBar
	// Width is the chart's width in pixels: a bar every chartStep.
	Width int
}

// trendBar is one point's bar in the chart's pixels; None marks a point
// without the figure (a week without a deploy has no lead time), drawn as
// a tick.
type trendBar struct {
	// Label names the point: "week of 2 Jan", "2.0.0".
	Label string
	Value string
	None  bool
	X, Y  int
	H     int
}

// trendWeek is one week's figures as the table shows them.
type trendWeek struct {
	Start                                   time.Time
	Deploys, LeadTime, FailureRate, Restore string
}

// Chart geometry: bars of chartBar pixels every chartStep, up to
// chartHeight tall, on a baseline at chartBase.
const (
	chartStep   = 14
	chartBar    = 10
	chartHeight = 40
	chartBase   = 42
)

// figure is one of the four DORA figures: how to read it from a week's
// metrics (ok false: the week has no value) and how to say it.
type figure struct {
	id, name string
	value    func(history.MetricsRow) (v float64, ok bool)
	say      func(float64) string
	// fixedTop, when set, is the scale's top whatever the weeks hold (a
	// rate's 100%), so two environments' charts compare.
	fixedTop float64
}

var figures = []figure{
	{id: "deploys", name: "Deploys per week",
		value: func(r history.MetricsRow) (float64, bool) { return float64(r.Deploys), true },
		say:   func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	{id: "lead", name: "Lead time p50",
		value: func(r history.MetricsRow) (float64, bool) { return r.LeadTime.P50, r.LeadTime.Count > 0 },
		say:   sayDuration},
	{id: "cfr", name: "Change failure rate",
		value: func(r history.MetricsRow) (float64, bool) {
			if r.ChangeFailureRate == nil {
				return 0, false
			}
			return *r.ChangeFailureRate, true
		},
		say:      func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
		fixedTop: 1},
	{id: "restore", name: "Time to restore p50",
		value: func(r history.MetricsRow) (float64, bool) { return r.TimeToRestore.P50, r.TimeToRestore.Count > 0 },
		say:   sayDuration},
}

// trendCharts draws the charts of one service's trend, one trendEnv per
// environment in envs' order; an environment the trend has no row for
// (nothing happened in the weeks) gets empty charts.
func trendCharts(envs []string, tr *history.Trend) []trendEnv {
	rows := map[string][]history.MetricsRow{}
	for _, r := range tr.Rows {
		if r.Service != "*" {
			rows[r.Environment] = r.Weeks
		}
	}
	var out []trendEnv
	for _, env := range envs {
		weeks := rows[env]
		if weeks == nil {
			weeks = make([]history.MetricsRow, len(tr.Weeks))
		}
		te := trendEnv{Env: env}
		for i, start := range tr.Weeks {
			said := make([]string, len(figures))
			for j, f := range figures {
				said[j] = "–"
				if v, ok := f.value(weeks[i]); ok {
					said[j] = f.say(v)
				}
			}
			te.Weeks = append(te.Weeks, trendWeek{Start: start, Deploys: said[0], LeadTime: said[1], FailureRate: said[2], Restore: said[3]})
		}
		for _, f := range figures {
			te.Charts = append(te.Charts, drawChart(env, f, tr.Weeks, weeks))
		}
		out = append(out, te)
	}
	return out
}

func drawChart(env string, f figure, starts []time.Time, weeks []history.MetricsRow) trendChart {
	first := "–"
	if len(starts) > 0 {
		first = starts[0].UTC().Format("2 Jan")
	}
	sr := series{ID: "trend-" + env + "-" + f.id, Figure: f.name, Say: f.say, FixedTop: f.fixedTop,
		Of: fmt.Sprintf("in %s, week by week from the week of %s", env, first), NoneIs: "a week without one", Empty: "none in these weeks"}
	for i, w := range weeks {
		v, ok := f.value(w)
		sr.Points = append(sr.Points, point{Label: "week of " + starts[i].Format("2 Jan"), Value: v, Has: ok})
	}
	return sr.draw()
}

// series is what a chart shows, before it is drawn.
type series struct {
	ID, Figure string
	// Of says what the bars are, after the figure's name in the summary:
	// "in prod, release by release".
	Of     string
	Points []point
	Say    func(float64) string
	// FixedTop, when set, is the scale's top whatever the points hold (a
	// rate's 100%), so two environments' charts compare.
	FixedTop float64
	// NoneIs says what a point without the figure is, in the summary; Empty
	// is the chart's Top when no point has one.
	NoneIs, Empty string
}

// point is one bar's figure; Has is false when the point has none.
type point struct {
	Label string
	Value float64
	Has   bool
}

func (sr series) draw() trendChart {
	c := trendChart{ID: sr.ID, Figure: sr.Figure, Width: max(len(sr.Points), 1) * chartStep}
	top, seen := sr.FixedTop, false
	for _, p := range sr.Points {
		if p.Has {
			top, seen = max(top, p.Value), true
		}
	}
	var said []string
	for i, p := range sr.Points {
		b := trendBar{Label: p.Label, X: i * chartStep, Value: "–", None: true}
		if p.Has {
			b.None, b.Value = false, sr.Say(p.Value)
			if top > 0 {
				b.H = int(float64(chartHeight) * p.Value / top)
			}
			// A zero is a figure (no rollback that week), unlike a point
			// without one: it is drawn, one pixel high.
			b.H = max(b.H, 1)
		}
		b.Y = chartBase - b.H
		said = append(said, b.Value)
		c.Bars = append(c.Bars, b)
	}
	c.Top = "up to " + sr.Say(top)
	if !seen {
		c.Top = sr.Empty
	}
	c.Summary = fmt.Sprintf("%s %s: %s (– is %s).", sr.Figure, sr.Of, strings.Join(said, ", "), sr.NoneIs)
	return c
}

// sayDuration says a number of seconds to the unit a reader needs: 45m,
// 6h, 1d 2h.
func sayDuration(secs float64) string {
	d := time.Duration(secs * float64(time.Second)).Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 24*time.Hour:
		if m := d % time.Hour / time.Minute; m != 0 {
			return fmt.Sprintf("%dh %dm", d/time.Hour, m)
		}
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	if h := d % (24 * time.Hour) / time.Hour; h != 0 {
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), h)
	}
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}
