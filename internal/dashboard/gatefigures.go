package dashboard

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/verify/gate"
)

// gateTimeout bounds each Prometheus query of a service page: a page that
// waits longer for figures than for the repository is worse than a page
// that says Prometheus did not answer.
const gateTimeout = 3 * time.Second

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
				Version: f.Version, Window: d.o.GateWindow, At: now, Timeout: gateTimeout})
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
