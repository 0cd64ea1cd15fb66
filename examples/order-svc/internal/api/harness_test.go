package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/auth"
	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/metrics"
	"github.com/smp/order-svc/internal/store"
	"github.com/smp/order-svc/internal/testenv"
)

// env is one API over its own MySQL database and Redis prefix.
type env struct {
	h       http.Handler
	db      *testenv.Database
	rdb     *testenv.Redis
	ready   *Readiness
	metrics *metrics.Metrics
	logs    *bytes.Buffer
}

type option func(*Deps)

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	db := testenv.NewMigratedDatabase(t)
	rdb := testenv.NewRedis(t)
	st := store.New(db.DB, 3*time.Second)
	cache := catalogcache.New(rdb.Client, rdb.Prefix, time.Minute, time.Second)
	e := &env{db: db, rdb: rdb, ready: &Readiness{}, metrics: metrics.New("1.2.3", "abc1234"), logs: &bytes.Buffer{}}
	d := Deps{
		Log:          slog.New(slog.NewJSONHandler(e.logs, nil)),
		Store:        st,
		Cache:        cache,
		Idempotency:  idempotency.New(rdb.Client, rdb.Prefix, time.Hour, time.Second),
		Verifier:     auth.NewHS256([]byte(testenv.Secret), testenv.Issuer, testenv.Audience),
		Metrics:      e.metrics,
		Readiness:    e.ready,
		Checks:       map[string]Checker{"mysql": st, "redis": cache},
		Version:      "1.2.3",
		Commit:       "abc1234",
		MaxBodyBytes: 1 << 20,
	}
	for _, o := range opts {
		o(&d)
	}
	e.h = New(d)
	return e
}

// deadRedis is a real Redis client pointed at a port nothing listens on.
func deadRedis(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type req struct {
	method, path string
	body         string
	token        string
	headers      map[string]string
	// ctx, when set, is the request's context (to cancel it mid-request).
	ctx context.Context
}

func (e *env) do(t testing.TB, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.ctx != nil {
		hr = hr.WithContext(r.ctx)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.headers {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return w
}

// errCode returns the error code of a JSON error body, failing the test if
// the body is not one.
func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("status %d body %q is not a JSON error body (%v)", w.Code, w.Body.String(), err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return b.Error.Code
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.DB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func testLogger(e *env) *slog.Logger { return slog.New(slog.NewJSONHandler(e.logs, nil)) }
