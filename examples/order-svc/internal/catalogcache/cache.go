// Package catalogcache caches rendered catalog pages in Redis.
//
// Invalidation uses a generation counter instead of deleting keys: a page is
// stored under the generation read *before* the database was queried, and a
// change bumps the generation after it commits. A reader that raced a change
// therefore writes its stale page under the old generation, where nobody
// reads it again, instead of resurrecting stale data after the delete.
package catalogcache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrMiss means the page is not cached.
var ErrMiss = errors.New("catalog cache miss")

// Cache stores catalog pages as opaque bytes.
type Cache struct {
	rdb     redis.UniversalClient
	prefix  string
	ttl     time.Duration
	timeout time.Duration
}

// New returns a Cache whose keys start with prefix and live for ttl; every
// Redis call is bounded by timeout.
func New(rdb redis.UniversalClient, prefix string, ttl, timeout time.Duration) *Cache {
	return &Cache{rdb: rdb, prefix: prefix + "catalog:", ttl: ttl, timeout: timeout}
}

func (c *Cache) genKey() string { return c.prefix + "gen" }

func (c *Cache) pageKey(gen int64, page, size int) string {
	return c.prefix + "v" + strconv.FormatInt(gen, 10) + ":page:" + strconv.Itoa(page) + ":" + strconv.Itoa(size)
}

// Generation returns the current generation (0 before the first change).
func (c *Cache) Generation(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	g, err := c.rdb.Get(ctx, c.genKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read catalog generation: %w", err)
	}
	return g, nil
}

// Get returns the cached page of generation gen, or ErrMiss.
func (c *Cache) Get(ctx context.Context, gen int64, page, size int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, c.pageKey(gen, page, size)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrMiss
	}
	if err != nil {
		return nil, fmt.Errorf("read catalog page: %w", err)
	}
	return b, nil
}

// Put stores a page under generation gen.
func (c *Cache) Put(ctx context.Context, gen int64, page, size int, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Set(ctx, c.pageKey(gen, page, size), body, c.ttl).Err(); err != nil {
		return fmt.Errorf("write catalog page: %w", err)
	}
	return nil
}

// Invalidate makes every cached page stale; call it after a catalog change
// has been committed.
func (c *Cache) Invalidate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Incr(ctx, c.genKey()).Err(); err != nil {
		return fmt.Errorf("invalidate catalog cache: %w", err)
	}
	return nil
}

// Ping checks Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}
