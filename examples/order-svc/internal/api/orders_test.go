package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/order"
	"github.com/smp/order-svc/internal/testenv"
)

func createReq(tok, key, body string) req {
	return req{method: "POST", path: "/api/v1/orders", token: tok, body: body, headers: map[string]string{HeaderIdempotencyKey: key}}
}

func TestCreateOrderIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1", "")
	body := `{"service_id":"express-delivery","quantity":3,"note":"gọi trước khi giao"}`
	w := e.do(t, createReq(tok, "key-1", body))
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var o order.Order
	if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	if o.ID == 0 || o.UnitPrice != 35000 || o.Total != 105000 || o.Currency != "VND" || o.Status != "created" || o.Note != "gọi trước khi giao" {
		t.Errorf("order = %+v", o)
	}
	if loc := w.Header().Get("Location"); loc != fmt.Sprintf("/api/v1/orders/%d", o.ID) {
		t.Errorf("Location = %q", loc)
	}

	// The same request again, with keys reordered and extra whitespace.
	again := e.do(t, createReq(tok, "key-1", `{ "quantity": 3, "note":"gọi trước khi giao", "service_id": "express-delivery" }`))
	if again.Code != http.StatusCreated || again.Body.String() != w.Body.String() || again.Header().Get(HeaderReplayed) != "true" ||
		again.Header().Get("Location") != w.Header().Get("Location") {
		t.Errorf("replay: %d replayed=%q body equal=%v", again.Code, again.Header().Get(HeaderReplayed), again.Body.String() == w.Body.String())
	}
	reused := e.do(t, createReq(tok, "key-1", `{"service_id":"express-delivery","quantity":4}`))
	if reused.Code != http.StatusUnprocessableEntity || errCode(t, reused) != codeIdempotencyReused {
		t.Errorf("reused key: %d %s", reused.Code, reused.Body)
	}
	// Another customer may use the same key.
	other := e.do(t, createReq(testenv.Token(t, "cust-2", ""), "key-1", body))
	if other.Code != http.StatusCreated || other.Header().Get(HeaderReplayed) != "" {
		t.Errorf("other customer: %d %s", other.Code, other.Body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 2 {
		t.Errorf("%d orders, want 2", n)
	}
}

func TestCreateOrderFallsBackToMySQLWhenTheRedisRecordIsGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1", "")
	body := `{"service_id":"cod-collection","quantity":2}`
	first := e.do(t, createReq(tok, "key-x", body))
	if first.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", first.Code, first.Body)
	}
	idem := idempotency.New(e.rdb.Client, e.rdb.Prefix, time.Hour, time.Second)
	if err := idem.Release(context.Background(), "cust-1", "key-x"); err != nil {
		t.Fatal(err)
	}
	again := e.do(t, createReq(tok, "key-x", body))
	if again.Code != http.StatusCreated || again.Body.String() != first.Body.String() {
		t.Errorf("retry after losing the Redis record: %d %s, want the first response %s", again.Code, again.Body, first.Body)
	}
	if err := idem.Release(context.Background(), "cust-1", "key-x"); err != nil {
		t.Fatal(err)
	}
	diff := e.do(t, createReq(tok, "key-x", `{"service_id":"cod-collection","quantity":5}`))
	if diff.Code != http.StatusUnprocessableEntity || errCode(t, diff) != codeIdempotencyReused {
		t.Errorf("different body after losing the Redis record: %d %s", diff.Code, diff.Body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}

func TestConcurrentRetriesCreateOneOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1", "")
	body := `{"service_id":"standard-delivery","quantity":1}`
	const n = 12
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.do(t, createReq(tok, "same-key", body))
			codes[i], bodies[i] = w.Code, w.Body.String()
		}()
	}
	wg.Wait()
	var created string
	for i, c := range codes {
		switch c {
		case http.StatusCreated:
			if created != "" && bodies[i] != created {
				t.Errorf("two different 201 bodies: %s and %s", created, bodies[i])
			}
			created = bodies[i]
		case http.StatusConflict:
		default:
			t.Errorf("request %d: status %d %s", i, c, bodies[i])
		}
	}
	if created == "" {
		t.Error("no request succeeded")
	}
	if got := e.count(t, "SELECT COUNT(*) FROM orders"); got != 1 {
		t.Errorf("%d orders from %d concurrent retries, want 1", got, n)
	}
}

func TestCreateOrderRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1", "")
	valid := `{"service_id":"express-delivery","quantity":1}`
	cases := []struct {
		name, key, body string
		headers         map[string]string
		status          int
		code            string
	}{
		{"no Idempotency-Key", "", valid, nil, http.StatusBadRequest, codeIdempotencyMissing},
		{"an Idempotency-Key with spaces", "a key", valid, nil, http.StatusBadRequest, codeIdempotencyMissing},
		{"an Idempotency-Key over 255 bytes", strings.Repeat("k", 256), valid, nil, http.StatusBadRequest, codeIdempotencyMissing},
		{"malformed JSON", "k", `{"service_id":"express-delivery",`, nil, http.StatusBadRequest, codeInvalidJSON},
		{"an empty body", "k", " ", nil, http.StatusBadRequest, codeInvalidJSON},
		{"a JSON array", "k", `[1,2]`, nil, http.StatusBadRequest, codeInvalidJSON},
		{"two objects", "k", valid + valid, nil, http.StatusBadRequest, codeInvalidJSON},
		{"an unknown field", "k", `{"service_id":"express-delivery","quantity":1,"total":1}`, nil, http.StatusBadRequest, codeUnknownField},
		{"a string quantity", "k", `{"service_id":"express-delivery","quantity":"1"}`, nil, http.StatusBadRequest, codeInvalidJSON},
		{"a fractional quantity", "k", `{"service_id":"express-delivery","quantity":1.5}`, nil, http.StatusBadRequest, codeInvalidJSON},
		{"a huge quantity", "k", `{"service_id":"express-delivery","quantity":99999999999999999999}`, nil, http.StatusBadRequest, codeInvalidJSON},
		{"a negative quantity", "k", `{"service_id":"express-delivery","quantity":-1}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"a zero quantity", "k", `{"service_id":"express-delivery","quantity":0}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"a quantity over the limit", "k", `{"service_id":"express-delivery","quantity":1001}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"SQL in service_id", "k", `{"service_id":"x' OR '1'='1","quantity":1}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"SQL comment in service_id", "k", `{"service_id":"express-delivery'; DROP TABLE orders; --","quantity":1}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"an unknown service", "k", `{"service_id":"teleportation","quantity":1}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"an inactive service", "k", `{"service_id":"bulky-freight","quantity":1}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"a note over 500 characters", "k", `{"service_id":"express-delivery","quantity":1,"note":"` + strings.Repeat("é", 501) + `"}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"a NUL in the note", "k", `{"service_id":"express-delivery","quantity":1,"note":"a\u0000b"}`, nil, http.StatusUnprocessableEntity, codeValidation},
		{"a body over 1 MiB", "k", `{"service_id":"express-delivery","quantity":1,"note":"` + strings.Repeat("a", 1<<20) + `"}`, nil, http.StatusRequestEntityTooLarge, codeBodyTooLarge},
		{"text/plain", "k", valid, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, codeUnsupportedMedia},
		{"no Content-Type", "k", valid, map[string]string{"Content-Type": ""}, http.StatusUnsupportedMediaType, codeUnsupportedMedia},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := createReq(tok, c.key, c.body)
			for k, v := range c.headers {
				r.headers[k] = v
			}
			if c.key == "" {
				delete(r.headers, HeaderIdempotencyKey)
			}
			w := e.do(t, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %.300s", w.Code, c.status, w.Body)
			}
			if code := errCode(t, w); code != c.code {
				t.Errorf("code %q, want %q", code, c.code)
			}
		})
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 0 {
		t.Errorf("%d orders written by rejected requests", n)
	}
	// A rejected request frees its key: the corrected request succeeds.
	if w := e.do(t, createReq(tok, "k", valid)); w.Code != http.StatusCreated {
		t.Errorf("valid request after rejections with the same key: %d %s", w.Code, w.Body)
	}
}

