package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenIsSignedHS256(t *testing.T) {
	var out bytes.Buffer
	if err := token([]string{"-secret", "s3cret", "-iss", "i", "-aud", "a", "-sub", "bench"}, &out); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(out.String()), ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", out.String())
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); parts[2] != want {
		t.Errorf("signature %s, want %s", parts[2], want)
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(claims, &c); err != nil || c["iss"] != "i" || c["aud"] != "a" || c["sub"] != "bench" || c["exp"] == nil {
		t.Errorf("claims %s (%v)", claims, err)
	}
}

// syncBuffer is written by the bare server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunAgainstTheBareHandlerAndReport(t *testing.T) {
	dir := t.TempDir()
	get, post := filepath.Join(dir, "get.json"), filepath.Join(dir, "post.json")
	if err := os.WriteFile(get, []byte(`{"items":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(post, []byte(`{"id":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- bare(ctx, []string{"-addr", "127.0.0.1:0", "-get", get, "-post", post}, &log) }()
	var addr string
	// Up to a minute: a loaded machine starts it late; it says when.
	for i := 0; i < 6000 && addr == ""; i++ {
		if _, a, ok := strings.Cut(log.String(), "listening on "); ok {
			addr = strings.TrimSpace(a)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatal("bare handler did not start")
	}

	var results bytes.Buffer
	if err := run(ctx, []string{"-name", "GET x", "-url", "http://" + addr + "/", "-baseline", "http://" + addr + "/b",
		"-duration", "2s", "-rounds", "2", "-c", "2", "-status", "200"}, &results); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"-name", "POST y", "-url", "http://" + addr + "/", "-method", "POST", "-body", `{"a":1}`,
		"-idempotent", "-token", "t", "-duration", "1s", "-c", "2", "-status", "201"}, &results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(results.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d result lines, want 3 (service, bare, single):\n%s", len(lines), results.String())
	}
	for _, line := range lines {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Requests == 0 || r.Errors != 0 || r.RPS <= 0 || r.P99ms < r.P50ms {
			t.Errorf("result %+v", r)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("bare: %v", err)
	}

	file := filepath.Join(dir, "results.jsonl")
	if err := os.WriteFile(file, results.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := report([]string{file}, &table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "| GET x service |") || !strings.Contains(table.String(), "GET x: service/bare throughput ratio") {
		t.Errorf("report:\n%s", table.String())
	}
}

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1/", "http://example.com/", "http://192.168.1.1:8080/"} {
		if err := run(context.Background(), []string{"-url", u, "-duration", "10ms"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: err = %v", u, err)
		}
	}
}

func TestBadArguments(t *testing.T) {
	if err := report(nil, &bytes.Buffer{}); err == nil {
		t.Error("report without a file succeeded")
	}
	if err := report([]string{"/does/not/exist"}, &bytes.Buffer{}); err == nil {
		t.Error("report of a missing file succeeded")
	}
	if err := bare(context.Background(), []string{"-get", "/does/not/exist"}, &bytes.Buffer{}); err == nil {
		t.Error("bare with a missing body file succeeded")
	}
	if err := run(context.Background(), []string{"-url", "://bad"}, &bytes.Buffer{}); err == nil {
		t.Error("run with a bad URL succeeded")
	}
	if err := run(context.Background(), []string{"-url", "http://127.0.0.1:1/", "-rounds", "0"}, &bytes.Buffer{}); err == nil {
		t.Error("run with 0 rounds succeeded")
	}
}
