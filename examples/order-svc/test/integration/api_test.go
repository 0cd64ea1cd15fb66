//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/order"
	"github.com/smp/order-svc/internal/testenv"
)

type apiCase struct {
	name   string
	call   call
	status int
	// code is the expected error code for a 4xx/5xx.
	code string
	// setup runs before the call.
	setup func(t *testing.T, s *service)
}

func orderCall(tok, key, body string) call {
	return call{method: "POST", path: "/api/v1/orders", token: tok, body: body, headers: map[string]string{"Idempotency-Key": key}}
}

func hashOf(t *testing.T, r order.Request) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestAPI is the endpoint × status table: each group runs against its own
// service, database and Redis prefix. At the end, every response documented
// in api/openapi.yaml must have been exercised.
func TestAPI(t *testing.T) {
	cust := testenv.Token(t, "cust-1", "")
	other := testenv.Token(t, "cust-2", "")
	admin := testenv.Token(t, "ops-1", "catalog:write")
	expiredClaims := testenv.ValidClaims("cust-1")
	expiredClaims.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	expiredClaims.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	expired := testenv.Sign(t, []byte(testenv.Secret), expiredClaims)
	forged := testenv.Sign(t, []byte("forged-secret-forged-secret-forged-secret"), testenv.ValidClaims("cust-1"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, testenv.ValidClaims("cust-1")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	validOrder := `{"service_id":"express-delivery","quantity":2,"note":"tầng 3"}`
	validService := `{"name":"Giao trong ngày","category":"delivery","base_price":45000,"active":true}`
	big := strings.Repeat("a", 1<<20)

	groups := map[broken][]apiCase{
		healthy: {
			{name: "health", call: call{method: "GET", path: "/health"}, status: 200},
			{name: "ready", call: call{method: "GET", path: "/ready"}, status: 200},
			{name: "metrics", call: call{method: "GET", path: "/metrics"}, status: 200},
			{name: "unknown route", call: call{method: "GET", path: "/api/v1/nothing"}, status: 404, code: "not_found"},
			{name: "wrong method", call: call{method: "PATCH", path: "/api/v1/orders/1"}, status: 405, code: "method_not_allowed"},

			{name: "catalog", call: call{method: "GET", path: "/api/v1/catalog/services?page=1&page_size=3", token: cust}, status: 200},
			{name: "catalog cached", call: call{method: "GET", path: "/api/v1/catalog/services?page=1&page_size=3", token: cust}, status: 200},
			{name: "catalog bad page", call: call{method: "GET", path: "/api/v1/catalog/services?page=0", token: cust}, status: 400, code: "bad_request"},
			{name: "catalog SQL in page_size", call: call{method: "GET", path: "/api/v1/catalog/services?page_size=1;DROP%20TABLE%20services", token: cust}, status: 400, code: "bad_request"},
			{name: "catalog without token", call: call{method: "GET", path: "/api/v1/catalog/services"}, status: 401, code: "unauthorized"},
			{name: "catalog expired token", call: call{method: "GET", path: "/api/v1/catalog/services", token: expired}, status: 401, code: "unauthorized"},
			{name: "catalog forged token", call: call{method: "GET", path: "/api/v1/catalog/services", token: forged}, status: 401, code: "unauthorized"},
			{name: "catalog alg none", call: call{method: "GET", path: "/api/v1/catalog/services", token: none}, status: 401, code: "unauthorized"},

			{name: "put creates", call: call{method: "PUT", path: "/api/v1/catalog/services/same-day", token: admin, body: validService}, status: 201},
			{name: "put replaces", call: call{method: "PUT", path: "/api/v1/catalog/services/same-day", token: admin, body: strings.Replace(validService, "45000", "46000", 1)}, status: 200},
			{name: "put unknown field", call: call{method: "PUT", path: "/api/v1/catalog/services/x", token: admin, body: `{"name":"x","category":"c","base_price":1,"active":true,"id":"y"}`}, status: 400, code: "unknown_field"},
			{name: "put without token", call: call{method: "PUT", path: "/api/v1/catalog/services/x", body: validService}, status: 401, code: "unauthorized"},
			{name: "put without scope", call: call{method: "PUT", path: "/api/v1/catalog/services/x", token: cust, body: validService}, status: 403, code: "forbidden"},
			{name: "put too large", call: call{method: "PUT", path: "/api/v1/catalog/services/x", token: admin, body: `{"name":"` + big + `"}`}, status: 413, code: "body_too_large"},
			{name: "put form body", call: call{method: "PUT", path: "/api/v1/catalog/services/x", token: admin, body: validService, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, status: 415, code: "unsupported_media_type"},
			{name: "put negative price", call: call{method: "PUT", path: "/api/v1/catalog/services/x", token: admin, body: `{"name":"x","category":"c","base_price":-1,"active":true}`}, status: 422, code: "validation_failed"},

			{name: "order created", call: orderCall(cust, "key-1", validOrder), status: 201},
			{name: "order replayed", call: orderCall(cust, "key-1", validOrder), status: 201},
			{name: "order replayed from MySQL while its key is pending", call: orderCall(cust, "key-1", validOrder), status: 201,
				setup: func(t *testing.T, s *service) {
					// The order exists but its response was never stored in
					// Redis (the write failed): the key is pending again.
					idem := idempotency.New(s.redis.Client, s.redis.Prefix, time.Minute, time.Second)
					if err := idem.Release(context.Background(), "cust-1", "key-1"); err != nil {
						t.Fatal(err)
					}
					if _, err := idem.Claim(context.Background(), "cust-1", "key-1", hashOf(t, order.Request{ServiceID: "express-delivery", Quantity: 2, Note: "tầng 3"})); err != nil {
						t.Fatal(err)
					}
				}},
			{name: "order key reused with another body", call: orderCall(cust, "key-1", `{"service_id":"express-delivery","quantity":3}`), status: 422, code: "idempotency_key_reused"},
			{name: "order without key", call: call{method: "POST", path: "/api/v1/orders", token: cust, body: validOrder}, status: 400, code: "idempotency_key_missing"},
			{name: "order malformed JSON", call: orderCall(cust, "key-2", `{"service_id":`), status: 400, code: "invalid_json"},
			{name: "order unknown field", call: orderCall(cust, "key-2", `{"service_id":"express-delivery","quantity":1,"price":0}`), status: 400, code: "unknown_field"},
			{name: "order negative quantity", call: orderCall(cust, "key-2", `{"service_id":"express-delivery","quantity":-3}`), status: 422, code: "validation_failed"},
			{name: "order SQL in service_id", call: orderCall(cust, "key-2", `{"service_id":"' OR 1=1 --","quantity":1}`), status: 422, code: "validation_failed"},
			{name: "order inactive service", call: orderCall(cust, "key-2", `{"service_id":"bulky-freight","quantity":1}`), status: 422, code: "validation_failed"},
			{name: "order too large", call: orderCall(cust, "key-2", `{"note":"`+big+`"}`), status: 413, code: "body_too_large"},
			{name: "order text body", call: call{method: "POST", path: "/api/v1/orders", token: cust, body: validOrder, headers: map[string]string{"Idempotency-Key": "key-2", "Content-Type": "text/plain"}}, status: 415, code: "unsupported_media_type"},
			{name: "order without token", call: orderCall("", "key-2", validOrder), status: 401, code: "unauthorized"},
			{name: "order in progress", call: orderCall(cust, "key-busy", `{"service_id":"cod-collection","quantity":1}`), status: 409, code: "idempotency_key_in_progress",
				setup: func(t *testing.T, s *service) {
					// Another replica holds the key right now.
					idem := idempotency.New(s.redis.Client, s.redis.Prefix, time.Minute, time.Second)
					if _, err := idem.Claim(context.Background(), "cust-1", "key-busy", hashOf(t, order.Request{ServiceID: "cod-collection", Quantity: 1})); err != nil {
						t.Fatal(err)
					}
				}},

			{name: "get own order", call: call{method: "GET", path: "/api/v1/orders/1", token: cust}, status: 200},
			{name: "get another customer's order", call: call{method: "GET", path: "/api/v1/orders/1", token: other}, status: 404, code: "not_found"},
			{name: "get missing order", call: call{method: "GET", path: "/api/v1/orders/424242", token: cust}, status: 404, code: "not_found"},
			{name: "get non-numeric id", call: call{method: "GET", path: "/api/v1/orders/1%27%20OR%20%271%27=%271", token: cust}, status: 400, code: "bad_request"},
			{name: "get without token", call: call{method: "GET", path: "/api/v1/orders/1"}, status: 401, code: "unauthorized"},

			{name: "echo", call: call{method: "POST", path: "/api/v1/test/echo", body: `{"hello":"world"}`}, status: 200},
			{name: "echo malformed", call: call{method: "POST", path: "/api/v1/test/echo", body: `{"hello"`}, status: 400, code: "invalid_json"},
			{name: "echo too large", call: call{method: "POST", path: "/api/v1/test/echo", body: `"` + big + `"`}, status: 413, code: "body_too_large"},
			{name: "echo form", call: call{method: "POST", path: "/api/v1/test/echo", body: `a=b`, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, status: 415, code: "unsupported_media_type"},

			{name: "ready while draining", call: call{method: "GET", path: "/ready"}, status: 503,
				setup: func(_ *testing.T, s *service) { s.ready.Drain() }},
		},
		mysqlDown: {
			{name: "ready", call: call{method: "GET", path: "/ready"}, status: 503},
			{name: "catalog", call: call{method: "GET", path: "/api/v1/catalog/services", token: cust}, status: 503, code: "dependency_unavailable"},
			{name: "put", call: call{method: "PUT", path: "/api/v1/catalog/services/x", token: admin, body: validService}, status: 503, code: "dependency_unavailable"},
			{name: "get order", call: call{method: "GET", path: "/api/v1/orders/1", token: cust}, status: 503, code: "dependency_unavailable"},
			{name: "health is still fine", call: call{method: "GET", path: "/health"}, status: 200},
		},
		redisDown: {
			{name: "order", call: orderCall(cust, "k", validOrder), status: 503, code: "dependency_unavailable"},
			{name: "catalog served from MySQL", call: call{method: "GET", path: "/api/v1/catalog/services", token: cust}, status: 200},
		},
	}
	names := map[broken]string{healthy: "healthy", mysqlDown: "MySQL down", redisDown: "Redis down"}
	for _, b := range []broken{healthy, mysqlDown, redisDown} {
		t.Run(names[b], func(t *testing.T) {
			s := newService(t, b)
			for _, c := range groups[b] {
				t.Run(fmt.Sprintf("%s %s %s → %d", c.name, c.call.method, strings.SplitN(c.call.path, "?", 2)[0], c.status), func(t *testing.T) {
					if c.setup != nil {
						c.setup(t, s)
					}
					resp, body := s.do(t, c.call)
					if resp.StatusCode != c.status {
						t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, body)
					}
					if c.code != "" {
						var e struct {
							Error struct{ Code string } `json:"error"`
						}
						if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != c.code {
							t.Errorf("error code %q (%v), want %q: %s", e.Error.Code, err, c.code, body)
						}
					}
				})
			}
		})
	}
	if m := loadSpec(t).missing(); len(m) > 0 {
		t.Errorf("responses documented in api/openapi.yaml that no test exercised:\n%s", lines(m))
	}
}

// TestSmokeFlow is what the post-deploy smoke test does, plus the
// idempotent create, checking that nothing is written twice.
func TestSmokeFlow(t *testing.T) {
	s := newService(t, healthy)
	resp, body := s.do(t, call{method: "GET", path: "/health"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version":"9.9.9"`) {
		t.Fatalf("health: %d %s", resp.StatusCode, body)
	}
	tok := testenv.Token(t, "smoke-test", "")
	resp, body = s.do(t, call{method: "GET", path: "/api/v1/catalog/services", token: tok})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"express-delivery"`) {
		t.Fatalf("catalog: %d %s", resp.StatusCode, body)
	}
	resp, body = s.do(t, call{method: "POST", path: "/api/v1/test/echo", body: `{"hello":"world"}`})
	if resp.StatusCode != http.StatusOK || string(body) != `{"hello":"world"}` {
		t.Fatalf("echo: %d %s", resp.StatusCode, body)
	}
	first, firstBody := s.do(t, orderCall(tok, "smoke-1", `{"service_id":"standard-delivery","quantity":1}`))
	again, againBody := s.do(t, orderCall(tok, "smoke-1", `{"quantity":1,"service_id":"standard-delivery"}`))
	if first.StatusCode != 201 || again.StatusCode != 201 || string(firstBody) != string(againBody) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("idempotent create: %d %s / %d %s", first.StatusCode, firstBody, again.StatusCode, againBody)
	}
	loc := first.Header.Get("Location")
	resp, body = s.do(t, call{method: "GET", path: loc, token: tok})
	if resp.StatusCode != 200 || string(body) != string(firstBody) {
		t.Errorf("GET %s: %d %s", loc, resp.StatusCode, body)
	}
	var n int
	if err := s.db.DB.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d orders (%v), want 1", n, err)
	}
	resp, body = s.do(t, call{method: "GET", path: "/metrics"})
	for _, want := range []string{
		`http_requests_total{code="201",method="POST",route="/api/v1/orders"} 2`,
		`http_request_duration_seconds_count{method="GET",route="/api/v1/orders/{id}"} 1`,
		`build_info{commit="feedbee",version="9.9.9"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	_ = resp
}
