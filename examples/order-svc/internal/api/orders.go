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
		s.answerPendingKey(w, r, p.Subject, key, hash)
		return
	case err != nil:
		s.internalError(w, r, "claim idempotency key", err)
		return
	case replay != nil:
		writeReplay(w, *replay)
		return
	}

	status, respBody, e := s.insertOrder(ctx, order.New{CustomerID: p.Subject, Request: req, IdempotencyKey: key, RequestHash: hash})
	if e != nil {
		// Nothing was stored: free the key so the client can retry it.
		s.release(ctx, p.Subject, key)
		if e.status >= 500 {
			s.internalError(w, r, "create order", e)
			return
		}
		writeAPIError(w, r, e)
		return
	}
	s.complete(ctx, p.Subject, key, hash, idempotency.Response{Status: status, Body: respBody})
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

// answerPendingKey answers a request whose key another request claimed and
// has not completed. That owner may still be running, or it may have
// inserted the order and then failed to store the response (Redis error,
// crash): MySQL is the record of truth, so an order stored under the key is
// answered exactly as the first request was. Only when there is none is the
// key really in flight.
func (s *server) answerPendingKey(w http.ResponseWriter, r *http.Request, scope, key, hash string) {
	ctx := r.Context()
	o, err := s.Store.OrderByIdempotencyKey(ctx, scope, key)
	switch {
	case errors.Is(err, order.ErrNotFound):
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusConflict, codeIdempotencyInFlight,
			"a request with this Idempotency-Key is still being processed; retry shortly")
		return
	case err != nil:
		s.internalError(w, r, "look up the order of a pending idempotency key", err)
		return
	case o.RequestHash != hash:
		writeError(w, r, http.StatusUnprocessableEntity, codeIdempotencyReused,
			"this Idempotency-Key was already used with a different request body; use a new key for a new order")
		return
	}
	b, err := json.Marshal(o)
	if err != nil {
		s.internalError(w, r, "encode stored order", err)
		return
	}
	resp := idempotency.Response{Status: http.StatusCreated, Body: b}
	// Store the answer now so the next retry is served from Redis; the
	// owner, if still running, stores the same bytes.
	s.complete(ctx, scope, key, hash, resp)
	writeReplay(w, resp)
}

// writeReplay answers with a stored response, as the first request was.
func writeReplay(w http.ResponseWriter, resp idempotency.Response) {
	w.Header().Set(HeaderReplayed, "true")
	if resp.Status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/orders/"+strconv.FormatUint(decodeID(resp.Body), 10))
	}
	writeRaw(w, resp.Status, resp.Body)
}

// complete stores the response of a key whose order is in MySQL. It is
// detached from the request: once the order exists, a client that hangs up
// must not leave the key pending (the store bounds the call with its own
// timeout). On failure a retry still gets the order, from MySQL.
func (s *server) complete(ctx context.Context, scope, key, hash string, resp idempotency.Response) {
	if err := s.Idempotency.Complete(context.WithoutCancel(ctx), scope, key, hash, resp); err != nil {
		s.Log.WarnContext(ctx, "idempotent response not stored; retries are answered from MySQL",
			"request_id", requestIDFrom(ctx), "error", err.Error())
	}
}

// release frees a key whose request stored nothing, detached from the
// request for the same reason as complete.
func (s *server) release(ctx context.Context, scope, key string) {
	if err := s.Idempotency.Release(context.WithoutCancel(ctx), scope, key); err != nil {
		s.Log.WarnContext(ctx, "idempotency key not released; it stays pending until its pending TTL",
			"request_id", requestIDFrom(ctx), "error", err.Error())
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
