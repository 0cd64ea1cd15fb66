package api

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzParseOrderRequest checks that no body makes order decoding panic or
// answer anything but a 400/422 with an error code, and that an accepted
// request hashes the same after a round trip (the idempotency hash is
// canonical). Seeds: testdata/fuzz/FuzzParseOrderRequest.
func FuzzParseOrderRequest(f *testing.F) {
	f.Add([]byte(`{"service_id":"express-delivery","quantity":1}`))
	f.Add([]byte(`{"service_id":"x' OR '1'='1","quantity":-1,"note":"\u0000"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, hash, e := parseOrderRequest(body)
		if e != nil {
			if e.status != http.StatusBadRequest && e.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d for %q, want 400 or 422", e.status, body)
			}
			if e.code == "" || e.message == "" {
				t.Fatalf("error without code or message for %q", body)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted an invalid request %+v: %v", req, err)
		}
		if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
			t.Fatalf("hash %q is not SHA-256 hex", hash)
		}
		canonical, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, hash2, e2 := parseOrderRequest(canonical)
		if e2 != nil || hash2 != hash || again != req {
			t.Fatalf("round trip of %q changed the request: %+v %q vs %+v %q (%v)", body, req, hash, again, hash2, e2)
		}
	})
}

// FuzzParseServiceInput checks catalog entry decoding the same way.
func FuzzParseServiceInput(f *testing.F) {
	f.Add("express-delivery", []byte(`{"name":"A","category":"delivery","base_price":1,"active":true}`))
	f.Add("x", []byte(`{"name":"","category":"a' --","base_price":-5,"currency":"USD","active":false}`))
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		svc, e := parseServiceInput(id, body)
		if e != nil {
			if e.status != http.StatusBadRequest && e.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d for %q, want 400 or 422", e.status, body)
			}
			return
		}
		if err := svc.Validate(); err != nil {
			t.Fatalf("accepted an invalid service %+v: %v", svc, err)
		}
	})
}
