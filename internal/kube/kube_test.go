package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/util/flowcontrol"
)

// A request the rate limit holds back past its context's deadline fails
// with the context's error, so a wait that polls reports what it waited
// for, not an unreachable API server; a token that frees up in time lets
// the request go.
func TestWaitLimiterEndsWithTheContext(t *testing.T) {
	t.Parallel()
	l := waitLimiter{flowcontrol.NewTokenBucketRateLimiter(0.01, 1)} // one token, the next in 100 s
	if !l.TryAccept() {
		t.Fatal("a new limiter has no token")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past the deadline: %v, want context.DeadlineExceeded", err)
	}
	// client-go's own limiter, for contrast: it refuses at once with an error that is not the context's.
	raw := flowcontrol.NewTokenBucketRateLimiter(0.01, 1)
	raw.Accept()
	ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	if err := raw.Wait(ctx2); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("client-go's limiter past the deadline: %v; this test's premise is gone, waitLimiter may be dropped", err)
	}
	fast := waitLimiter{flowcontrol.NewTokenBucketRateLimiter(50, 1)} // the next token in 20 ms
	fast.Accept()
	if err := fast.Wait(t.Context()); err != nil {
		t.Errorf("Wait for a token that frees up: %v", err)
	}
}
