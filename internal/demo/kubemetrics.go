package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smp/delivery/internal/local/promserver"
)

// KWOK's pods run no process, so on the real engines nothing serves the
// requests a metric gate judges. The story's one stand-in is therefore the
// pods' metrics: per version, an in-process server that answers the API as
// that version's pods would (the bad release's order reads fail) and counts
// its requests with order-svc's own metric names, labels and buckets
// (examples/order-svc/internal/metrics). A real Prometheus scrapes it with
// the labels the chart's ServiceMonitor gives a pod (env, service,
// version), and smpctl verify asks that Prometheus as it would in
// production. Everything the gate then does — abort the Rollout, write the
// rollback, hold — runs against the real cluster and repository.

// podStandIn is one version's stand-in pods.
type podStandIn struct {
	env, version string
	url          string
	srv          *http.Server
}

// startPodStandIn serves version's stand-in on loopback. A failing one
// answers every order read with 500, as the story's bad release does.
func startPodStandIn(ctx context.Context, version string, failing bool) (*podStandIn, error) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests by method, route and status code.",
	}, []string{"method", "route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "HTTP request latency by method and route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	reg.MustRegister(requests, duration)

	mux := http.NewServeMux()
	route := func(pattern, name string, h http.HandlerFunc) {
		l := prometheus.Labels{"route": name}
		mux.Handle(pattern, promhttp.InstrumentHandlerDuration(duration.MustCurryWith(l),
			promhttp.InstrumentHandlerCounter(requests.MustCurryWith(l), h)))
	}
	route("GET /api/v1/catalog/services", "/api/v1/catalog/services", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"services":[]}`)
	})
	route("GET /api/v1/orders/{id}", "/api/v1/orders/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if failing {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":{"code":"internal","message":"order lookup failed"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":1}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stand-in pods of %s: %w", version, err)
	}
	p := &podStandIn{version: version, url: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *podStandIn) close() error { return p.srv.Close() }

// traffic sends customer-like reads to p until the returned stop is called
// (and returns once the sender has stopped).
func (p *podStandIn) traffic(interval time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c := &http.Client{Timeout: 5 * time.Second}
		for i := 0; ; i++ {
			path := "/api/v1/catalog/services"
			if i%2 == 1 {
				path = "/api/v1/orders/1"
			}
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.url+path, nil)
			if err != nil {
				return
			}
			if resp, err := c.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			select {
			case <-quit:
				return
			case <-time.After(interval):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// gateMetrics is the Prometheus of the story on the real engines and the
// stand-in pods it scrapes.
type gateMetrics struct {
	prom  *promserver.Server
	pods  []*podStandIn
	stops []func()
}

// startGateMetrics starts Prometheus under dir, scraping nothing yet.
func startGateMetrics(ctx context.Context, dir string) (*gateMetrics, error) {
	prom, err := promserver.Start(ctx, promserver.Options{Dir: filepath.Join(dir, "prometheus"), ScrapeInterval: 500 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("prometheus for the gate: %w", err)
	}
	return &gateMetrics{prom: prom}, nil
}

// add starts version's stand-in pods in env with traffic, has Prometheus
// scrape them, and waits until it does.
func (g *gateMetrics) add(ctx context.Context, env, version string, failing bool) error {
	p, err := startPodStandIn(ctx, version, failing)
	if err != nil {
		return err
	}
	p.env = env
	g.pods = append(g.pods, p)
	g.stops = append(g.stops, p.traffic(20*time.Millisecond))
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := make([]group, 0, len(g.pods))
	for _, p := range g.pods {
		groups = append(groups, group{[]string{strings.TrimPrefix(p.url, "http://")},
			map[string]string{"env": p.env, "service": svcName, "version": p.version}})
	}
	if err := g.prom.SetTargets(groups); err != nil {
		return err
	}
	return g.prom.WaitTargets(ctx, len(groups), nil)
}

// close stops the traffic, the stand-ins and Prometheus (by its PID).
func (g *gateMetrics) close() error {
	for _, stop := range g.stops {
		stop()
	}
	var errs []error
	for _, p := range g.pods {
		errs = append(errs, p.close())
	}
	errs = append(errs, g.prom.Stop())
	return errors.Join(errs...)
}
