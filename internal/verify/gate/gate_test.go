package gate

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smp/delivery/internal/local/promserver"
	"github.com/smp/delivery/internal/testkit/testctx"
	"github.com/smp/delivery/internal/testkit/testimage"
)

type group struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func target(url, env, version string) group {
	return group{Targets: []string{strings.TrimPrefix(url, "http://")}, Labels: map[string]string{"env": env, "service": "order-svc", "version": version}}
}

// TestGateAgainstARealPrometheus runs Debian's Prometheus scraping real
// test servers: a baseline 1.0.0 in four environments, then in each a new
// version — one that answers 500 half the time, one 200 ms slower, one as
// good as the baseline, and one nobody sends traffic to.
func TestGateAgainstARealPrometheus(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	dir := t.TempDir()
	prom, err := promserver.Start(ctx, promserver.Options{Dir: dir, ScrapeInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })

	serve := func(version, mode string) string { return testimage.Start(t, binDir, version, mode) }
	v1 := serve("1.0.0", testimage.ModeOK)
	v2 := serve("2.0.0", testimage.ModeErrors)
	v3 := serve("3.0.0", testimage.ModeSlow)
	v4 := serve("4.0.0", testimage.ModeOK)
	v5 := serve("5.0.0", testimage.ModeOK)

	groups := []group{target(v1, "a", "1.0.0"), target(v1, "b", "1.0.0"), target(v1, "c", "1.0.0"), target(v1, "d", "1.0.0")}
	if err := prom.SetTargets(groups); err != nil {
		t.Fatal(err)
	}
	var stops []func()
	if err := prom.WaitTargets(ctx, 4, map[string]string{"version": "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	stops = append(stops, testimage.Traffic(v1))
	time.Sleep(2 * time.Second)
	groups = append(groups, target(v2, "a", "2.0.0"), target(v3, "b", "3.0.0"), target(v4, "c", "4.0.0"), target(v5, "d", "5.0.0"))
	if err := prom.SetTargets(groups); err != nil {
		t.Fatal(err)
	}
	if err := prom.WaitTargets(ctx, 8, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{v2, v3, v4} {
		stops = append(stops, testimage.Traffic(u))
	}
	time.Sleep(4 * time.Second)
	for _, stop := range stops {
		stop()
	}
	time.Sleep(time.Second)
	// Every query reads the figures at this moment, however long the
	// queries before it took: at "now" a slow machine would slide the 10 s
	// window past the traffic.
	at := time.Now()

	cases := []struct {
		env, version, baseline string
		ok                     bool
		failed                 string
	}{
		{"a", "2.0.0", "1.0.0", false, "error rate"},
		{"b", "3.0.0", "1.0.0", false, "p95 latency"},
		{"c", "4.0.0", "1.0.0", true, ""},
		{"d", "5.0.0", "1.0.0", false, "traffic"},
	}
	for _, tc := range cases {
		t.Run("env "+tc.env+" version "+tc.version, func(t *testing.T) {
			res, err := Verify(ctx, Options{Prometheus: prom.URL, Env: tc.env, Service: "order-svc", Window: 10 * time.Second, At: at})
			var buf bytes.Buffer
			_ = res.WriteText(&buf)
			t.Log("\n" + buf.String())
			if res.Version != tc.version || res.Baseline != tc.baseline {
				t.Fatalf("judged %s against %s; want %s against %s", res.Version, res.Baseline, tc.version, tc.baseline)
			}
			if tc.ok {
				if err != nil || !res.OK || len(res.Checks) != 3 {
					t.Fatalf("want a pass with 3 checks: %v %+v", err, res.Checks)
				}
				return
			}
			if !errors.Is(err, ErrGateFailed) || res.OK {
				t.Fatalf("err %v ok %v, want ErrGateFailed", err, res.OK)
			}
			for _, c := range res.Checks {
				if (c.Name == tc.failed) == c.OK {
					t.Errorf("check %s ok=%v: %s", c.Name, c.OK, c.Detail)
				}
			}
		})
	}
	t.Run("explicit versions", func(t *testing.T) {
		res, err := Verify(ctx, Options{Prometheus: prom.URL, Env: "a", Service: "order-svc", Window: 10 * time.Second, Version: "1.0.0", Baseline: "1.0.0", At: at})
		// The baseline is read at its last step with traffic, up to one
		// evaluation step earlier, so the two agree only closely.
		if err != nil || res.ErrorRate != 0 || res.P95 == 0 || math.Abs(res.BaselineP95-res.P95) > res.P95/10 {
			t.Errorf("1.0.0 against itself: %v %+v", err, res)
		}
	})
	t.Run("a Prometheus that stalls once is asked again", func(t *testing.T) {
		// In front of the real Prometheus, a proxy that holds the first
		// request until the client gives up on it and forwards the rest:
		// the stall the demo's gate met on a loaded CI machine.
		var n atomic.Int32
		target, _ := url.Parse(prom.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		stop := make(chan struct{})
		stalling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				select {
				case <-r.Context().Done():
				case <-stop:
				}
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(stalling.Close)
		// First: Close waits for the handlers, and a server notices a
		// client that hung up on a request whose body it did not read
		// only when it reads the connection again.
		t.Cleanup(func() { close(stop) })
		var log bytes.Buffer
		res, err := Verify(ctx, Options{Prometheus: stalling.URL, Env: "c", Service: "order-svc", Window: 10 * time.Second, At: at,
			Timeout: 2 * time.Second, Log: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil || !res.OK || res.Version != "4.0.0" {
			t.Fatalf("Verify through a Prometheus that stalled once: %v %+v", err, res)
		}
		if !strings.Contains(log.String(), "asking again") || !strings.Contains(log.String(), "attempt=1") {
			t.Errorf("the log does not say the query was asked again:\n%s", log.String())
		}
		// The stalled query, then every query of the gate once: 5 with a
		// baseline (versions, the baseline's last traffic, requests,
		// error rate, p95) and the baseline's p95.
		if got := n.Load(); got != 7 {
			t.Errorf("%d requests reached the proxy, want 7 (one stalled, six answered)", got)
		}
	})
	t.Run("Current reads the figures Verify judges", func(t *testing.T) {
		o := Options{Prometheus: prom.URL, Env: "a", Service: "order-svc", Window: 10 * time.Second, Version: "2.0.0", At: at}
		cur, err := Current(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		o.Baseline = "1.0.0"
		v, _ := Verify(ctx, o)
		if cur.Version != "2.0.0" || cur.Requests != v.Requests || cur.ErrorRate != v.ErrorRate || cur.P95 != v.P95 || cur.ErrorRate < 0.3 || cur.OK || len(cur.Checks) != 0 {
			t.Errorf("Current = %+v, want Verify's figures (%+v) and no verdict", cur, v)
		}
		if _, err := Current(ctx, Options{Prometheus: prom.URL, Env: "a", Service: "order-svc"}); err == nil {
			t.Error("Current without a version: no error")
		}
	})
	t.Run("an unknown service has no targets", func(t *testing.T) {
		_, err := Verify(ctx, Options{Prometheus: prom.URL, Env: "a", Service: "nope", Window: 10 * time.Second})
		if err == nil || errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), "no scrape targets") {
			t.Errorf("err %v", err)
		}
	})
}

func TestGateReportsAnUnreachablePrometheus(t *testing.T) {
	t.Parallel()
	_, err := Verify(context.Background(), Options{Prometheus: "http://127.0.0.1:1", Env: "a", Service: "s", Timeout: time.Second, Attempts: 2})
	if err == nil || errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), "connection refused") || !strings.HasSuffix(err.Error(), "(asked 2 times)") {
		t.Errorf("err %v, want a refused connection, asked 2 times", err)
	}
}

// A query Prometheus rejects is not asked again: it will be rejected again.
// The stand-in answers as Prometheus does a query it cannot parse (400,
// errorType bad_data).
func TestARejectedQueryIsAskedOnce(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	rejecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected end of input"}`))
	}))
	t.Cleanup(rejecting.Close)
	_, err := Verify(context.Background(), Options{Prometheus: rejecting.URL, Env: "prod", Service: "order-svc"})
	if err == nil || errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), "parse error") || strings.Contains(err.Error(), "asked") {
		t.Errorf("err %v, want the parse error of one attempt", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("Prometheus was asked %d times, want 1", got)
	}
}

