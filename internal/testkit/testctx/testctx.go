// Package testctx gives tests a context bounded by the test binary's own
// deadline (go test -timeout) instead of a fixed guess.
//
// A fixed timeout inside a test ("this build takes at most 3 minutes") is a
// claim about the machine: it holds on a warm, quiet one and fails on a cold
// or loaded one, where a first `go build` of a test server can take longer
// under parallel suites. The only limit a test can honestly know is the one
// `go test -timeout` sets, so every build and wait in the tests uses it. A
// little of it is kept back (Grace) so that a wait that runs out still fails
// the test with its own message, before the test binary panics with a
// goroutine dump.
package testctx

import (
	"context"
	"flag"
	"testing"
	"time"
)

// Grace is how much of the remaining time before the test binary's
// deadline is kept back for reporting: a tenth of it, at most a minute.
func Grace(remaining time.Duration) time.Duration {
	return min(remaining/10, time.Minute)
}

// New returns t's context (cancelled when t ends) bounded by the test
// binary's deadline less Grace. Without a deadline (-timeout 0) it is only
// bounded by t's end.
func New(t testing.TB) context.Context {
	t.Helper()
	ctx := t.Context()
	if d, ok := deadline(t); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-Grace(time.Until(d))))
		t.Cleanup(cancel)
	}
	return ctx
}

// Main returns a context for work done once per test binary, outside any
// one test (a TestMain or a sync.Once build shared by tests), bounded by the
// binary's -timeout less Grace. Call it after flag.Parse (m.Run parses
// flags; a TestMain that needs the context first calls flag.Parse itself).
func Main() (context.Context, context.CancelFunc) {
	if d, ok := binaryDeadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-Grace(time.Until(d))))
	}
	return context.WithCancel(context.Background())
}

func deadline(t testing.TB) (time.Time, bool) {
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return dt.Deadline()
	}
	return binaryDeadline()
}

// start is when this test binary started, as close as a package variable
// gets to the moment `go test` starts counting -timeout.
var start = time.Now()

func binaryDeadline() (time.Time, bool) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return time.Time{}, false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return time.Time{}, false
	}
	d, _ := g.Get().(time.Duration)
	if d <= 0 {
		return time.Time{}, false
	}
	return start.Add(d), true
}

// progressEvery is how often a wait that lasts says what it waits on.
var progressEvery = time.Minute

// A wait that lasts polls less: after slowAfter, at most every slowPoll. A
// condition not met in a minute is rarely met in the next 50 ms, and a wait
// stuck at 50 ms until the test's deadline takes the CPU the other suites
// need (a Rollout read 20 times a second for 39 min in one CI run, where
// the demo beside it then timed out).
var slowAfter, slowPoll = time.Minute, time.Second

// Eventually polls cond every interval until it returns nil, and fails t
// with cond's last error, what it waited for and how long, when t's context
// (New) ends first. It replaces "wait at most N seconds" loops: how long a
// daemon takes to start on a cold, loaded machine is not something a test
// can know, only how long it may run at all.
//
// A wait that lasts logs cond's last error each minute: a test stopped from
// outside (a timeout, SIGQUIT) then says what it was waiting on, not only
// where. After a minute it polls at most once a second.
func Eventually(t testing.TB, interval time.Duration, what string, cond func() error) {
	t.Helper()
	ctx := New(t)
	start := time.Now()
	next := start.Add(progressEvery)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(next) {
			t.Logf("%s: still waiting after %s: %v", what, time.Since(start).Round(time.Second), err)
			next = next.Add(progressEvery)
		}
		if time.Since(start) > slowAfter {
			interval = max(interval, slowPoll)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %s (the test's deadline): %v", what, time.Since(start).Round(time.Millisecond), err)
		case <-time.After(interval):
		}
	}
}

// Left is how long a wait inside t may take: the time until New's deadline,
// for APIs that take a duration rather than a context (smoke.Options.Wait).
// Without a deadline (-timeout 0) it is an hour: such a run is watched by a
// person, not bounded by go test.
func Left(t testing.TB) time.Duration {
	t.Helper()
	if d, ok := New(t).Deadline(); ok {
		return max(time.Until(d), 0)
	}
	return time.Hour
}
