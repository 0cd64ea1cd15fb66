package dashboard

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/verify/gate"
)

// defaultGateTimeout bounds each Prometheus query of a service page unless
// Options.GateTimeout says otherwise: a page that waits longer for figures
// than for the repository is worse than a page that says Prometheus did
// not answer. For the same reason a query is asked once (Attempts: 1),
// not again as the gate does: the page's next refresh asks again.
const defaultGateTimeout = 3 * time.Second

// gateTimeout is the bound of one Prometheus query.
func (o Options) gateTimeout() time.Duration {
	if o.GateTimeout > 0 {
		return o.GateTimeout
	}
	return defaultGateTimeout
}

// gateFigure is the live gate figures of the version one environment runs:
// what `smpctl verify` would measure now (gate.Current), or why they could
// not be read.
type gateFigure struct {
	Env string
	gate.Result
	Err string
}

// checkPrometheus refuses an Options.Prometheus that is not a base URL.
func checkPrometheus(o Options) error {
	if o.Prometheus == "" {
		return nil
	}
	u, err := url.Parse(o.Prometheus)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fault.Inputf("Prometheus", "Prometheus URL %q: give the server's base URL, e.g. http://127.0.0.1:9090", o.Prometheus)
	}
	if o.GateWindow != 0 && (o.GateWindow < 10*time.Second || o.GateWindow > 24*time.Hour) {
		return fault.Inputf("GateWindow", "gate window %s: use 10s to 24h, as verify --window", o.GateWindow)
	}
	return nil
}

// gateFigures asks Prometheus, with the gate's queries, for the figures of
// the version each environment runs, every environment at once. They are
// read at every render, not kept with the view: they change without a
// commit. Nil without Options.Prometheus.
func (d *Dashboard) gateFigures(ctx context.Context, svc string, cells []serviceCell, now time.Time) []gateFigure {
	if d.o.Prometheus == "" {
		return nil
	}
	var (
		out []gateFigure
		wg  sync.WaitGroup
	)
	for _, c := range cells {
		if !c.Present || c.Error != "" || c.Tag == "" {
			continue // nothing runs there that the gate could name
		}
		out = append(out, gateFigure{Env: c.Environment, Result: gate.Result{Version: c.Tag}})
	}
	for i := range out {
		f := &out[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := gate.Current(ctx, gate.Options{Prometheus: d.o.Prometheus, Env: f.Env, Service: svc,
				Version: f.Version, Window: d.o.GateWindow, At: now, Timeout: d.o.gateTimeout(), Attempts: 1})
			if err != nil {
				f.Err = fmt.Sprintf("Prometheus did not answer: %v", err)
				return
			}
			f.Result = res
		}()
	}
	wg.Wait()
	return out
}

// earlierReleases is how many releases before the current one a service
// page shows the gate figures of, per environment.
const earlierReleases = 5

// maxGateWindow is the longest window a figure is read over, as verify
// --window allows: a release that ran longer is judged on its last day.
const maxGateWindow = 24 * time.Hour

// gateRelease is the gate figures of a release an environment ran before
// the one it runs now, over the time it ran (its last day at most), read
// at the moment the next release replaced it.
type gateRelease struct {
	gateFigure
	From, Until time.Time
	// Baseline is the figures of the release it replaced, when shown too:
	// what its p95 is compared with.
	Baseline *gate.Result
}

// releasesBefore is, per environment in envs' order, the last n releases
// (deploys, promotions, rollbacks) the timeline (newest first) shows
// before the one that runs now, newest first, each with when it started
// and when the next replaced it; and one more per environment, when there
// is one, as the baseline of the oldest.
func releasesBefore(timeline []timelineEntry, envs []string, n int) []gateRelease {
	var out []gateRelease
	for _, env := range envs {
		var next *timelineEntry
		taken := 0
		for i := range timeline {
			e := &timeline[i]
			if e.Env != env || !e.Action.Changes() || e.Tag == "" {
				continue
			}
			if next != nil {
				if taken == n+1 {
					break
				}
				out = append(out, gateRelease{gateFigure: gateFigure{Env: env, Result: gate.Result{Version: e.Tag}}, From: e.Time, Until: next.Time})
				taken++
			}
			next = e
		}
	}
	return out
}

