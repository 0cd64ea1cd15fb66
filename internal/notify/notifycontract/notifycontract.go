// Package notifycontract holds recorded contracts of the services package
// notify talks to — Slack incoming webhooks, PagerDuty's Events API v2,
// Grafana's annotations API and GitHub's create-issue endpoint — as local
// HTTP servers for tests. We cannot run those services, so each server
// checks every request against the service's documented contract (the
// page is cited on each server) and answers as the real API does: a
// request that breaks the contract gets the service's own error and is
// recorded as a violation, which fails the test at cleanup.
//
// A test scripts the answers it needs (Script) — a 429 with Retry-After, a
// revoked webhook's 404 — and reads back the requests that met the
// contract (Requests).
package notifycontract

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Answer is one scripted answer.
type Answer struct {
	Status int
	Header map[string]string
	Body   string
}

// Request is a request that met the contract.
type Request struct {
	Path   string
	Header http.Header
	// Body is the decoded JSON body.
	Body map[string]any
	// Raw is the body as sent.
	Raw []byte
}

// server is what the four contracts share: recording, scripting and
// reporting violations.
type server struct {
	*httptest.Server
	mu         sync.Mutex
	script     []Answer
	requests   []Request
	violations []string
	hits       int
	// success answers a request that met the contract (its decoded body),
	// when no answer is scripted. It runs with mu held.
	success func(body map[string]any) Answer
	// auth, when set, answers a request whose credentials the service
	// would refuse, as the service does, whether or not it broke the
	// contract otherwise.
	auth func(r *http.Request) (Answer, bool)
	// get, when set, answers GET requests (which have no body): the
	// answer, or what breaks the contract. Scripts do not apply to them,
	// and they are not among Requests.
	get func(r *http.Request) (Answer, []string)
}

// Script queues answers given to the next requests, in order, instead of
// the success answer; a contract violation is answered as the service
// would, whatever the script says.
func (s *server) Script(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, a...)
}

// Requests returns the requests that met the contract.
func (s *server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Hits counts every request, met the contract or not.
func (s *server) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func newServer(t testing.TB, name string, check func(r *http.Request, body map[string]any) []string, violation, success Answer) *server {
	s := &server{success: func(map[string]any) Answer { return success }}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && s.get != nil {
			s.serveGet(w, r, violation)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		var problems []string
		if err := json.Unmarshal(raw, &body); err != nil {
			problems = append(problems, "body is not a JSON object: "+err.Error())
		} else {
			problems = check(r, body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			problems = append(problems, fmt.Sprintf("Content-Type %q, want application/json", ct))
		}
		s.mu.Lock()
		s.hits++
		refused, unauthorized := Answer{}, false
		if s.auth != nil {
			refused, unauthorized = s.auth(r)
		}
		var a Answer
		switch {
		case unauthorized:
			a = refused // the service refuses credentials before it reads the body
		case len(problems) > 0:
			a = violation
		case len(s.script) > 0:
			a, s.script = s.script[0], s.script[1:]
		default:
			a = s.success(body)
		}
		if len(problems) > 0 {
			s.violations = append(s.violations, fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, strings.Join(problems, "; ")))
		} else {
			s.requests = append(s.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Raw: raw})
		}
		s.mu.Unlock()
		for k, v := range a.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
	}))
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, v := range s.violations {
			t.Errorf("%s contract violated: %s", name, v)
		}
	})
	return s
}

// serveGet answers a GET with s.get, after the credentials check.
func (s *server) serveGet(w http.ResponseWriter, r *http.Request, violation Answer) {
	s.mu.Lock()
	s.hits++
	refused, unauthorized := Answer{}, false
	if s.auth != nil {
		refused, unauthorized = s.auth(r)
	}
	s.mu.Unlock()
	a, problems := refused, []string(nil)
	if !unauthorized {
		a, problems = s.get(r)
	}
	if len(problems) > 0 {
		a = violation
		s.mu.Lock()
		s.violations = append(s.violations, fmt.Sprintf("%s %s: %s", r.Method, r.URL.String(), strings.Join(problems, "; ")))
		s.mu.Unlock()
	}
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}

// Violations returns the requests that broke the contract; tests that
// send a broken request on purpose read them (and the cleanup still
// reports them).
func (s *server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// str returns m[k] as a string and whether it is a non-empty one.
func str(m map[string]any, k string) (string, bool) {
	v, ok := m[k].(string)
	return v, ok && v != ""
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
