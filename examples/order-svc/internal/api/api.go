// Package api is order-svc's HTTP JSON API: the router, its handlers and
// middleware. It depends on small interfaces declared here, implemented by
// the store, cache, idempotency and auth packages; api/openapi.yaml
// describes every route, and the integration suite validates each response
// against it.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/smp/order-svc/internal/auth"
	"github.com/smp/order-svc/internal/catalog"
	"github.com/smp/order-svc/internal/idempotency"
	"github.com/smp/order-svc/internal/metrics"
	"github.com/smp/order-svc/internal/order"
)

// Store is the persistent storage the handlers need.
type Store interface {
	ListServices(ctx context.Context, page, size int) (catalog.Page, error)
	UpsertService(ctx context.Context, svc catalog.Service) (catalog.Service, bool, error)
	CreateOrder(ctx context.Context, n order.New) (order.Order, error)
	GetOrder(ctx context.Context, customerID string, id uint64) (order.Order, error)
	OrderByIdempotencyKey(ctx context.Context, customerID, key string) (order.Order, error)
}

// PageCache caches rendered catalog pages (see package catalogcache).
type PageCache interface {
	// Lookup returns the current generation and its cached page, or
	// catalogcache.ErrMiss with the generation to store the page under.
	Lookup(ctx context.Context, page, size int) (int64, []byte, error)
	Put(ctx context.Context, gen int64, page, size int, body []byte) error
	Invalidate(ctx context.Context) error
}

// Idempotency records Idempotency-Keys (see package idempotency). The
// handler calls Complete and Release with a context that is not cancelled
// with the request, so an implementation must bound them itself.
type Idempotency interface {
	Claim(ctx context.Context, scope, key, hash string) (*idempotency.Response, error)
	Complete(ctx context.Context, scope, key, hash string, resp idempotency.Response) error
	Release(ctx context.Context, scope, key string) error
}

// Verifier authenticates bearer tokens.
type Verifier interface {
	Verify(token string) (auth.Principal, error)
}

// Checker is a dependency readiness depends on.
type Checker interface {
	Ping(ctx context.Context) error
}

// Deps are what the API is built from. All fields are required except
// Checks (readiness then depends only on the shutdown flag).
type Deps struct {
	Log          *slog.Logger
	Store        Store
	Cache        PageCache
	Idempotency  Idempotency
	Verifier     Verifier
	Metrics      *metrics.Metrics
	Readiness    *Readiness
	Checks       map[string]Checker
	Version      string
	Commit       string
	MaxBodyBytes int64
}

// ScopeCatalogWrite lets a token change the catalog.
const ScopeCatalogWrite = "catalog:write"

// Readiness is the shutdown flag /ready reports; it starts ready.
type Readiness struct{ draining atomic.Bool }

// Drain makes /ready answer 503 from now on.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Draining reports whether Drain was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

type server struct {
	Deps
	mux *http.ServeMux
}

// New returns the service's root handler.
func New(d Deps) http.Handler {
	s := &server{Deps: d, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /ready", s.ready)
	s.mux.Handle("GET /metrics", d.Metrics.Handler())
	s.mux.HandleFunc("GET /api/v1/catalog/services", s.authenticated(s.listServices))
	s.mux.HandleFunc("PUT /api/v1/catalog/services/{id}", s.authenticated(s.putService))
	s.mux.HandleFunc("POST /api/v1/orders", s.authenticated(s.createOrder))
	s.mux.HandleFunc("GET /api/v1/orders/{id}", s.authenticated(s.getOrder))
	s.mux.HandleFunc("POST /api/v1/test/echo", s.echo)
	return s.requestID(s.recoverPanics(s.observe(http.HandlerFunc(s.route))))
}

// route dispatches to the mux, answering unknown routes and wrong methods
// with a JSON error instead of the mux's plain-text one.
func (s *server) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		h, _ := s.mux.Handler(r)
		probe := &probeWriter{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(w, r, http.StatusMethodNotAllowed, codeMethodNotAllowed,
				"method "+r.Method+" is not allowed here; allowed: "+probe.header.Get("Allow"))
			return
		}
		writeError(w, r, http.StatusNotFound, codeNotFound, "no route for "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// probeWriter captures what the mux's own 404/405 handler would write.
type probeWriter struct {
	header http.Header
	code   int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.code = code }
