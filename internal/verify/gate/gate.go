// Package gate is the seed's post-deploy metric gate as code: over a window
// (5 minutes by default) it compares a new version of a service with its
// baseline, the version that ran before it, using PromQL over the Prometheus
// HTTP API. The new version fails when its error rate (5xx answers of its
// API routes) exceeds 2%, or when its p95 latency exceeds twice the
// baseline's — and by at least MinLatencyDelta (25 ms), below which a ratio
// of millisecond latencies measures noise, not a regression. A version with no traffic in the window fails too: a gate
// with nothing to judge must not pass.
//
// Series are selected by the labels every scrape target carries: env,
// service and version (the local runtime's file_sd targets set them; in
// Kubernetes the ServiceMonitor relabels them from pod labels). Requests
// are http_requests_total{route,code} and the latency histogram
// http_request_duration_seconds, as examples/order-svc exports them.
package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/smp/delivery/internal/fault"
)

// Options of a verification.
type Options struct {
	// Prometheus is the server's base URL.
	Prometheus string
	Env        string
	Service    string
	// Window over which rates and quantiles are computed; default 5m.
	Window time.Duration
	// Version to judge; default the version whose series appeared last.
	Version string
	// Baseline to compare with; default the version that appeared before
	// Version within Lookback.
	Baseline string
	// Lookback for finding the baseline; default 1h.
	Lookback time.Duration
	// MaxErrorRate; default 0.02 (2%).
	MaxErrorRate float64
	// MaxLatencyRatio of p95 to the baseline's p95; default 2.
	MaxLatencyRatio float64
	// MinLatencyDelta is the smallest p95 increase that can fail the
	// gate; default 25ms. Below it a ratio measures noise: the histogram's
	// finest buckets are 5 and 10 ms, and on a shared machine a 2 ms
	// baseline doubles by itself.
	MinLatencyDelta time.Duration
	// At is the evaluation time; default now.
	At time.Time
	// Timeout of each query; default 10s.
	Timeout time.Duration
	// Attempts is how many times a query is asked before its error ends
	// the verification; default 3. Only what may pass is asked again: a
	// query that ran out of Timeout, a connection that failed, a 5xx or
	// Prometheus's own query timeout; never a query Prometheus rejected.
	Attempts int
	// Log hears of a query asked again; default none.
	Log *slog.Logger
	// Client sends the requests; default http.DefaultClient's transport.
	Client *http.Client
}

// Check is one verdict of the gate.
type Check struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Detail string  `json:"detail"`
}

// Result of a verification.
type Result struct {
	Env         string  `json:"env"`
	Service     string  `json:"service"`
	Version     string  `json:"version"`
	Baseline    string  `json:"baseline,omitempty"`
	Window      string  `json:"window"`
	Requests    float64 `json:"requests"`
	ErrorRate   float64 `json:"errorRate"`
	P95         float64 `json:"p95Seconds"`
	BaselineP95 float64 `json:"baselineP95Seconds,omitempty"`
	OK          bool    `json:"ok"`
	Checks      []Check `json:"checks"`
}