// earlierGateFigures asks Prometheus for the figures of the releases
// before the current ones (releasesBefore), all at once, and pairs each
// with the figures of the release it replaced. Nil without
// Options.Prometheus.
func (d *Dashboard) earlierGateFigures(ctx context.Context, svc string, timeline []timelineEntry, envs []string) []gateRelease {
	if d.o.Prometheus == "" {
		return nil
	}
	rel := releasesBefore(timeline, envs, earlierReleases)
	var wg sync.WaitGroup
	for i := range rel {
		r := &rel[i]
		wg.Go(func() {
			w := min(max(r.Until.Sub(r.From), 10*time.Second), maxGateWindow).Round(time.Second)
			res, err := gate.Current(ctx, gate.Options{Prometheus: d.o.Prometheus, Env: r.Env, Service: svc,
				Version: r.Version, Window: w, At: r.Until, Timeout: d.o.gateTimeout(), Attempts: 1})
			if err != nil {
				r.Err = fmt.Sprintf("Prometheus did not answer: %v", err)
				return
			}
			r.Result = res
		})
	}
	wg.Wait()
	// Each release's baseline is the next entry of its environment (the
	// one before it); the extra oldest one is only a baseline.
	var out []gateRelease
	for i := 0; i < len(rel); {
		j := i
		for j < len(rel) && rel[j].Env == rel[i].Env {
			j++
		}
		env := rel[i:j]
		for k := 0; k < len(env) && k < earlierReleases; k++ {
			if k+1 < len(env) && env[k+1].Err == "" {
				b := env[k+1].Result
				env[k].Baseline = &b
			}
			out = append(out, env[k])
		}
		i = j
	}
	return out
}

// gateChartEnv is one environment's gate figures drawn release by release:
// the earlier releases oldest first, then the one it runs now, so a
// release that answers worse than the ones before stands out.
type gateChartEnv struct {
	Env    string
	Charts []trendChart
}

// gateCharts draws, per environment in envs' order that has an earlier
// release, the error rate and p95 of its earlier releases and of what it
// runs now (the page's live figures). A release without figures (no
// requests, Prometheus did not answer) is drawn as a tick.
func gateCharts(envs []string, earlier []gateRelease, now []gateFigure) []gateChartEnv {
	var out []gateChartEnv
	for _, env := range envs {
		var figs []gateFigure
		var labels []string
		for _, r := range earlier {
			if r.Env == env {
				figs, labels = append(figs, r.gateFigure), append(labels, r.Version)
			}
		}
		if figs == nil {
			continue
		}
		slices.Reverse(figs)
		slices.Reverse(labels)
		for _, f := range now {
			if f.Env == env {
				figs, labels = append(figs, f), append(labels, f.Version+" (now)")
			}
		}
		rate := series{ID: "gate-" + env + "-errors", Figure: "Error rate", Say: sayRate,
			Of: "in " + env + ", release by release", NoneIs: "a release without requests", Empty: "no requests"}
		p95 := series{ID: "gate-" + env + "-p95", Figure: "p95", Say: saySeconds,
			Of: rate.Of, NoneIs: rate.NoneIs, Empty: rate.Empty}
		for i, f := range figs {
			has := f.Err == "" && f.Requests > 0
			rate.Points = append(rate.Points, point{Label: labels[i], Value: f.ErrorRate, Has: has})
			p95.Points = append(p95.Points, point{Label: labels[i], Value: f.P95, Has: has})
		}
		out = append(out, gateChartEnv{Env: env, Charts: []trendChart{rate.draw(), p95.draw()}})
	}
	return out
}

// sayRate says an error rate (a fraction) as a percentage.
func sayRate(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// saySeconds says a latency in seconds to a tenth of a millisecond.
func saySeconds(f float64) string {
	return time.Duration(f * float64(time.Second)).Round(100 * time.Microsecond).String()
}
