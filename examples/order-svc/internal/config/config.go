// Package config reads order-svc's configuration from the environment,
// applies defaults, and validates it once at start so that a bad deployment
// fails fast with a message naming the variable and how to fix it. Secrets
// (database password, JWT secret, Redis password) never appear in logs: the
// Config's slog representation masks them.
package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// MinSecretBytes is the shortest accepted HS256 secret: RFC 7518 §3.2
// requires a key at least as long as the hash output (256 bits).
const MinSecretBytes = 32

// Config is the validated configuration of the server.
type Config struct {
	// Host is the interface to listen on; empty means all of them.
	Host     string
	Port     int
	LogLevel slog.Level

	// MySQL is the parsed MYSQL_DSN with the options the service relies on
	// (parseTime, UTC, timeouts) already set.
	MySQL *mysql.Config

	// Redis holds the parsed REDIS_ADDR (host:port or redis:// URL with a
	// database number) and REDIS_PASSWORD.
	Redis *redis.Options
	// RedisPrefix namespaces every key so several environments can share
	// one Redis.
	RedisPrefix string

	JWT JWT

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownDelay is how long readiness reports false before the listener
	// stops accepting, so load balancers stop routing first.
	ShutdownDelay   time.Duration
	ShutdownTimeout time.Duration
	// DBTimeout and RedisTimeout bound every call that leaves the process.
	DBTimeout    time.Duration
	RedisTimeout time.Duration

	CatalogCacheTTL time.Duration
	// IdempotencyTTL is how long a stored response is replayed;
	// IdempotencyPendingTTL how long a claimed key stays pending when its
	// request never stores a response, so a failure blocks retries briefly
	// rather than for the whole TTL.
	IdempotencyTTL        time.Duration
	IdempotencyPendingTTL time.Duration
	// MaxBodyBytes limits every request body (413 beyond it).
	MaxBodyBytes int64
}

// JWT configures bearer token verification. Exactly one of Secret (HS256)
// and PublicKey (RS256) is set.
type JWT struct {
	Secret        []byte
	PublicKey     *rsa.PublicKey
	PublicKeyFile string
	Issuer        string
	Audience      string
}

// Algorithm is "HS256" or "RS256".
func (j JWT) Algorithm() string {
	if j.PublicKey != nil {
		return "RS256"
	}
	return "HS256"
}

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests) and returns every problem found, not only the first.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Port:                  l.int("PORT", 8080, 0, 65535), // 0: any free port (tests)
		ReadHeaderTimeout:     l.duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		ReadTimeout:           l.duration("HTTP_READ_TIMEOUT", 10*time.Second),
		WriteTimeout:          l.duration("HTTP_WRITE_TIMEOUT", 15*time.Second),
		IdleTimeout:           l.duration("HTTP_IDLE_TIMEOUT", 60*time.Second),
		ShutdownDelay:         l.durationMin("SHUTDOWN_DELAY", 0, 0),
		ShutdownTimeout:       l.duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		DBTimeout:             l.duration("DB_TIMEOUT", 3*time.Second),
		RedisTimeout:          l.duration("REDIS_TIMEOUT", time.Second),
		CatalogCacheTTL:       l.duration("CATALOG_CACHE_TTL", 5*time.Minute),
		IdempotencyTTL:        l.duration("IDEMPOTENCY_TTL", 24*time.Hour),
		IdempotencyPendingTTL: l.duration("IDEMPOTENCY_PENDING_TTL", 30*time.Second),
		MaxBodyBytes:          int64(l.int("MAX_BODY_BYTES", 1<<20, 1024, 64<<20)),
		RedisPrefix:           l.str("REDIS_PREFIX", "order-svc:"),
		Host:                  l.str("HOST", ""),
	}
	c.LogLevel = l.level("LOG_LEVEL")
	c.MySQL = l.mysql("MYSQL_DSN", c.DBTimeout)
	c.Redis = l.redis("REDIS_ADDR", "REDIS_PASSWORD", c.RedisTimeout)
	c.JWT = l.jwt()
	if c.ShutdownDelay >= c.ShutdownTimeout {
		l.fail("SHUTDOWN_DELAY", "must be shorter than SHUTDOWN_TIMEOUT (%s)", c.ShutdownTimeout)
	}
	// A claimed request may spend the insert and the lookup after a
	// duplicate (DB_TIMEOUT each) and the claim and the completion
	// (REDIS_TIMEOUT each); a pending key that expires sooner lets a retry
	// in while the first is still running, which the unique key then
	// answers, but only at the cost of a second insert attempt.
	if busy := 2*c.DBTimeout + 2*c.RedisTimeout; c.IdempotencyPendingTTL <= busy {
		l.fail("IDEMPOTENCY_PENDING_TTL", "must be longer than one request's database and Redis budget, 2×DB_TIMEOUT + 2×REDIS_TIMEOUT = %s", busy)
	}
	if c.IdempotencyPendingTTL > c.IdempotencyTTL {
		l.fail("IDEMPOTENCY_PENDING_TTL", "must not be longer than IDEMPOTENCY_TTL (%s)", c.IdempotencyTTL)
	}
	if len(l.errs) > 0 {
		return Config{}, &Error{Problems: l.errs}
	}
	return c, nil
}

