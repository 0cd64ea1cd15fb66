package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/verify/gate"
)

// TestReleasesBeforeTheCurrentOne: per environment, the releases before
// the one that runs now, newest first, each until the next one's commit;
// approvals and holds are not releases; one more than shown is kept as the
// oldest one's baseline.
func TestReleasesBeforeTheCurrentOne(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var timeline []timelineEntry
	add := func(env string, a history.Action, tag string, hour int) {
		timeline = append([]timelineEntry{{Env: env, Event: history.Event{Action: a, Tag: tag, Time: t0.Add(time.Duration(hour) * time.Hour)}}}, timeline...)
	}
	for i := range 9 {
		add("prod", history.ActionDeploy, fmt.Sprintf("1.%d.0", i), 10*i)
		add("prod", history.ActionHold, fmt.Sprintf("1.%d.0", i), 10*i+1)
	}
	add("staging", history.ActionPromote, "2.0.0", 1)
	add("staging", history.ActionApprove, "2.1.0", 2)
	add("staging", history.ActionRollback, "1.9.0", 3)

	got := releasesBefore(timeline, []string{"staging", "prod", "dev"}, 5)
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s→%s", r.Env, r.Version, r.From.Format("02T15"), r.Until.Format("02T15")))
	}
	want := []string{
		"staging 2.0.0 01T01→01T03",
		"prod 1.7.0 03T22→04T08", "prod 1.6.0 03T12→03T22", "prod 1.5.0 03T02→03T12",
		"prod 1.4.0 02T16→03T02", "prod 1.3.0 02T06→02T16", "prod 1.2.0 01T20→02T06",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("releases:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestGateChartsDrawEarlierReleasesOldestFirstThenTheCurrentOne: per
// environment with earlier releases, an error-rate and a p95 chart, a bar
// per release oldest first and the current one last; a release without
// requests, or whose figures Prometheus did not give, is a tick, not a
// zero.
func TestGateChartsDrawEarlierReleasesOldestFirstThenTheCurrentOne(t *testing.T) {
	t.Parallel()
	rel := func(env, v string, rate, p95, reqs float64, err string) gateRelease {
		return gateRelease{gateFigure: gateFigure{Env: env, Err: err, Result: gate.Result{Version: v, ErrorRate: rate, P95: p95, Requests: reqs}}}
	}
	earlier := []gateRelease{
		rel("prod", "1.2.0", 0.5, 0.2, 100, ""),
		rel("prod", "1.1.0", 0, 0.1, 100, ""),
		rel("prod", "1.0.0", 0, 0, 0, ""),
		rel("staging", "2.0.0", 0, 0, 0, "Prometheus did not answer: refused"),
	}
	now := []gateFigure{{Env: "prod", Result: gate.Result{Version: "1.3.0", ErrorRate: 0.25, P95: 0.1, Requests: 50}}, {Env: "dev", Result: gate.Result{Version: "9.0.0", Requests: 1}}}
	got := gateCharts([]string{"dev", "staging", "prod"}, earlier, now)
	if len(got) != 2 || got[0].Env != "staging" || got[1].Env != "prod" {
		t.Fatalf("charts for %+v, want staging then prod (dev has no earlier release)", got)
	}
	errs, p95 := got[1].Charts[0], got[1].Charts[1]
	var labels []string
	for _, b := range errs.Bars {
		labels = append(labels, b.Label+"="+b.Value)
	}
	if want := "1.0.0=–,1.1.0=0.00%,1.2.0=50.00%,1.3.0 (now)=25.00%"; strings.Join(labels, ",") != want {
		t.Errorf("prod's error-rate bars %s, want %s", strings.Join(labels, ","), want)
	}
	if !errs.Bars[0].None || errs.Bars[1].H != 1 || errs.Bars[2].H != chartHeight || errs.Bars[3].H != chartHeight/2 {
		t.Errorf("prod's error-rate bars %+v: want a tick, a one-pixel zero, the top, half of it", errs.Bars)
	}
	if p95.Bars[2].Value != "200ms" || p95.Bars[2].H != chartHeight || p95.Top != "up to 200ms" {
		t.Errorf("prod's p95 chart %+v: want 1.2.0's 200ms at the top", p95)
	}
	if want := "Error rate in prod, release by release: –, 0.00%, 50.00%, 25.00% (– is a release without requests)."; errs.Summary != want {
		t.Errorf("summary %q, want %q", errs.Summary, want)
	}
	if s := got[0].Charts[0]; len(s.Bars) != 1 || !s.Bars[0].None || s.Top != "no requests" {
		t.Errorf("staging's chart %+v: want one tick (Prometheus did not answer) and no scale", s)
	}
}
