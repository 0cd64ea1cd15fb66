package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secret = "0123456789abcdef0123456789abcdef-secret" // gitleaks:allow (a test key, signs test tokens only)

func base() map[string]string {
	return map[string]string{
		"MYSQL_DSN":    "svc:db-pass-123@tcp(127.0.0.1:3306)/orders",
		"REDIS_ADDR":   "127.0.0.1:6379",
		"JWT_SECRET":   secret,
		"JWT_ISSUER":   "https://auth.smp.vn",
		"JWT_AUDIENCE": "order-svc",
	}
}

func load(env map[string]string) (Config, error) {
	return Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.ReadHeaderTimeout != 5*time.Second || c.WriteTimeout != 15*time.Second ||
		c.ShutdownDelay != 0 || c.ShutdownTimeout != 20*time.Second || c.MaxBodyBytes != 1<<20 ||
		c.RedisPrefix != "order-svc:" || c.LogLevel != slog.LevelInfo || c.IdempotencyTTL != 24*time.Hour ||
		c.IdempotencyPendingTTL != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if !c.MySQL.ParseTime || c.MySQL.Loc != time.UTC || c.MySQL.DBName != "orders" || c.MySQL.MultiStatements {
		t.Errorf("mysql config: %+v", c.MySQL)
	}
	if c.JWT.Algorithm() != "HS256" || string(c.JWT.Secret) != secret {
		t.Errorf("jwt: %+v", c.JWT)
	}
	if !strings.Contains(MigrationDSN(c.MySQL), "multiStatements=true") {
		t.Errorf("migration DSN %s lacks multiStatements", MigrationDSN(c.MySQL))
	}
}

func TestOverrides(t *testing.T) {
	env := base()
	env["PORT"] = "9090"
	env["MYSQL_DSN"] = "mysql://root@tcp(db:3306)/orders_dev?timeout=2s"
	env["REDIS_ADDR"] = "redis://:redis-pass@cache:6380/3"
	env["REDIS_PREFIX"] = "dev:order-svc:"
	env["SHUTDOWN_DELAY"] = "5s"
	env["LOG_LEVEL"] = "debug"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9090 || c.MySQL.Addr != "db:3306" || c.MySQL.Timeout != 2*time.Second || c.Redis.Addr != "cache:6380" ||
		c.Redis.DB != 3 || c.Redis.Password != "redis-pass" || c.RedisPrefix != "dev:order-svc:" ||
		c.ShutdownDelay != 5*time.Second || c.LogLevel != slog.LevelDebug {
		t.Errorf("overrides not applied: %+v mysql=%+v redis=%+v", c, c.MySQL, c.Redis)
	}
}

