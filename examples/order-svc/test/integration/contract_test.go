//go:build integration

// Package integration runs order-svc's real router over real TCP against
// real MariaDB and Redis, and validates every response it receives against
// api/openapi.yaml, so the spec and the code cannot drift apart.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// spec is api/openapi.yaml, loaded and validated once.
type spec struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool // "METHOD /path/{template} STATUS"
}

var (
	specOnce sync.Once
	theSpec  *spec
	specErr  error
)

func loadSpec(t *testing.T) *spec {
	t.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(filepath.Join("..", "..", "api", "openapi.yaml"))
		if err != nil {
			specErr = fmt.Errorf("load api/openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		// Match paths on any host: the test server listens on a random port.
		doc.Servers = nil
		r, err := legacy.NewRouter(doc)
		if err != nil {
			specErr = fmt.Errorf("build router from api/openapi.yaml: %w", err)
			return
		}
		theSpec = &spec{doc: doc, router: r, seen: map[string]bool{}}
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return theSpec
}

// validate checks one exchange against the spec: a documented route must
// answer a documented status with a body matching its schema; a request
// to an undocumented route must still get the documented Error body.
func (s *spec) validate(req *http.Request, resp *http.Response, body []byte) error {
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s is not in the spec but answered %d", req.Method, req.URL.Path, resp.StatusCode)
		}
		return s.validateErrorBody(body)
	}
	s.mu.Lock()
	s.seen[fmt.Sprintf("%s %s %d", route.Method, route.Path, resp.StatusCode)] = true
	s.mu.Unlock()
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s → %d does not match api/openapi.yaml: %w\nbody: %.500s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return nil
}

func (s *spec) validateErrorBody(body []byte) error {
	var v any
	if err := jsonUnmarshal(body, &v); err != nil {
		return fmt.Errorf("error body is not JSON: %w: %s", err, body)
	}
	if err := s.doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("error body does not match the Error schema: %w: %s", err, body)
	}
	return nil
}

// missing lists documented (operation, status) pairs no test exercised.
func (s *spec) missing() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				if !s.seen[fmt.Sprintf("%s %s %s", method, path, code)] {
					out = append(out, fmt.Sprintf("%s %s %s", method, path, code))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// contractTransport validates every exchange that goes through it.
type contractTransport struct {
	t    *testing.T
	spec *spec
	base http.RoundTripper
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	// The validator may read the request body; give it a fresh copy.
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	if err := c.spec.validate(vreq, resp, body); err != nil {
		c.t.Errorf("contract: %v", err)
	}
	return resp, nil
}

func lines(s []string) string { return "  " + strings.Join(s, "\n  ") }
