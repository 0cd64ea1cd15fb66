// Package watch keeps the post-deploy metric gate (package gate) on a
// release for a soak window — `smpctl verify --for 10m` — and gives one of
// three verdicts:
//
//   - failed: the gate failed FailureLimit evaluations in a row, each with
//     traffic to judge. The caller acts (rollback, hold or notify, as
//     delivery.yaml's onGateFailure says).
//   - passed: at the end of the window the last evaluation passed, none
//     failed, and no stretch of the window went without a passing
//     evaluation for longer than the gate's own window — each evaluation
//     judges the Window before it, so evaluations at most Window apart
//     leave no minute unjudged.
//   - unknown: neither. Prometheus could not be asked, or the release had
//     no traffic, for longer than the gate's window. Missing data is never
//     a reason to roll back: the pipeline stops for a person.
//
// The watch only judges; what to do about a verdict is the caller's.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/verify/gate"
)

// Verdict of a watch.
type Verdict string

// Verdicts.
const (
	Passed  Verdict = "passed"
	Failed  Verdict = "failed"
	Unknown Verdict = "unknown"
)

// Outcome of one evaluation.
type Outcome string

// Outcomes of an evaluation.
const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	// NoData is an evaluation that judged nothing: Prometheus did not
	// answer, or the release had no traffic in the window.
	NoData Outcome = "no-data"
)

// Evaluate runs the gate once, at now.
type Evaluate func(ctx context.Context, now time.Time) (gate.Result, error)

// Options of a watch.
type Options struct {
	// For is how long to watch; required. It counts from the first
	// evaluation that judged something: a release that serves no traffic
	// yet (a blue/green preview before its promotion, an environment still
	// syncing) is waited for, up to Wait.
	For time.Duration
	// Wait bounds the wait for a first judgement; default For.
	Wait time.Duration
	// Every is the time between evaluations; default Window/5, at least 1s
	// and at most Window.
	Every time.Duration
	// Window is the gate's window (each evaluation judges the Window
	// before it); required.
	Window time.Duration
	// FailureLimit is how many failed evaluations in a row fail the watch;
	// default 1 (the seed's gate is one evaluation).
	FailureLimit int
	// Evaluate runs the gate; required.
	Evaluate Evaluate
	// Progress, when set, hears of every evaluation as it happens.
	Progress func(Evaluation)
	// Clock is the time source; default the real one.
	Clock Clock
}

// Clock is the passage of time the watch waits on.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then its error).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Evaluation is one run of the gate during the watch.
type Evaluation struct {
	At      time.Time   `json:"at"`
	Outcome Outcome     `json:"outcome"`
	Result  gate.Result `json:"result"`
	// Error says why an evaluation judged nothing.
	Error string `json:"error,omitempty"`
}