func TestEveryProblemIsReportedWithItsVariable(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"nothing set", map[string]string{"MYSQL_DSN": "", "REDIS_ADDR": "", "JWT_SECRET": "", "JWT_ISSUER": "", "JWT_AUDIENCE": ""},
			[]string{"MYSQL_DSN: is required", "REDIS_ADDR: is required", "JWT_SECRET: is required", "JWT_ISSUER: is required", "JWT_AUDIENCE: is required"}},
		{"a bad port", map[string]string{"PORT": "http"}, []string{`PORT: "http" is not a whole number between 0 and 65535`}},
		{"a port out of range", map[string]string{"PORT": "70000"}, []string{"PORT:"}},
		{"a bad duration", map[string]string{"HTTP_WRITE_TIMEOUT": "15"}, []string{`HTTP_WRITE_TIMEOUT: "15" is not a duration`}},
		{"a negative delay", map[string]string{"SHUTDOWN_DELAY": "-1s"}, []string{"SHUTDOWN_DELAY:"}},
		{"a delay longer than the timeout", map[string]string{"SHUTDOWN_DELAY": "30s"}, []string{"SHUTDOWN_DELAY: must be shorter than SHUTDOWN_TIMEOUT"}},
		{"a bad log level", map[string]string{"LOG_LEVEL": "loud"}, []string{"LOG_LEVEL:"}},
		{"a DSN without a database", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:3306)/"}, []string{"MYSQL_DSN: is not a valid MySQL DSN (names no database"}},
		{"a DSN that does not parse", map[string]string{"MYSQL_DSN": "user:secretpw@tcp(127.0.0.1:3306"}, []string{"MYSQL_DSN: is not a valid MySQL DSN"}},
		{"a Redis address without a port", map[string]string{"REDIS_ADDR": "localhost"}, []string{`REDIS_ADDR: "localhost" is not host:port`}},
		{"a bad Redis URL", map[string]string{"REDIS_ADDR": "redis://h:6379/notanumber"}, []string{"REDIS_ADDR: is not a valid Redis URL"}},
		{"a short secret", map[string]string{"JWT_SECRET": "short"}, []string{"JWT_SECRET: is 5 bytes; HS256 needs at least 32"}},
		{"both secret and key file", map[string]string{"JWT_PUBLIC_KEY_FILE": "/k.pem"}, []string{"JWT_SECRET: and JWT_PUBLIC_KEY_FILE are both set"}},
		{"a missing key file", map[string]string{"JWT_SECRET": "", "JWT_PUBLIC_KEY_FILE": "/does/not/exist.pem"}, []string{"JWT_PUBLIC_KEY_FILE: read /does/not/exist.pem"}},
		{"a pending TTL shorter than a request", map[string]string{"IDEMPOTENCY_PENDING_TTL": "5s"}, []string{"IDEMPOTENCY_PENDING_TTL: must be longer than one request's database and Redis budget, 2×DB_TIMEOUT + 2×REDIS_TIMEOUT = 8s"}},
		{"a pending TTL longer than the TTL", map[string]string{"IDEMPOTENCY_PENDING_TTL": "2h", "IDEMPOTENCY_TTL": "1h"}, []string{"IDEMPOTENCY_PENDING_TTL: must not be longer than IDEMPOTENCY_TTL (1h0m0s)"}},
		{"a body limit too small", map[string]string{"MAX_BODY_BYTES": "10"}, []string{"MAX_BODY_BYTES:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := base()
			for k, v := range c.set {
				env[k] = v
			}
			_, err := load(env)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error", err)
			}
			if len(ce.Problems) != len(c.want) {
				t.Errorf("%d problems, want %d:\n%v", len(ce.Problems), len(c.want), err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, s := range []string{"secretpw", "db-pass-123", secret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error leaks a secret %q:\n%v", s, err)
				}
			}
		})
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	env := base()
	env["REDIS_PASSWORD"] = "redis-pass-456"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("starting", "config", c)
	out := b.String()
	for _, s := range []string{"db-pass-123", secret, "redis-pass-456"} {
		if strings.Contains(out, s) {
			t.Errorf("log leaks %q: %s", s, out)
		}
	}
	for _, want := range []string{`svc:***@tcp(127.0.0.1:3306)/orders`, `"jwt_secret":"***"`, `"redis_password":"***"`, `"port":8080`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
	if got := (Config{}).LogValue().String(); !strings.Contains(got, "<unset>") {
		t.Errorf("empty config LogValue = %s", got)
	}
}

func writeKey(t *testing.T, bits int, pemType string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	var der []byte
	if pemType == "RSA PUBLIC KEY" {
		der = x509.MarshalPKCS1PublicKey(&k.PublicKey)
	} else {
		der, err = x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("key-%d.pem", bits))
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRS256PublicKeyFile(t *testing.T) {
	for _, typ := range []string{"PUBLIC KEY", "RSA PUBLIC KEY"} {
		env := base()
		env["JWT_SECRET"] = ""
		env["JWT_PUBLIC_KEY_FILE"] = writeKey(t, 2048, typ)
		c, err := load(env)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if c.JWT.Algorithm() != "RS256" || c.JWT.PublicKey == nil {
			t.Errorf("%s: jwt = %+v", typ, c.JWT)
		}
	}
	bad := map[string]string{
		"a 1024-bit key":     writeKey(t, 1024, "PUBLIC KEY"),
		"not PEM":            writeFile(t, "hello"),
		"a private key PEM":  writeFile(t, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))),
		"a corrupt key body": writeFile(t, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))),
	}
	for name, path := range bad {
		env := base()
		env["JWT_SECRET"] = ""
		env["JWT_PUBLIC_KEY_FILE"] = path
		if _, err := load(env); err == nil || !strings.Contains(err.Error(), "JWT_PUBLIC_KEY_FILE") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func writeFile(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.pem")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDatabase(t *testing.T) {
	c, err := LoadDatabase(func(k string) string { return base()[k] })
	if err != nil || c.DBName != "orders" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := LoadDatabase(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "MYSQL_DSN: is required") {
		t.Errorf("err = %v", err)
	}
	if got := MaskDSN(c); !strings.Contains(got, "svc:***@") {
		t.Errorf("MaskDSN = %s", got)
	}
}
