// Package testenv gives tests the real dependencies order-svc runs
// against: a fresh MySQL database per test (created, migrated, dropped),
// a Redis key prefix per test (its keys deleted afterwards), and signed
// JWTs. A dependency that cannot be reached fails the test — it is never
// skipped — with a message saying how to start or point at it.
//
// TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/) names the server,
// TEST_REDIS_ADDR (default 127.0.0.1:6379) the Redis.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/config"
	"github.com/smp/order-svc/migrations"
)

// Defaults for the local MariaDB and Redis.
const (
	DefaultMySQLDSN  = "root@tcp(127.0.0.1:3306)/"
	DefaultRedisAddr = "127.0.0.1:6379"
)

// JWT settings tests sign tokens with.
const (
	Secret   = "test-secret-0123456789abcdef0123456789abcdef" // gitleaks:allow (signs test tokens only)
	Issuer   = "https://auth.test.smp.vn"
	Audience = "order-svc"
)

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// ServerConfig is the MySQL server tests use, without a database.
func ServerConfig(t testing.TB) *mysql.Config {
	t.Helper()
	c, err := mysql.ParseDSN(env("TEST_MYSQL_DSN", DefaultMySQLDSN))
	if err != nil {
		t.Fatalf("TEST_MYSQL_DSN is not a MySQL DSN: %v", err)
	}
	c.DBName = ""
	c.ParseTime = true
	c.Loc = time.UTC
	c.Timeout = 5 * time.Second
	return c
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Database is a test's own database.
type Database struct {
	// DB is a pool on the database (multiStatements off, as the service).
	DB *sql.DB
	// Config is its DSN; Config.DBName is the database name.
	Config *mysql.Config
}

// DSN formats the database's DSN.
func (d *Database) DSN() string { return d.Config.FormatDSN() }

// NewDatabase creates an empty database ordersvc_test_<random> and drops
// it when the test ends.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	srv := ServerConfig(t)
	admin, err := sql.Open("mysql", srv.FormatDSN())
	if err != nil {
		t.Fatalf("open MySQL %s: %v", srv.Addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		t.Fatalf("MySQL at %s is not reachable (%v): start MariaDB/MySQL there or set TEST_MYSQL_DSN", srv.Addr, err)
	}
	name := "ordersvc_test_" + randomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		_ = admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	cfg := srv.Clone()
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open database %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		_ = admin.Close()
	})
	return &Database{DB: db, Config: cfg}
}

// Runner opens a migration runner on d (its own connection pool, with
// multiStatements, closed when the test ends).
func (d *Database) Runner(t testing.TB) *migrations.Runner {
	t.Helper()
	mdb, err := sql.Open("mysql", config.MigrationDSN(d.Config))
	if err != nil {
		t.Fatalf("open migration connection: %v", err)
	}
	r, err := migrations.New(mdb)
	if err != nil {
		t.Fatalf("new migration runner: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// NewMigratedDatabase is NewDatabase with every migration applied.
func NewMigratedDatabase(t testing.TB) *Database {
	t.Helper()
	d := NewDatabase(t)
	if err := d.Runner(t).Up(context.Background()); err != nil {
		t.Fatalf("migrate %s up: %v", d.Config.DBName, err)
	}
	return d
}

// Redis is a client and a key prefix owned by one test.
type Redis struct {
	Client *redis.Client
	Prefix string
	Addr   string
}

// NewRedis returns a client and a fresh key prefix; every key under the
// prefix is deleted when the test ends.
func NewRedis(t testing.TB) *Redis {
	t.Helper()
	addr := env("TEST_REDIS_ADDR", DefaultRedisAddr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		t.Fatalf("Redis at %s is not reachable (%v): start redis-server there or set TEST_REDIS_ADDR", addr, err)
	}
	prefix := "ordersvc-test:" + randomSuffix() + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean Redis keys %s*: %v", prefix, err)
		}
		_ = rdb.Close()
	})
	return &Redis{Client: rdb, Prefix: prefix, Addr: addr}
}

// Claims are the claims of a test token.
type Claims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope,omitempty"`
}

// ValidClaims returns claims the service accepts for subject.
func ValidClaims(subject string) Claims {
	now := time.Now()
	return Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   subject,
		Issuer:    Issuer,
		Audience:  jwt.ClaimStrings{Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}
}

// Sign signs claims with HS256 and key.
func Sign(t testing.TB, key []byte, c Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return s
}

// Token returns a valid HS256 token for subject with the given scope.
func Token(t testing.TB, subject, scope string) string {
	t.Helper()
	c := ValidClaims(subject)
	c.Scope = scope
	return Sign(t, []byte(Secret), c)
}
