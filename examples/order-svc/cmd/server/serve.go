package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/smp/order-svc/internal/api"
	"github.com/smp/order-svc/internal/auth"
	"github.com/smp/order-svc/internal/catalogcache"
	"github.com/smp/order-svc/internal/config"
	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/metrics"
	"github.com/smp/order-svc/internal/store"
)

// serve runs the API until ctx is cancelled (SIGTERM/SIGINT), then drains:
// /ready turns 503 at once, the listener keeps serving for ShutdownDelay so
// load balancers can stop routing, and in-flight requests get up to
// ShutdownTimeout to finish.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return usageError{err}
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("service", "order-svc", "version", version)
	log.Info("starting", "commit", commit, "config", cfg)

	connector, err := mysql.NewConnector(cfg.MySQL)
	if err != nil {
		return usageError{fmt.Errorf("MYSQL_DSN: %w", err)}
	}
	db := sql.OpenDB(connector)
	defer db.Close() //nolint:errcheck // closing on exit
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)

	redis.SetLogger(redisLogger{log})
	rdb := redis.NewClient(cfg.Redis)
	defer rdb.Close() //nolint:errcheck // closing on exit

	st := store.New(db, cfg.DBTimeout)
	cache := catalogcache.New(rdb, cfg.RedisPrefix, cfg.CatalogCacheTTL, cfg.RedisTimeout)
	// Dependencies may still be starting; readiness reports them until they answer.
	if err := st.Ping(ctx); err != nil {
		log.Warn("mysql not reachable yet; /ready stays 503 until it is", "error", err.Error())
	}
	if err := cache.Ping(ctx); err != nil {
		log.Warn("redis not reachable yet; /ready stays 503 until it is", "error", err.Error())
	}

	var verifier *auth.Verifier
	if cfg.JWT.PublicKey != nil {
		verifier = auth.NewRS256(cfg.JWT.PublicKey, cfg.JWT.Issuer, cfg.JWT.Audience)
	} else {
		verifier = auth.NewHS256(cfg.JWT.Secret, cfg.JWT.Issuer, cfg.JWT.Audience)
	}
	idem := idempotency.New(rdb, cfg.RedisPrefix, cfg.IdempotencyTTL, cfg.RedisTimeout,
		idempotency.WithPendingTTL(cfg.IdempotencyPendingTTL))
	readiness := &api.Readiness{}
	handler := api.New(api.Deps{
		Log:          log,
		Store:        st,
		Cache:        cache,
		Idempotency:  idem,
		Verifier:     verifier,
		Metrics:      metrics.New(version, commit),
		Readiness:    readiness,
		Checks:       map[string]api.Checker{"mysql": st, "redis": cache},
		Version:      version,
		Commit:       commit,
		MaxBodyBytes: cfg.MaxBodyBytes,
	})

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	log.Info("listening", "addr", ln.Addr().String())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	readiness.Drain()
	log.Info("shutting down: readiness is now false", "delay", cfg.ShutdownDelay, "timeout", cfg.ShutdownTimeout)
	time.Sleep(cfg.ShutdownDelay)
	// ctx is already done; the drain gets its own budget.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain in-flight requests: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// redisLogger sends go-redis's internal messages (pool dial failures) to
// the JSON log instead of a plain line on stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
