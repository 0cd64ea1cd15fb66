// Package metrics exposes order-svc's Prometheus metrics. The names and
// labels are a contract: the alert rules, dashboards and deploy gates query
//
//	http_requests_total{method,route,code}          counter
//	http_request_duration_seconds{method,route}     histogram
//	build_info{version,commit}                      gauge, always 1
//
// route is the matched ServeMux pattern without its method (for example
// "/api/v1/orders/{id}"), never the raw path, so ids do not explode the
// series count; requests that match no route are counted as "unmatched".
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests that matched no pattern.
const Unmatched = "unmatched"

// Metrics holds the service's collectors in their own registry, so tests
// can build several servers in one process.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New registers the HTTP metrics, build_info and the Go runtime and
// process collectors.
func New(version, commit string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, matched route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and matched route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "build_info",
		Help: "Always 1; labels carry the version and commit the binary was built from.",
	}, []string{"version", "commit"})
	build.WithLabelValues(version, commit).Set(1)
	m.reg.MustRegister(m.requests, m.duration, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the collectors live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe records one served request. pattern is the ServeMux pattern the
// request matched ("" if none).
func (m *Metrics) Observe(method, pattern string, code int, d time.Duration) {
	route := Route(pattern)
	method = normalizeMethod(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Route turns a ServeMux pattern ("GET /api/v1/orders/{id}") into the
// route label ("/api/v1/orders/{id}").
func Route(pattern string) string {
	if pattern == "" {
		return Unmatched
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// normalizeMethod keeps arbitrary client-chosen methods out of the label
// set.
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
