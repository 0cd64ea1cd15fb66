package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/smp/order-svc/internal/testenv"
)

// The hot paths of the issue, in process: real MySQL and Redis, but no
// network between client and handler. bench/order-svc/run.sh measures
// them over TCP, side by side with a bare handler.
//
//	go test -run '^$' -bench . -benchmem ./internal/api/

func BenchmarkListServicesCached(b *testing.B) {
	e := newEnv(b)
	r := req{method: "GET", path: "/api/v1/catalog/services", token: testenv.Token(b, "bench", "")}
	if w := e.do(b, r); w.Code != http.StatusOK {
		b.Fatalf("warm-up: %d", w.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if w := e.do(b, r); w.Code != http.StatusOK || w.Header().Get("X-Cache") != "HIT" {
			b.Fatalf("status %d X-Cache %s", w.Code, w.Header().Get("X-Cache"))
		}
	}
}

func BenchmarkCreateOrder(b *testing.B) {
	e := newEnv(b)
	tok := testenv.Token(b, "bench", "")
	body := `{"service_id":"express-delivery","quantity":2}`
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if w := e.do(b, createReq(tok, "bench-"+strconv.Itoa(i), body)); w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