func TestSQLMetacharactersInTheNoteAreStoredVerbatim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1'); DROP TABLE orders; --", "")
	note := `Robert'); DROP TABLE orders; -- \" % _ \\ ` + "`x`"
	b, _ := json.Marshal(order.Request{ServiceID: "express-delivery", Quantity: 1, Note: note})
	w := e.do(t, createReq(tok, `k'";--`, string(b)))
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var o order.Order
	_ = json.Unmarshal(w.Body.Bytes(), &o)
	g := e.do(t, req{method: "GET", path: fmt.Sprintf("/api/v1/orders/%d", o.ID), token: tok})
	var got order.Order
	if err := json.Unmarshal(g.Body.Bytes(), &got); err != nil || got.Note != note {
		t.Errorf("stored note = %q (%v), want %q", got.Note, err, note)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders WHERE note = ?", note); n != 1 {
		t.Errorf("orders table holds %d rows with the note", n)
	}
}

func TestCreateOrderAnswers503WhenRedisIsDown(t *testing.T) {
	t.Parallel()
	dead := deadRedis(t)
	e := newEnv(t, func(d *Deps) {
		d.Idempotency = idempotency.New(dead, "x:", time.Hour, 200*time.Millisecond)
		d.Cache = catalogcache.New(dead, "x:", time.Minute, 200*time.Millisecond)
	})
	w := e.do(t, createReq(testenv.Token(t, "cust-1", ""), "k", `{"service_id":"express-delivery","quantity":1}`))
	if w.Code != http.StatusServiceUnavailable || errCode(t, w) != codeDependencyUnavailable {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 0 {
		t.Errorf("%d orders written without an idempotency record", n)
	}
}

func TestGetOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := testenv.Token(t, "cust-1", "")
	w := e.do(t, createReq(owner, "k", `{"service_id":"warehouse-storage","quantity":7}`))
	var o order.Order
	if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, token string
		status            int
	}{
		{"the owner reads it", fmt.Sprintf("/api/v1/orders/%d", o.ID), owner, http.StatusOK},
		{"another customer gets 404", fmt.Sprintf("/api/v1/orders/%d", o.ID), testenv.Token(t, "cust-2", ""), http.StatusNotFound},
		{"a missing order is 404", "/api/v1/orders/999999", owner, http.StatusNotFound},
		{"a non-numeric id is 400", "/api/v1/orders/abc", owner, http.StatusBadRequest},
		{"id 0 is 400", "/api/v1/orders/0", owner, http.StatusBadRequest},
		{"SQL in the id is 400", "/api/v1/orders/1%20OR%201=1", owner, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(t, req{method: "GET", path: c.path, token: c.token})
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status != http.StatusOK {
				errCode(t, w)
				return
			}
			var got order.Order
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.ID != o.ID || got.Total != 7*15000 || !got.CreatedAt.Equal(o.CreatedAt) {
				t.Errorf("got %+v, want %+v", got, o)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, body := range []string{`{"hello":"world"}`, `[1, 2, {"a": null}]`, `"just a string"`, `{"nested":{"deep":[true,false]}}`} {
		w := e.do(t, req{method: "POST", path: "/api/v1/test/echo", body: body})
		if w.Code != http.StatusOK || w.Body.String() != body || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("echo %s: %d %s", body, w.Code, w.Body)
		}
	}
	cases := []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"malformed JSON", `{"hello":`, "", http.StatusBadRequest, codeInvalidJSON},
		{"two values", `{} {}`, "", http.StatusBadRequest, codeInvalidJSON},
		{"an empty body", ` `, "", http.StatusBadRequest, codeInvalidJSON},
		{"a form body", `hello=world`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, codeUnsupportedMedia},
		{"a body over 1 MiB", `"` + strings.Repeat("a", 1<<20) + `"`, "", http.StatusRequestEntityTooLarge, codeBodyTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req{method: "POST", path: "/api/v1/test/echo", body: c.body}
			if c.contentType != "" {
				r.headers = map[string]string{"Content-Type": c.contentType}
			}
			w := e.do(t, r)
			if w.Code != c.status || errCode(t, w) != c.code {
				t.Errorf("got %d %.200s, want %d %s", w.Code, w.Body, c.status, c.code)
			}
		})
	}
	if w := e.do(t, req{method: "POST", path: "/api/v1/test/echo", body: `{}`, headers: map[string]string{"Content-Type": "application/json; charset=utf-8"}}); w.Code != http.StatusOK {
		t.Errorf("JSON with a charset parameter: %d", w.Code)
	}
}