// LogValue masks secrets, so `slog.Any("config", cfg)` is safe to log.
func (c Config) LogValue() slog.Value {
	dsn := "<unset>"
	if c.MySQL != nil {
		dsn = MaskDSN(c.MySQL)
	}
	redisAddr, redisDB, redisPass := "<unset>", 0, ""
	if c.Redis != nil {
		redisAddr, redisDB, redisPass = c.Redis.Addr, c.Redis.DB, mask(c.Redis.Password)
	}
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("mysql_dsn", dsn),
		slog.String("redis_addr", redisAddr),
		slog.Int("redis_db", redisDB),
		slog.String("redis_password", redisPass),
		slog.String("redis_prefix", c.RedisPrefix),
		slog.String("jwt_alg", c.JWT.Algorithm()),
		slog.String("jwt_secret", mask(string(c.JWT.Secret))),
		slog.String("jwt_public_key_file", c.JWT.PublicKeyFile),
		slog.String("jwt_issuer", c.JWT.Issuer),
		slog.String("jwt_audience", c.JWT.Audience),
		slog.Duration("http_read_header_timeout", c.ReadHeaderTimeout),
		slog.Duration("http_read_timeout", c.ReadTimeout),
		slog.Duration("http_write_timeout", c.WriteTimeout),
		slog.Duration("http_idle_timeout", c.IdleTimeout),
		slog.Duration("shutdown_delay", c.ShutdownDelay),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("db_timeout", c.DBTimeout),
		slog.Duration("redis_timeout", c.RedisTimeout),
		slog.Duration("catalog_cache_ttl", c.CatalogCacheTTL),
		slog.Duration("idempotency_ttl", c.IdempotencyTTL),
		slog.Duration("idempotency_pending_ttl", c.IdempotencyPendingTTL),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
	)
}

