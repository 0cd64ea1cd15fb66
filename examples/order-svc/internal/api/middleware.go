package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/smp/order-svc/internal/auth"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-ID"

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// validRequestID accepts a caller's id only if it is short and printable,
// so it is safe to log and echo back.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as the net/http docs do
					panic(v)
				}
				s.Log.ErrorContext(r.Context(), "panic serving request", "request_id", requestIDFrom(r.Context()),
					"method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, r, http.StatusInternalServerError, codeInternal, "internal error; quote the request id when reporting it")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// observe logs and measures every request. It must directly wrap the
// handler that calls the mux: the mux stores the matched pattern on this
// very *http.Request.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		s.Metrics.Observe(r.Method, r.Pattern, sw.Status(), d)
		level := slog.LevelInfo
		if sw.Status() >= 500 {
			level = slog.LevelError
		}
		if s.Log.Enabled(r.Context(), level) {
			s.Log.LogAttrs(r.Context(), level, "request",
				slog.String("request_id", requestIDFrom(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", r.Pattern),
				slog.Int("status", sw.Status()),
				slog.Duration("duration", d))
		}
	})
}

// authenticated runs h only for a request with a valid bearer token.
func (s *server) authenticated(h func(http.ResponseWriter, *http.Request, auth.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.Log.InfoContext(r.Context(), "rejected token", "request_id", requestIDFrom(r.Context()), "reason", err.Error())
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			// The reason stays in the log: telling a caller why a forged
			// token failed helps only the forger.
			writeError(w, r, http.StatusUnauthorized, codeUnauthorized,
				"a valid bearer token is required: send Authorization: Bearer <JWT> signed for this service")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)), p)
	}
}

func (s *server) authenticate(r *http.Request) (auth.Principal, error) {
	tok, err := auth.FromHeader(r.Header.Get("Authorization"))
	if err != nil {
		return auth.Principal{}, err
	}
	p, err := s.Verifier.Verify(tok)
	if err != nil {
		return auth.Principal{}, err
	}
	if p.Subject == "" {
		return auth.Principal{}, errors.New("empty subject")
	}
	return p, nil
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status is the code written, 200 if the handler wrote nothing.
func (w *statusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
