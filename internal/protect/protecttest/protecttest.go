// Package protecttest serves a RECORDED CONTRACT of the GitHub REST API for
// tests of repo protect: the request/response pairs in
// internal/protect/protecttest/testdata/github-contract/<scenario>.json
// (embedded, so tests of any package replay them from any directory), transcribed from
// the API reference (version 2022-11-28) for the endpoints protect calls:
// the repository, branch protection, deployment environments and their
// branch policies, the names of repository, organization and environment
// secrets, users and teams. The server replays a scenario in order and
// fails the test on any request the contract does not expect — wrong
// method, path and query, body, headers, or one too many — and on recorded
// requests never made. It is not the real GitHub.
package protecttest

import (
	"embed"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// APIVersion is the X-GitHub-Api-Version the contract was transcribed for.
const APIVersion = "2022-11-28"

// contract holds the recorded scenarios.
//
//go:embed testdata/github-contract/*.json
var contract embed.FS

// Serve starts a server replaying scenario, expecting requests to carry
// token, and returns its URL; it is closed and checked when t ends.
func Serve(t *testing.T, scenario, token string) string {
	t.Helper()
	raw, err := contract.ReadFile("testdata/github-contract/" + scenario + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Exchanges []exchange `json:"exchanges"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("contract %s: %v", scenario, err)
	}
	g := &recordedGitHub{t: t, name: scenario, ex: file.Exchanges, token: token}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.next != len(g.ex) {
			t.Errorf("contract %s: %d of %d recorded requests were never made; next: %s %s",
				scenario, len(g.ex)-g.next, len(g.ex), g.ex[g.next].Request.Method, g.ex[g.next].Request.Path)
		}
	})
	return srv.URL
}

type exchange struct {
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	} `json:"request"`
	Response struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	} `json:"response"`
}

type recordedGitHub struct {
	t     *testing.T
	name  string
	token string
	mu    sync.Mutex
	next  int
	ex    []exchange
}

func (g *recordedGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(format string, args ...any) {
		g.t.Errorf("contract %s, request %d: "+format, append([]any{g.name, g.next + 1}, args...)...)
		http.Error(w, "not in the recorded contract", http.StatusTeapot)
	}
	if g.next >= len(g.ex) {
		fail("unexpected %s %s after the last recorded exchange", r.Method, r.URL.Path)
		return
	}
	e := g.ex[g.next]
	g.next++
	switch {
	case r.Header.Get("Authorization") != "Bearer "+g.token:
		fail("Authorization header is not the bearer token")
		return
	case r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != APIVersion:
		fail("missing the Accept or X-GitHub-Api-Version header")
		return
	}
	// The recorded path carries the query when the request has one
	// (?per_page=100&page=1): a list read without it would see one page.
	path := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	if r.Method != e.Request.Method || path != e.Request.Path {
		fail("got %s %s, recorded %s %s", r.Method, path, e.Request.Method, e.Request.Path)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(e.Request.Body) > 0 {
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			fail("body is not JSON: %v", err)
			return
		}
		_ = json.Unmarshal(e.Request.Body, &want)
		if !reflect.DeepEqual(got, want) {
			fail("%s %s body\n got %s\nwant %s", r.Method, r.URL.Path, body, e.Request.Body)
			return
		}
	} else if len(strings.TrimSpace(string(body))) > 0 {
		fail("%s %s has a body the contract does not: %s", r.Method, r.URL.Path, body)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Response.Status)
	_, _ = w.Write(e.Response.Body)
}