// Report is what a watch saw.
type Report struct {
	Verdict Verdict   `json:"verdict"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	// Evaluations counts the gate's runs; Passes, Failures and NoData by outcome.
	Evaluations int `json:"evaluations"`
	Passes      int `json:"passes"`
	Failures    int `json:"failures"`
	NoData      int `json:"noData"`
	// Last is the last evaluation that judged something (for a failed
	// watch: the failing one).
	Last *Evaluation `json:"last,omitempty"`
	// LongestGap is the longest stretch without a passing evaluation.
	LongestGap time.Duration `json:"longestGapSeconds"`
	// Reason says why the verdict is what it is, for a person.
	Reason string `json:"reason"`
}

// ErrFailed is a watch whose gate failed; ErrUnknown one that could not
// judge the window. Both are refusals (exit 1).
var (
	ErrFailed  = fault.Refusedf("metric gate failed during the watch")
	ErrUnknown = fault.Refusedf("metric gate unknown: not enough data to judge the watch")
)

func (o *Options) check() error {
	switch {
	case o.For <= 0:
		return fault.Inputf("For", "watch duration %s: give how long to watch, e.g. 10m", o.For)
	case o.Window <= 0:
		return fault.Inputf("Window", "the gate's window %s must be positive", o.Window)
	case o.Evaluate == nil:
		return errors.New("watch: no Evaluate")
	case o.Every < 0:
		return fault.Inputf("Every", "interval %s is negative: give e.g. 30s", o.Every)
	case o.Every > o.Window:
		return fault.Inputf("Every", "interval %s is longer than the gate's window %s: evaluations that far apart leave time unjudged; give at most %s", o.Every, o.Window, o.Window)
	case o.Wait < 0:
		return fault.Inputf("Wait", "wait %s is negative: give how long to wait for traffic, e.g. 30m", o.Wait)
	case o.FailureLimit < 0:
		return fault.Inputf("FailureLimit", "failure limit %d is negative: give 1 or more", o.FailureLimit)
	}
	return nil
}

// Watch evaluates the gate every o.Every for o.For and returns the
// verdict: nil for passed, an error wrapping ErrFailed or ErrUnknown with
// the report otherwise, or ctx's error when it was interrupted (the report
// then says what was seen so far, Verdict unknown).
func Watch(ctx context.Context, o Options) (Report, error) {
	if err := o.check(); err != nil {
		return Report{}, err
	}
	if o.Every == 0 {
		o.Every = min(max(o.Window/5, time.Second), o.Window)
	}
	if o.FailureLimit == 0 {
		o.FailureLimit = 1
	}
	if o.Wait == 0 {
		o.Wait = o.For
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	begun := o.Clock.Now()
	var start, end, lastPass time.Time // set by the first judgement
	judged := false
	rep := Report{Verdict: Unknown, Since: begun}
	failedInARow := 0
	for {
		now := o.Clock.Now()
		res, err := o.Evaluate(ctx, now)
		if ctx.Err() != nil {
			rep.Until = now
			rep.Reason = fmt.Sprintf("interrupted after %s: nothing decided", now.Sub(start).Round(time.Second))
			return rep, ctx.Err()
		}
		ev := Evaluation{At: now, Result: res}
		switch {
		case err == nil:
			ev.Outcome = Pass
		case errors.Is(err, gate.ErrGateFailed) && hasTraffic(res):
			ev.Outcome = Fail
		default:
			ev.Outcome = NoData
			ev.Error = noDataReason(res, err)
		}
		rep.Evaluations++
		if !judged && ev.Outcome != NoData {
			// The soak starts with the first judgement; the window before
			// it is the deploy's, not judged here.
			judged, start, end, lastPass = true, now, now.Add(o.For), now
			rep.Since = now
		}
		switch ev.Outcome {
		case Pass:
			rep.Passes++
			failedInARow = 0
			rep.LongestGap = max(rep.LongestGap, now.Sub(lastPass))
			lastPass = now
		case Fail:
			rep.Failures++
			failedInARow++
		case NoData:
			rep.NoData++
		}
		if ev.Outcome != NoData {
			e := ev
			rep.Last = &e
		}
		if o.Progress != nil {
			o.Progress(ev)
		}
		if ev.Outcome == Fail && failedInARow >= o.FailureLimit {
			rep.Verdict, rep.Until = Failed, now
			rep.Reason = fmt.Sprintf("the gate failed %d evaluation(s) in a row after %s of watching: %s", failedInARow, now.Sub(start).Round(time.Second), FailedChecks(res))
			return rep, fmt.Errorf("%w: %s", ErrFailed, rep.Reason)
		}
		if !judged {
			if now.Sub(begun) >= o.Wait {
				rep.Until = now
				rep.Reason = fmt.Sprintf("no evaluation judged anything in %s of waiting (%s)", o.Wait, ev.Error)
				return rep, fmt.Errorf("%w: %s; nothing was rolled back: a person decides (is the release serving traffic? is Prometheus scraping it?)", ErrUnknown, rep.Reason)
			}
			if err := o.Clock.Sleep(ctx, min(o.Every, begun.Add(o.Wait).Sub(now))); err != nil {
				rep.Until = o.Clock.Now()
				rep.Reason = "interrupted while waiting for traffic: nothing decided"
				return rep, err
			}
			continue
		}
		if !now.Before(end) {
			rep.Until = now
			gap := max(rep.LongestGap, now.Sub(lastPass))
			rep.LongestGap = gap
			switch {
			case ev.Outcome == Pass && rep.Failures == 0 && gap <= o.Window:
				rep.Verdict = Passed
				rep.Reason = fmt.Sprintf("the gate passed %d evaluation(s) over %s, none failed", rep.Passes, o.For)
				return rep, nil
			case rep.Failures > 0:
				rep.Reason = fmt.Sprintf("the gate failed %d of %d evaluations (fewer than %d in a row): not a clean soak; a person decides", rep.Failures, rep.Evaluations, o.FailureLimit)
			case ev.Outcome != Pass:
				rep.Reason = fmt.Sprintf("the last evaluation judged nothing (%s)", ev.Error)
			default:
				rep.Reason = fmt.Sprintf("for %s in a row no evaluation passed (more than the gate's window %s): that time is unjudged", gap.Round(time.Second), o.Window)
			}
			return rep, fmt.Errorf("%w: %s; nothing was rolled back: a person decides (look at the dashboards, then `smpctl rollback` or `smpctl verify --for` again)", ErrUnknown, rep.Reason)
		}
		if err := o.Clock.Sleep(ctx, min(o.Every, end.Sub(now))); err != nil {
			rep.Until = o.Clock.Now()
			rep.Reason = fmt.Sprintf("interrupted after %s: nothing decided", rep.Until.Sub(start).Round(time.Second))
			return rep, err
		}
	}
}

func hasTraffic(r gate.Result) bool {
	for _, c := range r.Checks {
		if c.Name == "traffic" {
			return c.OK
		}
	}
	return false
}

func noDataReason(r gate.Result, err error) string {
	if errors.Is(err, gate.ErrGateFailed) {
		for _, c := range r.Checks {
			if c.Name == "traffic" && !c.OK {
				return c.Detail
			}
		}
	}
	return err.Error()
}

// FailedChecks names the checks of r that failed, with their figures.
func FailedChecks(r gate.Result) string {
	s := ""
	for _, c := range r.Checks {
		if !c.OK {
			if s != "" {
				s += "; "
			}
			s += c.Name + " " + c.Detail
		}
	}
	return s
}

// WriteText writes the verdict and its reason.
func (r Report) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "watch %s: %s (%d evaluations: %d passed, %d failed, %d without data; %s to %s)\n",
		r.Verdict, r.Reason, r.Evaluations, r.Passes, r.Failures, r.NoData, r.Since.UTC().Format(time.TimeOnly), r.Until.UTC().Format(time.TimeOnly))
	return err
}