// MaskDSN formats a MySQL config with its password replaced by "***".
func MaskDSN(c *mysql.Config) string {
	cp := c.Clone()
	if cp.Passwd != "" {
		cp.Passwd = "***"
	}
	return cp.FormatDSN()
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// MigrationDSN returns the DSN for running migrations: the same database
// with multiStatements enabled, because one migration file may hold several
// statements (the service's own pool keeps it off to narrow SQL injection).
func MigrationDSN(c *mysql.Config) string {
	cp := c.Clone()
	cp.MultiStatements = true
	return cp.FormatDSN()
}

// ParseMySQLDSN parses a go-sql-driver DSN ("user:pass@tcp(host:3306)/db"),
// also accepting the "mysql://" prefix golang-migrate's CLI uses, and sets
// the options the service relies on.
func ParseMySQLDSN(dsn string, timeout time.Duration) (*mysql.Config, error) {
	dsn = strings.TrimPrefix(dsn, "mysql://")
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if c.DBName == "" {
		return nil, errors.New("names no database; add it after the slash, e.g. root@tcp(127.0.0.1:3306)/orders")
	}
	c.ParseTime = true
	c.Loc = time.UTC
	if c.Timeout == 0 {
		c.Timeout = timeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	return c, nil
}

// Error lists every configuration problem found, one per line.
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration (fix these environment variables):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap exposes the individual problems to errors.Is/As.
func (e *Error) Unwrap() []error { return e.Problems }

type loader struct {
	getenv func(string) string
	errs   []error
}

func (l *loader) fail(key, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (l *loader) str(key, def string) string {
	if v := strings.TrimSpace(l.getenv(key)); v != "" {
		return v
	}
	return def
}

func (l *loader) int(key string, def, lo, hi int) int {
	v := strings.TrimSpace(l.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(key, "%q is not a whole number between %d and %d", v, lo, hi)
		return def
	}
	return n
}

func (l *loader) duration(key string, def time.Duration) time.Duration {
	return l.durationMin(key, def, time.Millisecond)
}

func (l *loader) durationMin(key string, def, lo time.Duration) time.Duration {
	v := strings.TrimSpace(l.getenv(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		l.fail(key, "%q is not a duration of at least %s (write it like 500ms, 10s or 2m)", v, lo)
		return def
	}
	return d
}

func (l *loader) level(key string) slog.Level {
	v := strings.TrimSpace(l.getenv(key))
	if v == "" {
		return slog.LevelInfo
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		l.fail(key, "%q is not a log level; use debug, info, warn or error", v)
		return slog.LevelInfo
	}
	return lv
}

func (l *loader) mysql(key string, timeout time.Duration) *mysql.Config {
	v := strings.TrimSpace(l.getenv(key))
	if v == "" {
		l.fail(key, "is required, e.g. MYSQL_DSN='user:password@tcp(127.0.0.1:3306)/orders'")
		return nil
	}
	c, err := ParseMySQLDSN(v, timeout)
	if err != nil {
		// The DSN may contain a password: never echo it back.
		l.fail(key, "is not a valid MySQL DSN (%v); expected user:password@tcp(host:3306)/database", redactErr(err, v))
		return nil
	}
	return c
}

func redactErr(err error, secret string) string {
	return strings.ReplaceAll(err.Error(), secret, "<dsn>")
}

func (l *loader) redis(addrKey, passKey string, timeout time.Duration) *redis.Options {
	v := strings.TrimSpace(l.getenv(addrKey))
	if v == "" {
		l.fail(addrKey, "is required, e.g. REDIS_ADDR=127.0.0.1:6379 or redis://127.0.0.1:6379/2")
		return nil
	}
	var opts *redis.Options
	if strings.Contains(v, "://") {
		o, err := redis.ParseURL(v)
		if err != nil {
			l.fail(addrKey, "is not a valid Redis URL (%v); expected redis://[:password@]host:6379[/db]", redactErr(err, v))
			return nil
		}
		opts = o
	} else {
		if _, port, ok := strings.Cut(v, ":"); !ok || port == "" {
			l.fail(addrKey, "%q is not host:port (e.g. 127.0.0.1:6379)", v)
			return nil
		}
		opts = &redis.Options{Addr: v}
	}
	if p := l.getenv(passKey); p != "" {
		opts.Password = p
	}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	return opts
}

func (l *loader) jwt() JWT {
	j := JWT{
		Issuer:        strings.TrimSpace(l.getenv("JWT_ISSUER")),
		Audience:      strings.TrimSpace(l.getenv("JWT_AUDIENCE")),
		PublicKeyFile: strings.TrimSpace(l.getenv("JWT_PUBLIC_KEY_FILE")),
	}
	secret := l.getenv("JWT_SECRET")
	switch {
	case secret != "" && j.PublicKeyFile != "":
		l.fail("JWT_SECRET", "and JWT_PUBLIC_KEY_FILE are both set; set JWT_SECRET for HS256 or JWT_PUBLIC_KEY_FILE for RS256, not both")
	case secret == "" && j.PublicKeyFile == "":
		l.fail("JWT_SECRET", "is required (HS256), or set JWT_PUBLIC_KEY_FILE to a PEM RSA public key (RS256)")
	case secret != "":
		if len(secret) < MinSecretBytes {
			l.fail("JWT_SECRET", "is %d bytes; HS256 needs at least %d (RFC 7518 §3.2) — generate one with `openssl rand -hex 32`", len(secret), MinSecretBytes)
		}
		j.Secret = []byte(secret)
	default:
		key, err := readRSAPublicKey(j.PublicKeyFile)
		if err != nil {
			l.fail("JWT_PUBLIC_KEY_FILE", "%v", err)
		}
		j.PublicKey = key
	}
	if j.Issuer == "" {
		l.fail("JWT_ISSUER", "is required: tokens whose iss differs are rejected (e.g. JWT_ISSUER=https://auth.smp.vn)")
	}
	if j.Audience == "" {
		l.fail("JWT_AUDIENCE", "is required: tokens whose aud does not include it are rejected (e.g. JWT_AUDIENCE=order-svc)")
	}
	return j
}

func readRSAPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block; expected -----BEGIN PUBLIC KEY-----", path)
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s holds a %q PEM block; expected PUBLIC KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	key, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s is a %T, not an RSA public key", path, pub)
	}
	if key.N.BitLen() < 2048 {
		return nil, fmt.Errorf("%s is a %d-bit RSA key; use at least 2048 bits", path, key.N.BitLen())
	}
	return key, nil
}

// LoadDatabase reads only MYSQL_DSN (and DB_TIMEOUT): what `server migrate`
// needs, so migrations run without the HTTP and JWT settings.
func LoadDatabase(getenv func(string) string) (*mysql.Config, error) {
	l := loader{getenv: getenv}
	timeout := l.duration("DB_TIMEOUT", 3*time.Second)
	c := l.mysql("MYSQL_DSN", timeout)
	if len(l.errs) > 0 {
		return nil, &Error{Problems: l.errs}
	}
	return c, nil
}
