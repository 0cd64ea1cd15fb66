package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/smp/order-svc/internal/auth"
	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/order"
)

// HeaderIdempotencyKey names the header POST /api/v1/orders requires.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderReplayed marks a response replayed for a retried key.
const HeaderReplayed = "Idempotent-Replayed"

// validIdempotencyKey accepts 1-255 printable ASCII characters (UUIDs,
// ULIDs and the like), so a key is safe in a Redis key and a log line.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// parseOrderRequest decodes and validates a create-order body and returns
// the request with a hash of its canonical form: two bodies that differ
// only in whitespace or key order are the same request.
func parseOrderRequest(body []byte) (order.Request, string, *apiError) {
	var req order.Request
	if e := decodeStrict(body, &req); e != nil {
		return order.Request{}, "", e
	}
	if err := req.Validate(); err != nil {
		return order.Request{}, "", &apiError{http.StatusUnprocessableEntity, codeValidation, err.Error()}
	}
	canonical, err := json.Marshal(req)
	if err != nil {
		return order.Request{}, "", &apiError{http.StatusBadRequest, codeInvalidJSON, "request cannot be encoded: " + err.Error()}
	}
	sum := sha256.Sum256(canonical)
	return req, hex.EncodeToString(sum[:]), nil
}

// createOrder creates an order at most once per (customer, Idempotency-Key).
func (s *server) createOrder(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	key := r.Header.Get(HeaderIdempotencyKey)
	if !validIdempotencyKey(key) {
		writeError(w, r, http.StatusBadRequest, codeIdempotencyMissing,
			"send an Idempotency-Key header of 1-255 printable ASCII characters (a UUID is a good choice)")
		return
	}
	body, e := readJSONBody(w, r, s.MaxBodyBytes)
	if e != nil {
		writeAPIError(w, r, e)
		return
	}
	req, hash, e := parseOrderRequest(body)
	if e != nil {
		writeAPIError(w, r, e)
		return
	}
	ctx := r.Context()
	replay, err := s.Idempotency.Claim(ctx, p.Subject, key, hash)
	switch {
	case errors.Is(err, idempotency.ErrMismatch):
		writeError(w, r, http.StatusUnprocessableEntity, codeIdempotencyReused,
			"this Idempotency-Key was already used with a different request body; use a new key for a new order")
		return
	case errors.Is(err, idempotency.ErrInProgress):
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusConflict, codeIdempotencyInFlight,
			"a request with this Idempotency-Key is still being processed; retry shortly")
		return
	case err != nil:
		s.internalError(w, r, "claim idempotency key", err)
		return
	case replay != nil:
		w.Header().Set(HeaderReplayed, "true")
		if replay.Status == http.StatusCreated {
			w.Header().Set("Location", "/api/v1/orders/"+strconv.FormatUint(decodeID(replay.Body), 10))
		}
		writeRaw(w, replay.Status, replay.Body)
		return
	}

	status, respBody, e := s.insertOrder(ctx, order.New{CustomerID: p.Subject, Request: req, IdempotencyKey: key, RequestHash: hash})
	if e != nil {
		// Nothing was stored: free the key so the client can retry it.
		s.release(ctx, r, p.Subject, key)
		if e.status >= 500 {
			s.internalError(w, r, "create order", e)
			return
		}
		writeAPIError(w, r, e)
		return
	}
	if err := s.Idempotency.Complete(ctx, p.Subject, key, hash, idempotency.Response{Status: status, Body: respBody}); err != nil {
		// The order exists; a retry is answered from MySQL's unique key.
		s.Log.WarnContext(ctx, "idempotent response not stored", "request_id", requestIDFrom(ctx), "error", err.Error())
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/orders/"+strconv.FormatUint(decodeID(respBody), 10))
	}
	writeRaw(w, status, respBody)
}

// insertOrder stores the order; when MySQL already holds an order for the
// key (the Redis record expired or was lost) it answers as a replay would.
func (s *server) insertOrder(ctx context.Context, n order.New) (int, []byte, *apiError) {
	o, err := s.Store.CreateOrder(ctx, n)
	switch {
	case errors.Is(err, order.ErrServiceUnavailable):
		return 0, nil, &apiError{http.StatusUnprocessableEntity, codeValidation,
			fmt.Sprintf("service_id %q is not an active catalog service; see GET /api/v1/catalog/services", n.Request.ServiceID)}
	case errors.Is(err, order.ErrDuplicateKey):
		existing, ferr := s.Store.OrderByIdempotencyKey(ctx, n.CustomerID, n.IdempotencyKey)
		if ferr != nil {
			return 0, nil, &apiError{http.StatusServiceUnavailable, codeDependencyUnavailable, ferr.Error()}
		}
		if existing.RequestHash != n.RequestHash {
			return 0, nil, &apiError{http.StatusUnprocessableEntity, codeIdempotencyReused,
				"this Idempotency-Key was already used with a different request body; use a new key for a new order"}
		}
		o = existing
	case err != nil:
		return 0, nil, &apiError{http.StatusServiceUnavailable, codeDependencyUnavailable, err.Error()}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return 0, nil, &apiError{http.StatusInternalServerError, codeInternal, err.Error()}
	}
	return http.StatusCreated, b, nil
}

func (s *server) release(ctx context.Context, r *http.Request, scope, key string) {
	if err := s.Idempotency.Release(ctx, scope, key); err != nil {
		s.Log.WarnContext(ctx, "idempotency key not released; the client must wait for its TTL",
			"request_id", requestIDFrom(r.Context()), "error", err.Error())
	}
}

func decodeID(body []byte) uint64 {
	var v struct {
		ID uint64 `json:"id"`
	}
	_ = json.Unmarshal(body, &v) // body was produced by json.Marshal(order.Order)
	return v.ID
}

// getOrder returns one of the caller's orders.
func (s *server) getOrder(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == 0 {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("order id %q must be a positive integer", raw))
		return
	}
	o, err := s.Store.GetOrder(r.Context(), p.Subject, id)
	if errors.Is(err, order.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, codeNotFound, fmt.Sprintf("order %d not found", id))
		return
	}
	if err != nil {
		s.internalError(w, r, "get order", err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}
