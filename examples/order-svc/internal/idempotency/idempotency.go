// Package idempotency records, in Redis, which Idempotency-Key a customer
// has used, for which request body, and the response it got, so that a
// retried POST gets the same answer and creates nothing new.
//
// A key moves from "pending" (claimed by the request being processed) to
// "done" (response stored). A pending record lives only for the pending TTL
// (DefaultPendingTTL unless WithPendingTTL), long enough for one request to
// finish: if its owner dies or cannot write the response, the key is free
// again soon instead of answering 409 for a day. A done record lives for the
// full TTL. The database keeps a unique (customer, key) constraint as the
// last line of defence when a record expired or Redis lost it, so a key
// freed early never yields a second order.
package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel outcomes of Claim.
var (
	// ErrMismatch: the key was used with a different request body.
	ErrMismatch = errors.New("idempotency key reused with a different request")
	// ErrInProgress: another request with this key is being processed.
	ErrInProgress = errors.New("a request with this idempotency key is in progress")
)

// Response is a stored answer to replay.
type Response struct {
	Status int    `json:"status"`
	Body   []byte `json:"body"`
}

type record struct {
	Hash     string    `json:"hash"`
	State    string    `json:"state"`
	Response *Response `json:"response,omitempty"`
}

const (
	statePending = "pending"
	stateDone    = "done"
)

// DefaultPendingTTL is how long a claim lasts unless WithPendingTTL says
// otherwise: well above what one request may take (its database and Redis
// timeouts), far below a stored response's lifetime.
const DefaultPendingTTL = 30 * time.Second

// Store keeps idempotency records under a key prefix.
type Store struct {
	rdb        redis.UniversalClient
	prefix     string
	ttl        time.Duration
	pendingTTL time.Duration
	timeout    time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithPendingTTL sets how long a claimed key stays pending when its owner
// neither completes nor releases it (default DefaultPendingTTL, and never
// longer than the Store's ttl).
func WithPendingTTL(d time.Duration) Option {
	return func(s *Store) { s.pendingTTL = d }
}

// New returns a Store whose keys start with prefix and whose stored
// responses live for ttl; every Redis call is bounded by timeout.
func New(rdb redis.UniversalClient, prefix string, ttl, timeout time.Duration, opts ...Option) *Store {
	s := &Store{rdb: rdb, prefix: prefix + "idem:", ttl: ttl, pendingTTL: DefaultPendingTTL, timeout: timeout}
	for _, o := range opts {
		o(s)
	}
	if s.pendingTTL <= 0 {
		s.pendingTTL = DefaultPendingTTL
	}
	s.pendingTTL = min(s.pendingTTL, ttl)
	return s
}

// key length-prefixes the scope so that a subject containing ':' cannot
// collide with another subject's keys.
func (s *Store) key(scope, key string) string {
	return s.prefix + strconv.Itoa(len(scope)) + ":" + scope + ":" + key
}

// Claim reserves key for a request whose body hashes to hash. It returns
// (nil, nil) when the caller now owns the key and must call Complete or
// Release; a stored Response to replay when the same request already
// finished; ErrMismatch or ErrInProgress otherwise. scope separates
// customers, so two customers may use the same key.
func (s *Store) Claim(ctx context.Context, scope, key, hash string) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pending, err := json.Marshal(record{Hash: hash, State: statePending})
	if err != nil {
		return nil, fmt.Errorf("encode idempotency record: %w", err)
	}
	k := s.key(scope, key)
	ok, err := s.rdb.SetNX(ctx, k, pending, s.pendingTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if ok {
		return nil, nil
	}
	raw, err := s.rdb.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		// Expired between SETNX and GET: try once more.
		return s.retryClaim(ctx, k, pending)
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode idempotency record %s: %w", k, err)
	}
	switch {
	case rec.Hash != hash:
		return nil, ErrMismatch
	case rec.State == stateDone && rec.Response != nil:
		return rec.Response, nil
	default:
		return nil, ErrInProgress
	}
}

func (s *Store) retryClaim(ctx context.Context, k string, pending []byte) (*Response, error) {
	ok, err := s.rdb.SetNX(ctx, k, pending, s.pendingTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if !ok {
		return nil, ErrInProgress
	}
	return nil, nil
}

// Complete stores the response for a claimed key for the full TTL.
func (s *Store) Complete(ctx context.Context, scope, key, hash string, resp Response) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	done, err := json.Marshal(record{Hash: hash, State: stateDone, Response: &resp})
	if err != nil {
		return fmt.Errorf("encode idempotency record: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key(scope, key), done, s.ttl).Err(); err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// Release frees a claimed key after a failure, so the client may retry
// with the same key.
func (s *Store) Release(ctx context.Context, scope, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Del(ctx, s.key(scope, key)).Err(); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
