package testctx

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNewEndsBeforeTheBinaryDeadline(t *testing.T) {
	t.Parallel()
	ctx := New(t)
	d, ok := t.Deadline()
	if !ok {
		if _, has := ctx.Deadline(); has {
			t.Fatal("without -timeout the context must have no deadline")
		}
		return
	}
	got, has := ctx.Deadline()
	if !has {
		t.Fatal("with a test deadline the context must have one")
	}
	if !got.Before(d) {
		t.Fatalf("context deadline %v is not before the test's %v", got, d)
	}
}

func TestNewIsCancelledWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	var ctx interface{ Err() error }
	t.Run("inner", func(t *testing.T) { ctx = New(t) })
	if ctx.Err() == nil {
		t.Fatal("the context of a finished test must be cancelled")
	}
}

func TestMainHasTheBinaryDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := Main()
	defer cancel()
	_, want := t.Deadline()
	if _, got := ctx.Deadline(); got != want {
		t.Fatalf("Main has a deadline: %v, the test binary has one: %v", got, want)
	}
}

func TestGraceKeepsATenthUpToAMinute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want time.Duration }{
		{10 * time.Second, time.Second},
		{20 * time.Minute, time.Minute},
		{0, 0},
	} {
		if got := Grace(tc.in); got != tc.want {
			t.Errorf("Grace(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	n := 0
	Eventually(t, time.Millisecond, "third call", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestLeftIsTheTimeBeforeNewsDeadline(t *testing.T) {
	got := Left(t)
	d, ok := t.Deadline()
	if !ok {
		if got != time.Hour {
			t.Fatalf("Left without a deadline = %s, want 1h", got)
		}
		return
	}
	want := time.Until(d.Add(-Grace(time.Until(d))))
	if got <= 0 || got > want+time.Second || got < want-time.Second {
		t.Fatalf("Left = %s, want about %s (the deadline %s less its grace)", got, want, d)
	}
}

// logs records what Eventually logs.
type logs struct {
	testing.TB
	lines []string
}

func (l *logs) Logf(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func TestALongWaitSaysWhatItWaitsOn(t *testing.T) {
	// Not parallel: it shortens the period every wait of the package logs at.
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = 20 * time.Millisecond
	l := &logs{TB: t}
	n := 0
	Eventually(l, 5*time.Millisecond, "the widget", func() error {
		if n++; n < 12 {
			return fmt.Errorf("widget at %d", n)
		}
		return nil
	})
	if len(l.lines) == 0 || !strings.HasPrefix(l.lines[0], "the widget: still waiting after ") || !strings.Contains(l.lines[0], ": widget at ") {
		t.Fatalf("a wait of 12 polls at 5ms logged %q, want the last error each 20ms", l.lines)
	}
}

func TestALongWaitPollsLess(t *testing.T) {
	// Not parallel: it shortens the waits of the package.
	defer func(a, p time.Duration) { slowAfter, slowPoll = a, p }(slowAfter, slowPoll)
	slowAfter, slowPoll = 30*time.Millisecond, 100*time.Millisecond
	start := time.Now()
	n := 0
	Eventually(t, time.Millisecond, "a second", func() error {
		n++
		if time.Since(start) < time.Second {
			return errors.New("not yet")
		}
		return nil
	})
	// At 1 ms a second is hundreds of polls (fewer on a loaded machine, never more); after
	// 30 ms at 100 ms it is about 40.
	if n > 100 {
		t.Fatalf("a wait of a second polled %d times, want at most ~40: every 1ms for 30ms, then every 100ms", n)
	}
}