// A Prometheus that takes longer than the query timeout to answer: the
// error names the limit that ran out, not only "context deadline exceeded".
// The stand-in is an HTTP server on loopback that holds each request until
// the client gives up (a real Prometheus cannot be made slow on demand).
func TestASlowPrometheusNamesTheQueryTimeout(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(stop) }) // first: Close waits for the handlers
	_, err := Verify(context.Background(), Options{Prometheus: slow.URL, Env: "prod", Service: "order-svc", Timeout: 200 * time.Millisecond})
	if err == nil || errors.Is(err, ErrGateFailed) {
		t.Fatalf("err %v, want a query error", err)
	}
	for _, want := range []string{"Prometheus did not answer within the query timeout (200ms)", "(asked 3 times)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q, want it to say %q", err, want)
		}
	}
}

func TestOptionsRejectBadInput(t *testing.T) {
	t.Parallel()
	good := Options{Prometheus: "http://127.0.0.1:9090", Env: "prod", Service: "order-svc"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*Options){
		func(o *Options) { o.Prometheus = "127.0.0.1:9090" },
		func(o *Options) { o.Env = "../prod" },
		func(o *Options) { o.Service = `x"}` },
		func(o *Options) { o.Window = time.Second },
		func(o *Options) { o.Timeout = -time.Second },
		func(o *Options) { o.Attempts = -1 },
		func(o *Options) { o.Version = `1"} or vector(1) #` },
	}
	for i, f := range bad {
		o := good
		f(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("case %d: %+v accepted", i, o)
		}
	}
}

var binDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "gate-bins-")
	if err != nil {
		panic(err)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
