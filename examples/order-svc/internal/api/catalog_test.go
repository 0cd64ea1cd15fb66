package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smp/order-svc/internal/catalog"
	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/store"
	"github.com/smp/order-svc/internal/testenv"
)

func decodePage(t *testing.T, b []byte) catalog.Page {
	t.Helper()
	var p catalog.Page
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("decode page %s: %v", b, err)
	}
	return p
}

func TestListServicesIsPaginatedAndCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1", "")
	w := e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: tok})
	if w.Code != http.StatusOK || w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("first read: %d X-Cache=%s %s", w.Code, w.Header().Get("X-Cache"), w.Body)
	}
	p := decodePage(t, w.Body.Bytes())
	if p.Total != 6 || len(p.Items) != 6 || p.Page != 1 || p.PageSize != catalog.DefaultPageSize {
		t.Fatalf("page = %+v", p)
	}
	if p.Items[0].ID != "bulky-freight" || p.Items[0].BasePrice != 250000 || p.Items[0].Currency != "VND" || p.Items[0].Active {
		t.Errorf("first item = %+v", p.Items[0])
	}
	w2 := e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: tok})
	if w2.Header().Get("X-Cache") != "HIT" || w2.Body.String() != w.Body.String() {
		t.Errorf("second read: X-Cache=%s, same body=%v", w2.Header().Get("X-Cache"), w2.Body.String() == w.Body.String())
	}

	w = e.do(t, req{method: "GET", path: "/api/v1/catalog/services?page=2&page_size=4", token: tok})
	p = decodePage(t, w.Body.Bytes())
	if w.Code != http.StatusOK || len(p.Items) != 2 || p.Page != 2 || p.PageSize != 4 || p.Items[0].ID != "standard-delivery" {
		t.Errorf("page 2 = %d %+v", w.Code, p)
	}
	w = e.do(t, req{method: "GET", path: "/api/v1/catalog/services?page=9", token: tok})
	if p := decodePage(t, w.Body.Bytes()); w.Code != http.StatusOK || len(p.Items) != 0 || p.Items == nil {
		t.Errorf("page past the end = %d %s (want an empty array, not null)", w.Code, w.Body)
	}
}

func TestListServicesRejectsBadPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := testenv.Token(t, "cust-1", "")
	for _, q := range []string{"page=0", "page=-1", "page=abc", "page_size=0", "page_size=101", "page=1%27%20OR%201%3D1", "page=99999999999999999999"} {
		t.Run(q, func(t *testing.T) {
			w := e.do(t, req{method: "GET", path: "/api/v1/catalog/services?" + q, token: tok})
			if w.Code != http.StatusBadRequest || errCode(t, w) != codeBadRequest {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestCatalogChangeInvalidatesTheCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reader := testenv.Token(t, "cust-1", "")
	admin := testenv.Token(t, "ops-1", "catalog:read "+ScopeCatalogWrite)
	e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: reader})
	if w := e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: reader}); w.Header().Get("X-Cache") != "HIT" {
		t.Fatal("catalog was not cached")
	}

	w := e.do(t, req{method: "PUT", path: "/api/v1/catalog/services/express-delivery", token: admin,
		body: `{"name":"Giao hàng nhanh nội thành","category":"delivery","base_price":39000,"active":true}`})
	if w.Code != http.StatusOK {
		t.Fatalf("update: %d %s", w.Code, w.Body)
	}
	var svc catalog.Service
	if err := json.Unmarshal(w.Body.Bytes(), &svc); err != nil || svc.BasePrice != 39000 || svc.Currency != "VND" {
		t.Fatalf("updated service = %+v (%v)", svc, err)
	}
	w = e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: reader})
	if w.Header().Get("X-Cache") != "MISS" || !strings.Contains(w.Body.String(), `"base_price":39000`) {
		t.Fatalf("after the change: X-Cache=%s body=%s", w.Header().Get("X-Cache"), w.Body)
	}

	w = e.do(t, req{method: "PUT", path: "/api/v1/catalog/services/same-day-delivery", token: admin,
		body: `{"name":"Giao trong ngày","category":"delivery","base_price":45000,"currency":"VND","active":true}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if p := decodePage(t, e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: reader}).Body.Bytes()); p.Total != 7 {
		t.Errorf("total after create = %d, want 7", p.Total)
	}
}

func TestPutServiceRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := testenv.Token(t, "ops-1", ScopeCatalogWrite)
	valid := `{"name":"X","category":"delivery","base_price":1,"active":true}`
	cases := []struct {
		name, path, body, token, contentType string
		status                               int
		code                                 string
	}{
		{"a token without the write scope", "/api/v1/catalog/services/x", valid, testenv.Token(t, "cust-1", "catalog:read"), "", http.StatusForbidden, codeForbidden},
		{"a negative price", "/api/v1/catalog/services/x", `{"name":"X","category":"delivery","base_price":-1,"active":true}`, admin, "", http.StatusUnprocessableEntity, codeValidation},
		{"another currency", "/api/v1/catalog/services/x", `{"name":"X","category":"delivery","base_price":1,"currency":"USD","active":true}`, admin, "", http.StatusUnprocessableEntity, codeValidation},
		{"a missing price", "/api/v1/catalog/services/x", `{"name":"X","category":"delivery","active":true}`, admin, "", http.StatusUnprocessableEntity, codeValidation},
		{"an id with SQL in it", "/api/v1/catalog/services/x';DROP%20TABLE%20services;--", valid, admin, "", http.StatusUnprocessableEntity, codeValidation},
		{"a category with SQL in it", "/api/v1/catalog/services/x", `{"name":"X","category":"a' OR '1'='1","base_price":1,"active":true}`, admin, "", http.StatusUnprocessableEntity, codeValidation},
		{"an unknown field", "/api/v1/catalog/services/x", `{"name":"X","category":"delivery","base_price":1,"active":true,"admin":true}`, admin, "", http.StatusBadRequest, codeUnknownField},
		{"malformed JSON", "/api/v1/catalog/services/x", `{"name":`, admin, "", http.StatusBadRequest, codeInvalidJSON},
		{"a form body", "/api/v1/catalog/services/x", valid, admin, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, codeUnsupportedMedia},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req{method: "PUT", path: c.path, body: c.body, token: c.token}
			if c.contentType != "" {
				r.headers = map[string]string{"Content-Type": c.contentType}
			}
			w := e.do(t, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if code := errCode(t, w); code != c.code {
				t.Errorf("code %q, want %q", code, c.code)
			}
		})
	}
	if n := e.count(t, "SELECT COUNT(*) FROM services"); n != 6 {
		t.Errorf("%d services after rejected writes, want the 6 seeded", n)
	}
}

func TestSQLMetacharactersInServiceNamesAreStoredVerbatim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := testenv.Token(t, "ops-1", ScopeCatalogWrite)
	name := `Robert'); DROP TABLE services; -- " % _ \ ` + "`x`"
	b, _ := json.Marshal(map[string]any{"name": name, "category": "delivery", "base_price": 1, "active": true})
	w := e.do(t, req{method: "PUT", path: "/api/v1/catalog/services/odd-name", token: admin, body: string(b)})
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM services WHERE name = ?", name); n != 1 {
		t.Errorf("%d rows hold the name verbatim, want 1", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM services"); n != 7 {
		t.Errorf("%d services, want 7", n)
	}
}

func TestCatalogSurvivesARedisOutage(t *testing.T) {
	t.Parallel()
	dead := deadRedis(t)
	e := newEnv(t, func(d *Deps) { d.Cache = catalogcache.New(dead, "x:", time.Minute, 200*time.Millisecond) })
	w := e.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: testenv.Token(t, "cust-1", "")})
	if w.Code != http.StatusOK || w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	admin := testenv.Token(t, "ops-1", ScopeCatalogWrite)
	w = e.do(t, req{method: "PUT", path: "/api/v1/catalog/services/express-delivery", token: admin,
		body: `{"name":"N","category":"delivery","base_price":1,"active":true}`})
	if w.Code != http.StatusOK {
		t.Fatalf("update with Redis down: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(e.logs.String(), "catalog cache not invalidated") {
		t.Errorf("failed invalidation not logged")
	}
}

func TestCatalogAnswers503WhenMySQLIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	closed := testenv.NewDatabase(t)
	_ = closed.DB.Close()
	e2 := newEnv(t, func(d *Deps) {
		d.Store = store.New(closed.DB, time.Second)
		d.Cache = catalogcache.New(e.rdb.Client, e.rdb.Prefix, time.Minute, time.Second)
	})
	w := e2.do(t, req{method: "GET", path: "/api/v1/catalog/services", token: testenv.Token(t, "cust-1", "")})
	if w.Code != http.StatusServiceUnavailable || errCode(t, w) != codeDependencyUnavailable {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}
