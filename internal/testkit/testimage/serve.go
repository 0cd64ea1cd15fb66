package testimage

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"time"
)

// Serve starts the test server binary bin on a free 127.0.0.1 port with
// extra environment, waits until /ready answers, and returns its URL and a
// function that stops it. ctx bounds the wait for /ready (tests pass
// testctx.New(t): the test's own deadline, not a guess about the machine).
func Serve(ctx context.Context, bin string, env ...string) (string, func(), error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.CommandContext(context.WithoutCancel(ctx), bin)
	cmd.Env = append([]string{"PORT=" + strconv.Itoa(port)}, env...)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-done
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		select {
		case <-done:
			return "", nil, fmt.Errorf("%s exited before it was ready", bin)
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("%s not ready: %w", bin, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TrafficEvery is how often Traffic sends a request: 10 a second, which
// gives the gate's shortest windows in the tests (4 s of traffic, scraped
// every 500 ms) 40 requests to judge. It was every 20 ms: a test server
// under traffic and its race-instrumented sender then used ~0.1 CPU-s a
// second (measured, 20 s of traffic: 1.1-1.2 CPU-s sender, 0.7-1.2
// server; every 200 ms: 0.14 and 0.26-0.30), and the gate watch tests
// keep two servers under traffic for a minute.
const TrafficEvery = 100 * time.Millisecond

// Traffic sends the API request the metric gate counts (an authenticated
// GET /api/v1/catalog/services) to url every TrafficEvery until stop is
// called; stop waits for the sender to end.
func Traffic(url string) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-quit:
				return
			case <-time.After(TrafficEvery):
			}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/api/v1/catalog/services", nil)
			req.Header.Set("Authorization", "Bearer t")
			if resp, err := c.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		}
	}()
	return func() { close(quit); <-done }
}
