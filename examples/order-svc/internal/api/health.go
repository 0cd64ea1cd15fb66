package api

import (
	"context"
	"net/http"
	"sort"
	"time"
)

// readyTimeout bounds each dependency check of /ready.
const readyTimeout = time.Second

type healthBody struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// health is liveness: it depends on nothing but the process.
func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthBody{Status: "ok", Version: s.Version, Commit: s.Commit})
}

// Values of a readiness check; api/openapi.yaml lists them.
const (
	checkOK       = "ok"
	checkDown     = "down"
	checkDraining = "draining"
)

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// ready answers 200 only while every dependency answers and the server is
// not draining.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	body := readyBody{Status: "ready", Checks: map[string]string{}}
	status := http.StatusOK
	if s.Readiness.Draining() {
		body.Status, status = "draining", http.StatusServiceUnavailable
		body.Checks["shutdown"] = checkDraining
	}
	names := make([]string, 0, len(s.Checks))
	for n := range s.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := s.Checks[n].Ping(ctx)
		cancel()
		if err != nil {
			// /ready is unauthenticated and reachable by anyone who can reach
			// the pod: the body says only which dependency is down, the log
			// says why (addresses, driver errors).
			s.Log.WarnContext(r.Context(), "readiness check failed", "request_id", requestIDFrom(r.Context()), "check", n, "error", err.Error())
			body.Checks[n] = checkDown
			if status == http.StatusOK {
				body.Status, status = "not_ready", http.StatusServiceUnavailable
			}
			continue
		}
		body.Checks[n] = checkOK
	}
	writeJSON(w, status, body)
}