// ErrGateFailed is returned when a check failed.
var ErrGateFailed = fault.Refusedf("metric gate failed")

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the options a user gave.
func (o *Options) Validate() error {
	u, err := url.Parse(o.Prometheus)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fault.Inputf("Prometheus", "Prometheus URL %q: give the server's base URL, e.g. http://127.0.0.1:9090", o.Prometheus)
	}
	if !labelRE.MatchString(o.Env) {
		return fault.Inputf("Env", "environment %q: give an environment name (lower-case letters, digits, '-')", o.Env)
	}
	if !labelRE.MatchString(o.Service) {
		return fault.Inputf("Service", "service %q: give a service name (lower-case letters, digits, '-')", o.Service)
	}
	if o.MinLatencyDelta < 0 {
		return fault.Inputf("MinLatencyDelta", "minimum latency delta %s is negative: give 0 or more, e.g. 25ms", o.MinLatencyDelta)
	}
	if o.Timeout < 0 {
		return fault.Inputf("Timeout", "query timeout %s is negative: give how long each Prometheus query may take, e.g. 30s (0: 10s)", o.Timeout)
	}
	if o.Attempts < 0 {
		return fault.Inputf("Attempts", "query attempts %d is negative: give how many times each Prometheus query is asked, e.g. 3 (0: 3)", o.Attempts)
	}
	if o.Window != 0 && (o.Window < 10*time.Second || o.Window > 24*time.Hour) {
		return fault.Inputf("Window", "window %s: use 10s to 24h", o.Window)
	}
	for _, v := range []string{o.Version, o.Baseline} {
		if strings.ContainsAny(v, "\"\\\n{}") {
			return fault.Invalidf("version %q: no quotes, braces or backslashes", v)
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.Window == 0 {
		o.Window = 5 * time.Minute
	}
	if o.Lookback == 0 {
		o.Lookback = time.Hour
	}
	if o.MaxErrorRate == 0 {
		o.MaxErrorRate = 0.02
	}
	if o.MaxLatencyRatio == 0 {
		o.MaxLatencyRatio = 2
	}
	if o.MinLatencyDelta == 0 {
		o.MinLatencyDelta = 25 * time.Millisecond
	}
	if o.At.IsZero() {
		o.At = time.Now()
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts == 0 {
		o.Attempts = 3
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

type querier struct {
	api      promv1.API
	timeout  time.Duration
	attempts int
	log      *slog.Logger
	// retryWait is the pause before the second attempt, doubled before
	// each further one.
	retryWait time.Duration
}

func newQuerier(o Options) (querier, error) {
	c, err := api.NewClient(api.Config{Address: o.Prometheus, Client: o.Client})
	if err != nil {
		return querier{}, fmt.Errorf("prometheus client: %w", err)
	}
	return querier{api: promv1.NewAPI(c), timeout: o.Timeout, attempts: max(o.Attempts, 1), log: o.Log, retryWait: time.Second}, nil
}

// vector asks query, again after a pause when the error may pass: a
// Prometheus that stalls for one query (a loaded machine, a compaction, a
// restart) must not fail a release by itself, as an Argo Rollouts analysis
// tolerates measurement errors up to its consecutiveErrorLimit.
func (q querier) vector(ctx context.Context, query string, at time.Time) (model.Vector, error) {
	wait := q.retryWait
	for attempt := 1; ; attempt++ {
		v, err := q.ask(ctx, query, at)
		if err == nil {
			return v, nil
		}
		if attempt < q.attempts && transient(err) && ctx.Err() == nil {
			q.log.WarnContext(ctx, "Prometheus query failed, asking again", "query", query, "attempt", attempt, "of", q.attempts, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				wait *= 2
				continue
			}
		}
		if attempt > 1 {
			err = fmt.Errorf("%w (asked %d times)", err, attempt)
		}
		return nil, err
	}
}

// timeoutError is a query that ran out of the querier's own timeout.
type timeoutError struct{ error }

func (e timeoutError) Unwrap() error { return e.error }

// transient says whether asking again may answer: a query that ran out of
// time (ours or Prometheus's), a failed connection, a 5xx; not a query
// Prometheus rejected (bad_data, execution) or a 4xx.
func transient(err error) bool {
	var te timeoutError
	if errors.As(err, &te) {
		return true
	}
	var pe *promv1.Error
	if errors.As(err, &pe) {
		return pe.Type == promv1.ErrServer || pe.Type == promv1.ErrTimeout
	}
	return true // the transport's: refused, reset, no route
}

func (q querier) ask(ctx context.Context, query string, at time.Time) (model.Vector, error) {
	qctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	v, _, _, err := q.api.Query(qctx, query, at)
	if err != nil {
		if ctx.Err() == nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
			// Ours, not the caller's: say which limit ran out, not only
			// the transport's "context deadline exceeded".
			return nil, timeoutError{fmt.Errorf("query %s: Prometheus did not answer within the query timeout (%s), a loaded or large Prometheus can take longer: run again, or give the query more time: %w", query, q.timeout, err)}
		}
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: got %s, want a vector", query, v.Type())
	}
	return vec, nil
}

// scalar returns the single value of query, NaN when there is none.
func (q querier) scalar(ctx context.Context, query string, at time.Time) (float64, error) {
	vec, err := q.vector(ctx, query, at)
	if err != nil {
		return 0, err
	}
	if len(vec) == 0 {
		return math.NaN(), nil
	}
	return float64(vec[0].Value), nil
}

// Verify runs the gate. It returns ErrGateFailed with the result when a
// check failed, other errors when Prometheus could not be asked.
func Verify(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	q, err := newQuerier(o)
	if err != nil {
		return Result{}, err
	}
	sel := fmt.Sprintf(`env=%q,service=%q`, o.Env, o.Service)
	res := Result{Env: o.Env, Service: o.Service, Window: model.Duration(o.Window).String()}

	// Versions by the time their first series sample was seen: the newest
	// is the one to judge, the one before it the baseline.
	type seen struct {
		name  string
		first float64
	}
	var versions []seen
	if o.Version == "" || o.Baseline == "" {
		lb := model.Duration(o.Lookback).String()
		firsts, err := q.vector(ctx, fmt.Sprintf(`min by (version) (min_over_time(timestamp(up{%s})[%s:]))`, sel, lb), o.At)
		if err != nil {
			return res, err
		}
		for _, s := range firsts {
			versions = append(versions, seen{string(s.Metric["version"]), float64(s.Value)})
		}
		sort.Slice(versions, func(i, j int) bool { return versions[i].first > versions[j].first })
	}
	res.Version, res.Baseline = o.Version, o.Baseline
	if res.Version == "" {
		if len(versions) == 0 {
			return res, fmt.Errorf("no scrape targets with {%s} in the last %s: is Prometheus scraping the service?", sel, model.Duration(o.Lookback))
		}
		res.Version = versions[0].name
	}
	if res.Baseline == "" {
		for _, v := range versions {
			if v.name != res.Version {
				res.Baseline = v.name
				break
			}
		}
	}
	w := model.Duration(o.Window).String()
	// The baseline is judged over the last window in which it served
	// traffic: after a blue/green promotion it still runs (scale-down
	// delay) but gets none, and its latency then is what we compare with.
	baselineAt := o.At
	if res.Baseline != "" {
		last, err := q.scalar(ctx, fmt.Sprintf(`max_over_time(timestamp(sum(rate(http_requests_total{%s,version=%q,route!~"/health|/ready|/metrics"}[%s])) > 0)[%s:])`,
			sel, res.Baseline, w, model.Duration(o.Lookback)), o.At)
		if err != nil {
			return res, err
		}
		if !math.IsNaN(last) {
			baselineAt = time.Unix(0, int64(last*1e9))
		}
	}
	requests, errRate, p95, err := q.figures(ctx, sel, res.Version, w, o.At)
	if err != nil {
		return res, err
	}
	res.Requests, res.ErrorRate, res.P95 = requests, errRate, p95
	if res.Requests == 0 {
		res.Checks = append(res.Checks, Check{Name: "traffic", OK: false, Detail: fmt.Sprintf("no API requests to %s in the last %s: nothing to judge (send traffic, or widen the window)", res.Version, w)})
	} else {
		res.Checks = append(res.Checks, Check{Name: "traffic", OK: true, Value: res.Requests, Detail: fmt.Sprintf("%.0f API requests in %s", res.Requests, w)})
		res.Checks = append(res.Checks, Check{Name: "error rate", OK: res.ErrorRate <= o.MaxErrorRate, Value: res.ErrorRate, Limit: o.MaxErrorRate,
			Detail: fmt.Sprintf("%.2f%% 5xx (limit %.0f%%)", 100*res.ErrorRate, 100*o.MaxErrorRate)})
	}

	switch {
	case res.Requests == 0:
	case res.Baseline == "":
		res.Checks = append(res.Checks, Check{Name: "p95 latency", OK: true, Value: res.P95,
			Detail: fmt.Sprintf("p95 %s; no baseline version in the last %s, so not compared", secs(res.P95), model.Duration(o.Lookback))})
	default:
		base, err := q.scalar(ctx, p95Query(sel, res.Baseline, w), baselineAt)
		if err != nil {
			return res, err
		}
		if math.IsNaN(base) || base == 0 {
			res.Checks = append(res.Checks, Check{Name: "p95 latency", OK: true, Value: res.P95,
				Detail: fmt.Sprintf("p95 %s; baseline %s had no API traffic in the last %s, so not compared", secs(res.P95), res.Baseline, model.Duration(o.Lookback))})
			break
		}
		res.BaselineP95 = base
		limit := math.Max(o.MaxLatencyRatio*base, base+o.MinLatencyDelta.Seconds())
		res.Checks = append(res.Checks, Check{Name: "p95 latency", OK: res.P95 <= limit, Value: res.P95, Limit: limit,
			Detail: fmt.Sprintf("p95 %s vs baseline %s %s (limit %.0f×, at least +%s: %s)", secs(res.P95), res.Baseline, secs(base), o.MaxLatencyRatio, o.MinLatencyDelta, secs(limit))})
	}
	res.OK = true
	for _, c := range res.Checks {
		res.OK = res.OK && c.OK
	}
	if !res.OK {
		return res, ErrGateFailed
	}
	return res, nil
}

// p95Query is the p95 latency of version's API requests over w.
func p95Query(sel, version, w string) string {
	return fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{%s,version=%q,route!~"/health|/ready|/metrics"}[%s])))`, sel, version, w)
}

// figures are what the gate judges a version by, over the window w ending
// at at: its API requests, the share of them answered 5xx and their p95
// latency (seconds); zero where there is no sample.
func (q querier) figures(ctx context.Context, sel, version, w string, at time.Time) (requests, errRate, p95 float64, err error) {
	vsel := fmt.Sprintf(`%s,version=%q,route!~"/health|/ready|/metrics"`, sel, version)
	total, err := q.scalar(ctx, fmt.Sprintf(`sum(increase(http_requests_total{%s}[%s]))`, vsel, w), at)
	if err != nil {
		return 0, 0, 0, err
	}
	requests = nanZero(total)
	errRate, err = q.scalar(ctx, fmt.Sprintf(`sum(rate(http_requests_total{%s,code=~"5.."}[%s])) / sum(rate(http_requests_total{%s}[%s]))`, vsel, w, vsel, w), at)
	if err != nil {
		return 0, 0, 0, err
	}
	if math.IsNaN(errRate) && requests > 0 {
		errRate = 0 // requests, none of them 5xx: no 5xx series exists yet
	}
	p95, err = q.scalar(ctx, p95Query(sel, version, w), at)
	if err != nil {
		return 0, 0, 0, err
	}
	return requests, nanZero(errRate), nanZero(p95), nil
}

func nanZero(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func secs(f float64) string {
	return time.Duration(f * float64(time.Second)).Round(100 * time.Microsecond).String()
}

// WriteText writes one line per check and a verdict.
func (r Result) WriteText(w io.Writer) error {
	base := ""
	if r.Baseline != "" {
		base = " against baseline " + r.Baseline
	}
	if _, err := fmt.Fprintf(w, "verify %s in %s: version %s%s over %s\n", r.Service, r.Env, r.Version, base, r.Window); err != nil {
		return err
	}
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		if _, err := fmt.Fprintf(w, "%s %-12s %s\n", mark, c.Name, c.Detail); err != nil {
			return err
		}
	}
	verdict := "passed"
	if !r.OK {
		verdict = "FAILED"
	}
	_, err := fmt.Fprintf(w, "gate %s\n", verdict)
	return err
}
