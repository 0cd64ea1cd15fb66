package testctx

import (
	"errors"
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
