//go:build integration

package integration

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/api"
	"github.com/smp/order-svc/internal/auth"
	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/metrics"
	"github.com/smp/order-svc/internal/store"
	"github.com/smp/order-svc/internal/testenv"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// service is the real router on a real listener with its own database and
// Redis prefix; its client validates every exchange against the spec.
type service struct {
	url    string
	client *http.Client
	db     *testenv.Database
	redis  *testenv.Redis
	ready  *api.Readiness
}

type broken int

const (
	healthy broken = iota
	mysqlDown
	redisDown
)

func newService(t *testing.T, b broken) *service {
	t.Helper()
	db := testenv.NewMigratedDatabase(t)
	r := testenv.NewRedis(t)
	rdb := r.Client
	if b == redisDown {
		rdb = redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { _ = rdb.Close() })
	}
	st := store.New(db.DB, 2*time.Second)
	if b == mysqlDown {
		broken := testenv.NewDatabase(t)
		_ = broken.DB.Close()
		st = store.New(broken.DB, time.Second)
	}
	cache := catalogcache.New(rdb, r.Prefix, time.Minute, 300*time.Millisecond)
	ready := &api.Readiness{}
	h := api.New(api.Deps{
		Log:          slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Store:        st,
		Cache:        cache,
		Idempotency:  idempotency.New(rdb, r.Prefix, time.Hour, 300*time.Millisecond),
		Verifier:     auth.NewHS256([]byte(testenv.Secret), testenv.Issuer, testenv.Audience),
		Metrics:      metrics.New("9.9.9", "feedbee"),
		Readiness:    ready,
		Checks:       map[string]api.Checker{"mysql": st, "redis": cache},
		Version:      "9.9.9",
		Commit:       "feedbee",
		MaxBodyBytes: 1 << 20,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &service{
		url:    srv.URL,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &contractTransport{t: t, spec: loadSpec(t), base: http.DefaultTransport}},
		db:     db,
		redis:  r,
		ready:  ready,
	}
}

type call struct {
	method, path, body, token string
	headers                   map[string]string
}

func (s *service) do(t *testing.T, c call) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, s.url+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
