// Command server is the runtime's test service: a small HTTP server shaped
// like an SMP service (the same endpoints, metrics and configuration as
// examples/order-svc) whose behaviour is baked in at link time, so a "bad
// release" is a genuinely different image, not a flag flipped at run time.
//
//	go build -ldflags "-X main.version=1.2.3 -X main.mode=ok" ./internal/testkit/testimage/testdata/server
//
// Modes: ok; crash (exits 1 at start); errors (half the API requests answer
// 500); slow (API requests take 200 ms); nomigrate (migrate up fails).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	version = "dev"
	commit  = "unknown"
	mode    = "ok"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 2 && args[0] == "migrate" && args[1] == "up" {
		return migrateUp()
	}
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q: use no arguments to serve or 'migrate up'", strings.Join(args, " "))
	}
	if mode == "crash" {
		return errors.New("crash mode: exiting at start")
	}
	return serve()
}

// migrateUp creates the service's one table, so the runtime's migration step
// really talks to the database it was given.
func migrateUp() error {
	if mode == "nomigrate" {
		return errors.New("migration 0002 failed: deliberate")
	}
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		return errors.New("MYSQL_DSN is empty")
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS test_orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, body TEXT)`)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	fmt.Println("migrate up: done")
	return nil
}

func serve() error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "HTTP requests."}, []string{"method", "route", "code"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "HTTP request latency.", Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "build_info", Help: "Build."}, []string{"version", "commit"})
	reg.MustRegister(reqs, dur, info)
	info.WithLabelValues(version, commit).Set(1)

	var shutting atomic.Bool
	var n atomic.Uint64
	mux := http.NewServeMux()
	instrument := func(route string, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &recorder{ResponseWriter: w, code: 200}
			h(rec, r)
			reqs.WithLabelValues(r.Method, route, strconv.Itoa(rec.code)).Inc()
			dur.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
		}
	}
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	api := func(w http.ResponseWriter) bool {
		switch mode {
		case "errors":
			if n.Add(1)%2 == 0 {
				writeJSON(w, 500, map[string]string{"error": "deliberate failure"})
				return false
			}
		case "slow":
			time.Sleep(200 * time.Millisecond)
		}
		return true
	}
	mux.HandleFunc("GET /health", instrument("/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok", "version": version, "commit": commit})
	}))
	mux.HandleFunc("GET /ready", instrument("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if shutting.Load() {
			writeJSON(w, 503, map[string]string{"status": "shutting down"})
			return
		}
		writeJSON(w, 200, map[string]string{"status": "ready"})
	}))
	mux.HandleFunc("GET /api/v1/catalog/services", instrument("/api/v1/catalog/services", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			writeJSON(w, 401, map[string]string{"error": "missing bearer token"})
			return
		}
		if api(w) {
			writeJSON(w, 200, map[string]any{"items": []map[string]any{{"id": "svc-1", "name": "Delivery", "currency": "VND"}}})
		}
	}))
	mux.HandleFunc("POST /api/v1/test/echo", instrument("/api/v1/test/echo", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeJSON(w, 415, map[string]string{"error": "Content-Type must be application/json"})
			return
		}
		var body any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if api(w) {
			writeJSON(w, 200, body)
		}
	}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("serving", "port", port, "version", version, "mode", mode)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutting.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
