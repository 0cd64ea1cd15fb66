package idempotency_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/testenv"
)

func TestClaimCompleteReplay(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	s := idempotency.New(r.Client, r.Prefix, time.Hour, time.Second)
	ctx := context.Background()

	replay, err := s.Claim(ctx, "cust-1", "k", "h1")
	if err != nil || replay != nil {
		t.Fatalf("first claim: %v, %v", replay, err)
	}
	if _, err := s.Claim(ctx, "cust-1", "k", "h1"); !errors.Is(err, idempotency.ErrInProgress) {
		t.Errorf("claim while pending: %v", err)
	}
	if _, err := s.Claim(ctx, "cust-1", "k", "h2"); !errors.Is(err, idempotency.ErrMismatch) {
		t.Errorf("claim with another body while pending: %v", err)
	}
	resp := idempotency.Response{Status: 201, Body: []byte(`{"id":1}`)}
	if err := s.Complete(ctx, "cust-1", "k", "h1", resp); err != nil {
		t.Fatal(err)
	}
	replay, err = s.Claim(ctx, "cust-1", "k", "h1")
	if err != nil || replay == nil || replay.Status != 201 || string(replay.Body) != `{"id":1}` {
		t.Fatalf("replay = %+v, %v", replay, err)
	}
	if _, err := s.Claim(ctx, "cust-1", "k", "h2"); !errors.Is(err, idempotency.ErrMismatch) {
		t.Errorf("claim with another body after completion: %v", err)
	}
	// Scopes are separate, and a subject containing ':' cannot collide.
	if replay, err := s.Claim(ctx, "cust-2", "k", "h2"); err != nil || replay != nil {
		t.Errorf("another customer's claim: %v, %v", replay, err)
	}
	if replay, err := s.Claim(ctx, "cust-1:k", "", "h1"); err != nil || replay != nil {
		t.Errorf("colliding scope claim: %v, %v", replay, err)
	}
	if err := s.Release(ctx, "cust-1", "k"); err != nil {
		t.Fatal(err)
	}
	if replay, err := s.Claim(ctx, "cust-1", "k", "h3"); err != nil || replay != nil {
		t.Errorf("claim after release: %v, %v", replay, err)
	}
}

func TestOnlyOneConcurrentClaimWins(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	s := idempotency.New(r.Client, r.Prefix, time.Hour, time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replay, err := s.Claim(context.Background(), "c", "k", "h")
			if err == nil && replay == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, idempotency.ErrInProgress) {
				t.Errorf("unexpected: %v %v", replay, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d claims won, want 1", wins)
	}
}

func TestCorruptRecordIsAnError(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	s := idempotency.New(r.Client, r.Prefix, time.Hour, time.Second)
	ctx := context.Background()
	r.Client.Set(ctx, r.Prefix+"idem:1:c:k", "not json", time.Minute)
	if _, err := s.Claim(ctx, "c", "k", "h"); err == nil || errors.Is(err, idempotency.ErrInProgress) {
		t.Errorf("corrupt record: %v", err)
	}
}

func TestErrorsWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	s := idempotency.New(dead, "p:", time.Hour, 300*time.Millisecond)
	ctx := context.Background()
	if _, err := s.Claim(ctx, "c", "k", "h"); err == nil {
		t.Error("Claim succeeded")
	}
	if err := s.Complete(ctx, "c", "k", "h", idempotency.Response{}); err == nil {
		t.Error("Complete succeeded")
	}
	if err := s.Release(ctx, "c", "k"); err == nil {
		t.Error("Release succeeded")
	}
}

// A claim whose owner never completes (it crashed, or Redis failed the
// write) must free the key within the pending TTL, not the response TTL.
func TestAPendingClaimIsShortLivedAndCompleteKeepsTheResponse(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	ctx := context.Background()
	k := r.Prefix + "idem:1:c:k"
	cases := []struct {
		name        string
		opts        []idempotency.Option
		wantPending time.Duration
	}{
		{"the default pending TTL", nil, idempotency.DefaultPendingTTL},
		{"a configured pending TTL", []idempotency.Option{idempotency.WithPendingTTL(10 * time.Second)}, 10 * time.Second},
		{"a pending TTL above the TTL is cut to it", []idempotency.Option{idempotency.WithPendingTTL(2 * time.Hour)}, time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := idempotency.New(r.Client, r.Prefix, time.Hour, time.Second, c.opts...)
			if err := s.Release(ctx, "c", "k"); err != nil {
				t.Fatal(err)
			}
			if replay, err := s.Claim(ctx, "c", "k", "h"); err != nil || replay != nil {
				t.Fatalf("claim: %v, %v", replay, err)
			}
			if ttl := r.Client.TTL(ctx, k).Val(); ttl <= 0 || ttl > c.wantPending {
				t.Errorf("pending record TTL = %s, want at most %s", ttl, c.wantPending)
			}
			if err := s.Complete(ctx, "c", "k", "h", idempotency.Response{Status: 201, Body: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			if ttl := r.Client.TTL(ctx, k).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
				t.Errorf("completed record TTL = %s, want about 1h", ttl)
			}
		})
	}
}
