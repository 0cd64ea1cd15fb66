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

// lookup reads the generation and that generation's page in one round
// trip; the page key depends on the generation, so a pipeline cannot.
// The page key is built inside the script, which a Redis Cluster would
// refuse; order-svc uses a single Redis (or a primary with replicas).
var lookup = redis.NewScript(`
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2])}
`)

// Lookup returns the current generation (0 before the first change) and
// the cached page of that generation, or ErrMiss with the generation to
// store a freshly read page under.
func (c *Cache) Lookup(ctx context.Context, page, size int) (int64, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	suffix := ":page:" + strconv.Itoa(page) + ":" + strconv.Itoa(size)
	res, err := lookup.Run(ctx, c.rdb, []string{c.genKey()}, c.prefix+"v", suffix).Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("read catalog page: %w", err)
	}
	if len(res) == 0 {
		return 0, nil, fmt.Errorf("read catalog page: empty script reply")
	}
	genStr, ok := res[0].(string)
	if !ok {
		return 0, nil, fmt.Errorf("read catalog page: generation is %T", res[0])
	}
	gen, err := strconv.ParseInt(genStr, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("read catalog generation %q: %w", genStr, err)
	}
	if len(res) < 2 || res[1] == nil {
		return gen, nil, ErrMiss
	}
	body, ok := res[1].(string)
	if !ok {
		return 0, nil, fmt.Errorf("read catalog page: page is %T", res[1])
	}
	return gen, []byte(body), nil
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