// failingComplete is the real idempotency store except that Complete
// fails, as when Redis drops the connection between the order insert and
// the write of the response.
type failingComplete struct{ Idempotency }

func (failingComplete) Complete(context.Context, string, string, string, idempotency.Response) error {
	return errors.New("store idempotent response: connection reset by peer (injected)")
}

func TestRetryAfterAFailedCompleteGetsTheStoredOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) { d.Idempotency = failingComplete{d.Idempotency} })
	tok := testenv.Token(t, "cust-1", "")
	body := `{"service_id":"express-delivery","quantity":2}`
	first := e.do(t, createReq(tok, "key-c", body))
	if first.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", first.Code, first.Body)
	}
	// The key is still pending in Redis, but the order exists: the retry
	// must get the first answer, not 409 until the record expires.
	again := e.do(t, createReq(tok, "key-c", body))
	if again.Code != http.StatusCreated || again.Body.String() != first.Body.String() ||
		again.Header().Get(HeaderReplayed) != "true" || again.Header().Get("Location") != first.Header().Get("Location") {
		t.Errorf("retry: %d replayed=%q Location=%q %s, want the first response %d Location=%q %s",
			again.Code, again.Header().Get(HeaderReplayed), again.Header().Get("Location"), again.Body,
			first.Code, first.Header().Get("Location"), first.Body)
	}
	other := e.do(t, createReq(tok, "key-c", `{"service_id":"express-delivery","quantity":3}`))
	if other.Code != http.StatusUnprocessableEntity || errCode(t, other) != codeIdempotencyReused {
		t.Errorf("same key, other body: %d %s", other.Code, other.Body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders WHERE customer_id = ? AND idempotency_key = ?", "cust-1", "key-c"); n != 1 {
		t.Errorf("%d orders for the key, want 1", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}

// cancelAfterCreate is the real store that cancels the request's context
// as soon as the order is committed: the client hung up at the worst time.
type cancelAfterCreate struct {
	Store
	cancel context.CancelFunc
}

func (c cancelAfterCreate) CreateOrder(ctx context.Context, n order.New) (order.Order, error) {
	o, err := c.Store.CreateOrder(ctx, n)
	c.cancel()
	return o, err
}

func TestACancelledRequestStillCompletesItsKey(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, func(d *Deps) { d.Store = cancelAfterCreate{Store: d.Store, cancel: cancel} })
	body := `{"service_id":"cod-collection","quantity":4}`
	r := createReq(testenv.Token(t, "cust-1", ""), "key-gone", body)
	r.ctx = ctx
	w := e.do(t, r)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	_, hash, apiErr := parseOrderRequest([]byte(body))
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	idem := idempotency.New(e.rdb.Client, e.rdb.Prefix, time.Hour, time.Second)
	replay, err := idem.Claim(context.Background(), "cust-1", "key-gone", hash)
	if err != nil || replay == nil {
		t.Fatalf("the key after a cancelled request: replay %v, error %v; want the stored response", replay, err)
	}
	if replay.Status != http.StatusCreated || string(replay.Body) != w.Body.String() {
		t.Errorf("stored response %d %s, want %d %s", replay.Status, replay.Body, w.Code, w.Body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM orders"); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}
