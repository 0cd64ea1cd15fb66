package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/verify/gate"
)

// fakeClock is a clock tests move by hand: Sleep advances it at once.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

var (
	pass   = func() (gate.Result, error) { return result(true, true), nil }
	fail   = func() (gate.Result, error) { return result(true, false), gate.ErrGateFailed }
	quiet  = func() (gate.Result, error) { return result(false, false), gate.ErrGateFailed }
	down   = func() (gate.Result, error) { return gate.Result{}, errors.New("query: connection refused") }
	script = func(steps ...func() (gate.Result, error)) Evaluate {
		i := 0
		return func(context.Context, time.Time) (gate.Result, error) {
			s := steps[min(i, len(steps)-1)]
			i++
			return s()
		}
	}
)

func result(traffic, ok bool) gate.Result {
	r := gate.Result{Version: "3.3.0", Baseline: "3.2.0", OK: ok}
	r.Checks = append(r.Checks, gate.Check{Name: "traffic", OK: traffic, Detail: "no API requests"})
	if traffic {
		r.Checks = append(r.Checks, gate.Check{Name: "error rate", OK: ok, Value: 0.3, Limit: 0.02, Detail: "30.00% 5xx (limit 2%)"})
	}
	return r
}

func TestWatchVerdicts(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		steps    []func() (gate.Result, error)
		limit    int
		want     Verdict
		wantErr  error
		evals    int
		inReason string
	}{
		{"every evaluation passes", []func() (gate.Result, error){pass}, 0, Passed, nil, 11, "passed 11"},
		{"one failure fails at once", []func() (gate.Result, error){pass, pass, fail}, 0, Failed, ErrFailed, 3, "error rate 30.00%"},
		{"a failure limit of 2 forgives one", []func() (gate.Result, error){pass, fail, pass, fail, fail}, 2, Failed, ErrFailed, 5, "2 evaluation(s) in a row"},
		{"a forgiven failure is no clean soak", []func() (gate.Result, error){pass, fail, pass}, 2, Unknown, ErrUnknown, 11, "not a clean soak"},
		{"Prometheus down all along is unknown, never a rollback", []func() (gate.Result, error){down}, 0, Unknown, ErrUnknown, 11, "connection refused"},
		{"no traffic is missing data, not a failure", []func() (gate.Result, error){quiet}, 0, Unknown, ErrUnknown, 11, "no API requests"},
		{"the soak starts with the first traffic", []func() (gate.Result, error){quiet, quiet, quiet, pass}, 0, Passed, nil, 14, "passed 11"},
		{"a short outage is covered by the next window", []func() (gate.Result, error){pass, down, pass}, 0, Passed, nil, 11, "passed 10"},
		{"a long outage leaves time unjudged", []func() (gate.Result, error){pass, down, down, down, down, down, down, pass}, 0, Unknown, ErrUnknown, 11, "unjudged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen []Evaluation
			rep, err := Watch(context.Background(), Options{
				For: 10 * time.Minute, Every: time.Minute, Window: 5 * time.Minute, FailureLimit: tc.limit,
				Evaluate: script(tc.steps...), Clock: &fakeClock{now: start},
				Progress: func(e Evaluation) { seen = append(seen, e) },
			})
			if rep.Verdict != tc.want || !errors.Is(err, tc.wantErr) && (tc.wantErr != nil || err != nil) {
				t.Fatalf("verdict %s, %v; want %s, %v (%s)", rep.Verdict, err, tc.want, tc.wantErr, rep.Reason)
			}
			if rep.Evaluations != tc.evals || len(seen) != tc.evals {
				t.Errorf("%d evaluations (%d heard), want %d", rep.Evaluations, len(seen), tc.evals)
			}
			if msg := rep.Reason + fmt.Sprint(err); !contains(msg, tc.inReason) {
				t.Errorf("reason %q, want it to say %q", msg, tc.inReason)
			}
			if tc.want == Failed && (rep.Last == nil || rep.Last.Outcome != Fail) {
				t.Errorf("a failed watch's last evaluation = %+v, want the failing one", rep.Last)
			}
		})
	}
}

func TestWatchInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	rep, err := Watch(ctx, Options{For: time.Hour, Every: time.Minute, Window: 5 * time.Minute, Clock: &fakeClock{now: time.Unix(0, 0)},
		Evaluate: func(context.Context, time.Time) (gate.Result, error) {
			if n++; n == 3 {
				cancel()
			}
			return result(true, true), nil
		}})
	if !errors.Is(err, context.Canceled) || rep.Verdict != Unknown {
		t.Fatalf("Watch = %s, %v; want unknown and context.Canceled", rep.Verdict, err)
	}
}

func TestWatchRefusesBadOptions(t *testing.T) {
	t.Parallel()
	ev := script(pass)
	for _, o := range []Options{
		{For: 0, Window: time.Minute, Evaluate: ev},
		{For: time.Minute, Window: time.Minute, Every: 2 * time.Minute, Evaluate: ev},
		{For: time.Minute, Window: time.Minute, Every: -time.Second, Evaluate: ev},
		{For: time.Minute, Window: time.Minute, FailureLimit: -1, Evaluate: ev},
	} {
		if _, err := Watch(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
