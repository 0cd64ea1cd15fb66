// Package demo walks SMP's delivery story end to end on embedded defaults
// and prints a timeline: each step, how long it took, and whether its check
// passed. It is what `make demo` runs; it grows as the pipeline's parts land.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/smp/delivery/internal/delivery"
	"github.com/smp/delivery/internal/plan"
)

// Step is one line of the timeline.
type Step struct {
	Name     string        `json:"name"`
	Detail   string        `json:"detail"`
	Duration time.Duration `json:"duration"`
	OK       bool          `json:"ok"`
}

// ErrStepFailed is returned when any step's check failed.
var ErrStepFailed = errors.New("a demo step failed")

// Run executes the story and writes the timeline to w as it goes.
func Run(ctx context.Context, w io.Writer) ([]Step, error) {
	cfg := delivery.Default()
	story := []struct {
		ref     string
		wantEnv string
		wantErr error
	}{
		{"refs/pull/1/merge", "", nil},
		{"refs/heads/main", "dev", nil},
		{"refs/tags/v3.3.0-rc.1", "staging", nil},
		{"refs/tags/v3.3.0", "prod", nil},
		{"refs/tags/v3.3.0-rollback", "", plan.ErrInvalidTag},
	}
	var steps []Step
	failed := false
	for _, s := range story {
		if err := ctx.Err(); err != nil {
			return steps, err
		}
		start := time.Now()
		p, err := plan.For(cfg, s.ref)
		ok := p.Environment == s.wantEnv && errors.Is(err, s.wantErr)
		detail := fmt.Sprintf("→ %s", orNothing(p.Environment))
		if p.Environment != "" {
			detail += fmt.Sprintf(" (approval: %s)", p.Approval)
		} else {
			detail += " — " + p.Reason
		}
		st := Step{Name: "plan " + s.ref, Detail: detail, Duration: time.Since(start), OK: ok}
		steps = append(steps, st)
		failed = failed || !ok
		mark := "ok  "
		if !ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %-28s %8s  %s\n", mark, st.Name, st.Duration.Round(time.Microsecond), st.Detail)
	}
	if failed {
		return steps, ErrStepFailed
	}
	return steps, nil
}

func orNothing(env string) string {
	if env == "" {
		return "nothing"
	}
	return env
}
