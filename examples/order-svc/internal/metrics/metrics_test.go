package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRoute(t *testing.T) {
	for in, want := range map[string]string{
		"":                          Unmatched,
		"GET /api/v1/orders/{id}":   "/api/v1/orders/{id}",
		"/health":                   "/health",
		"POST example.com/x/{y...}": "example.com/x/{y...}",
	} {
		if got := Route(in); got != want {
			t.Errorf("Route(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestObserveAndExpose(t *testing.T) {
	m := New("1.0.0", "deadbee")
	m.Observe("GET", "GET /api/v1/orders/{id}", 200, 3*time.Millisecond)
	m.Observe("GET", "GET /api/v1/orders/{id}", 200, time.Millisecond)
	m.Observe("PROPFIND", "", 405, time.Millisecond)
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET", "/api/v1/orders/{id}", "200")); got != 2 {
		t.Errorf("counter = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("OTHER", Unmatched, "405")); got != 1 {
		t.Errorf("unknown method counter = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("%d duration series, want 2", n)
	}
	lint, err := testutil.GatherAndLint(m.Registry())
	if err != nil || len(lint) != 0 {
		t.Errorf("metric lint: %v %v", lint, err)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`build_info{commit="deadbee",version="1.0.0"} 1`, "http_request_duration_seconds_count", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}
