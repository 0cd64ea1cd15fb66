package api

import (
	"database/sql"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/store"
	"github.com/smp/order-svc/internal/testenv"
)

func TestHealthReportsVersionWithoutDependencies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) {
		d.Checks = map[string]Checker{"redis": catalogcache.New(deadRedis(t), "x:", time.Minute, time.Second)}
	})
	w := e.do(t, req{method: "GET", path: "/health"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	var b healthBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b != (healthBody{Status: "ok", Version: "1.2.3", Commit: "abc1234"}) {
		t.Errorf("body = %+v", b)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	t.Run("ready while dependencies answer", func(t *testing.T) {
		e := newEnv(t)
		w := e.do(t, req{method: "GET", path: "/ready"})
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"mysql":"ok"`) || !strings.Contains(w.Body.String(), `"redis":"ok"`) {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("not ready when Redis is down", func(t *testing.T) {
		e := newEnv(t, func(d *Deps) {
			d.Checks["redis"] = catalogcache.New(deadRedis(t), "x:", time.Minute, time.Second)
		})
		w := e.do(t, req{method: "GET", path: "/ready"})
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"status":"not_ready"`) {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("not ready once draining", func(t *testing.T) {
		e := newEnv(t)
		e.ready.Drain()
		w := e.do(t, req{method: "GET", path: "/ready"})
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"status":"draining"`) {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
		// Liveness is unaffected: the process is fine, only leaving.
		if w := e.do(t, req{method: "GET", path: "/health"}); w.Code != http.StatusOK {
			t.Errorf("/health while draining = %d", w.Code)
		}
	})
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a loopback port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close %s: %v", addr, err)
	}
	return addr
}

func TestReadinessHidesDependencyErrors(t *testing.T) {
	t.Parallel()
	mysqlAddr, redisAddr := closedPort(t), closedPort(t)
	connector, err := mysql.NewConnector(&mysql.Config{Net: "tcp", Addr: mysqlAddr, User: "root", DBName: "orders",
		Timeout: 200 * time.Millisecond, AllowNativePasswords: true})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })

	cases := []struct {
		name   string
		checks func(live map[string]Checker) map[string]Checker
		want   map[string]string
	}{
		{"MariaDB unreachable", func(live map[string]Checker) map[string]Checker {
			return map[string]Checker{"mysql": store.New(db, time.Second), "redis": live["redis"]}
		}, map[string]string{"mysql": "down", "redis": "ok"}},
		{"Redis unreachable", func(live map[string]Checker) map[string]Checker {
			return map[string]Checker{"mysql": live["mysql"], "redis": catalogcache.New(rdb, "x:", time.Minute, time.Second)}
		}, map[string]string{"mysql": "ok", "redis": "down"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(d *Deps) { d.Checks = c.checks(d.Checks) })
			w := e.do(t, req{method: "GET", path: "/ready"})
			var b readyBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if w.Code != http.StatusServiceUnavailable || b.Status != "not_ready" || !maps.Equal(b.Checks, c.want) {
				t.Errorf("got %d %s, want 503 not_ready with checks %v", w.Code, w.Body, c.want)
			}
			// The probe is unauthenticated: it must not hand out addresses
			// or driver messages. The operator finds them in the log.
			for _, leak := range []string{"127.0.0.1", mysqlAddr, redisAddr, "dial", "refused", "error", "tcp"} {
				if strings.Contains(w.Body.String(), leak) {
					t.Errorf("/ready body %s contains %q", w.Body, leak)
				}
			}
			if logs := e.logs.String(); !strings.Contains(logs, "connection refused") {
				t.Errorf("the log does not carry the failed check's error:\n%s", logs)
			}
		})
	}
}

func TestProtectedRoutesRejectBadTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	valid := testenv.ValidClaims("cust-1")
	expired := testenv.ValidClaims("cust-1")
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	expired.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	wrongIss := testenv.ValidClaims("cust-1")
	wrongIss.Issuer = "https://evil.example"
	wrongAud := testenv.ValidClaims("cust-1")
	wrongAud.Audience = jwt.ClaimStrings{"billing-svc"}
	noSub := testenv.ValidClaims("")
	noExp := testenv.ValidClaims("cust-1")
	noExp.ExpiresAt = nil
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	good := testenv.Sign(t, []byte(testenv.Secret), valid)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))

	tokens := map[string]string{
		"no token":                   "",
		"alg none":                   none,
		"expired":                    testenv.Sign(t, []byte(testenv.Secret), expired),
		"wrong issuer":               testenv.Sign(t, []byte(testenv.Secret), wrongIss),
		"wrong audience":             testenv.Sign(t, []byte(testenv.Secret), wrongAud),
		"signed with another secret": testenv.Sign(t, []byte("another-secret-0123456789abcdef0123456789"), valid),
		"tampered signature":         tampered,
		"no subject":                 testenv.Sign(t, []byte(testenv.Secret), noSub),
		"no expiry":                  testenv.Sign(t, []byte(testenv.Secret), noExp),
		"garbage":                    "not.a.jwt",
		"SQL in the token":           "' OR 1=1 --",
	}
	routes := []req{
		{method: "GET", path: "/api/v1/catalog/services"},
		{method: "PUT", path: "/api/v1/catalog/services/x", body: `{}`},
		{method: "POST", path: "/api/v1/orders", body: `{"service_id":"express-delivery","quantity":1}`, headers: map[string]string{"Idempotency-Key": "k1"}},
		{method: "GET", path: "/api/v1/orders/1"},
	}
	for name, tok := range tokens {
		for _, r := range routes {
			t.Run(name+" "+r.method+" "+r.path, func(t *testing.T) {
				r.token = tok
				w := e.do(t, r)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401: %s", w.Code, w.Body)
				}
				if code := errCode(t, w); code != codeUnauthorized {
					t.Errorf("code %q", code)
				}
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
				}
			})
		}
	}
	t.Run("wrong scheme", func(t *testing.T) {
		w := e.do(t, req{method: "GET", path: "/api/v1/catalog/services", headers: map[string]string{"Authorization": "Basic " + good}})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
	})
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 0 {
		t.Errorf("%d orders written by unauthenticated requests", n)
	}
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.do(t, req{method: "GET", path: "/nope"})
	if w.Code != http.StatusNotFound || errCode(t, w) != codeNotFound {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	w = e.do(t, req{method: "DELETE", path: "/api/v1/orders"})
	if w.Code != http.StatusMethodNotAllowed || errCode(t, w) != codeMethodNotAllowed {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if allow := w.Header().Get("Allow"); !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestRequestIDIsKeptOrGenerated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.do(t, req{method: "GET", path: "/health", headers: map[string]string{HeaderRequestID: "abc-123"}})
	if got := w.Header().Get(HeaderRequestID); got != "abc-123" {
		t.Errorf("kept id = %q", got)
	}
	w = e.do(t, req{method: "GET", path: "/nope", headers: map[string]string{HeaderRequestID: "bad id\twith spaces"}})
	id := w.Header().Get(HeaderRequestID)
	if len(id) != 24 {
		t.Errorf("generated id = %q, want 24 hex characters", id)
	}
	if !strings.Contains(w.Body.String(), id) {
		t.Errorf("error body %s does not carry the request id %s", w.Body, id)
	}
	if !strings.Contains(e.logs.String(), `"request_id":"`+id+`"`) {
		t.Errorf("access log does not carry the request id:\n%s", e.logs)
	}
}

func TestPanicsBecomeA500WithAJSONBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := &server{Deps: Deps{Log: testLogger(e)}}
	h := s.requestID(s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != http.StatusInternalServerError || errCode(t, w) != codeInternal {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if !strings.Contains(e.logs.String(), "boom") {
		t.Errorf("panic not logged: %s", e.logs)
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do(t, req{method: "GET", path: "/health"})
	e.do(t, req{method: "GET", path: "/api/v1/orders/42", token: testenv.Token(t, "c", "")})
	e.do(t, req{method: "GET", path: "/nope/123"})
	e.do(t, req{method: "BREW", path: "/health"})
	w := e.do(t, req{method: "GET", path: "/metrics"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/health"} 1`,
		`http_requests_total{code="404",method="GET",route="/api/v1/orders/{id}"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_requests_total{code="405",method="OTHER",route="unmatched"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="/health",le="0.005"}`,
		`build_info{commit="abc1234",version="1.2.3"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
