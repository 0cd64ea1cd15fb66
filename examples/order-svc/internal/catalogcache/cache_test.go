package catalogcache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/testenv"
)

func TestGenerationsInvalidatePages(t *testing.T) {
	t.Parallel()
	r := testenv.NewRedis(t)
	c := catalogcache.New(r.Client, r.Prefix, time.Minute, time.Second)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	gen, _, err := c.Lookup(ctx, 1, 20)
	if gen != 0 || !errors.Is(err, catalogcache.ErrMiss) {
		t.Fatalf("empty cache: generation %d, err %v", gen, err)
	}
	if err := c.Put(ctx, gen, 1, 20, []byte(`{"page":1}`)); err != nil {
		t.Fatal(err)
	}
	if g, b, err := c.Lookup(ctx, 1, 20); err != nil || g != 0 || string(b) != `{"page":1}` {
		t.Fatalf("Lookup = %d %s, %v", g, b, err)
	}
	if _, _, err := c.Lookup(ctx, 1, 10); !errors.Is(err, catalogcache.ErrMiss) {
		t.Errorf("another page size hit: %v", err)
	}
	ttl := r.Client.TTL(ctx, r.Prefix+"catalog:v0:page:1:20").Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("page TTL = %s, want (0, 1m]", ttl)
	}

	// A reader that raced a change stores its page under the old generation.
	if err := c.Invalidate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, gen, 1, 20, []byte(`stale`)); err != nil {
		t.Fatal(err)
	}
	now, _, err := c.Lookup(ctx, 1, 20)
	if now != gen+1 || !errors.Is(err, catalogcache.ErrMiss) {
		t.Fatalf("after invalidate: generation %d, err %v; want %d and a miss", now, err, gen+1)
	}
	if err := c.Put(ctx, now, 1, 20, []byte(`fresh`)); err != nil {
		t.Fatal(err)
	}
	if g, b, err := c.Lookup(ctx, 1, 20); err != nil || g != now || string(b) != "fresh" {
		t.Errorf("Lookup after refill = %d %s, %v", g, b, err)
	}

	// A corrupt generation is an error, not a silent miss.
	r.Client.Set(ctx, r.Prefix+"catalog:gen", "x", time.Minute)
	if _, _, err := c.Lookup(ctx, 1, 20); err == nil || errors.Is(err, catalogcache.ErrMiss) {
		t.Errorf("corrupt generation: %v", err)
	}
}

func TestCacheErrorsWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	c := catalogcache.New(dead, "p:", time.Minute, 300*time.Millisecond)
	ctx := context.Background()
	if _, _, err := c.Lookup(ctx, 1, 1); err == nil || errors.Is(err, catalogcache.ErrMiss) {
		t.Errorf("Lookup: %v, want a failure that is not a miss", err)
	}
	if err := c.Put(ctx, 0, 1, 1, nil); err == nil {
		t.Error("Put succeeded")
	}
	if err := c.Invalidate(ctx); err == nil {
		t.Error("Invalidate succeeded")
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping succeeded")
	}
}
