package history

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/gitopsgen"
)

// Service reads with one walk what History (per environment), Metrics and
// Trend read with one walk each, and says the same.
func TestServiceIsHistoryMetricsAndTrendFromOneWalk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "gen.git")
	if err := gitopsgen.Build(ctx, bare, gitopsgen.Options{Services: 6, Commits: 300, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	runGit(t, work, t0, "clone", "--quiet", bare, "w")
	dir := filepath.Join(work, "w")
	late := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	// Hand edits in two environments, and one of another service: the
	// timeline lists each in the environment it touched only.
	for i, rel := range []string{"environments/prod/svc-002.yaml", "state/approvals/dev/svc-002/9.9.9.yaml", "environments/prod/svc-003.yaml"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte("image:\n  tag: by-hand\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		at := late.Add(time.Duration(i) * time.Hour)
		runGit(t, dir, at, "add", "--all")
		runGit(t, dir, at, "commit", "--quiet", "-m", "hand edit "+rel)
	}
	var full, listed int
	r, err := Open(ctx, dir, OpenOptions{OnWalk: func(o WalkOptions) {
		if len(o.Commits) > 0 {
			listed++
		} else {
			full++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	envs := []string{"dev", "staging", "prod"}
	// Windows that reach back to the generated commits from the hand
	// edits, the newest.
	mo := MetricsOptions{Window: 5 * 365 * 24 * time.Hour}
	to := TrendOptions{Weeks: 5 * 52}
	rep, err := r.Service(ctx, "svc-002", ServiceOptions{Envs: envs, Metrics: mo, Trend: to})
	if err != nil {
		t.Fatal(err)
	}
	if full != 1 || listed != 1 {
		t.Errorf("Service walked the history %d times and listed commits %d times, want once each", full, listed)
	}

	for _, env := range envs {
		h, err := r.History(ctx, env, "svc-002", 0)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, e := range rep.Timeline {
			if e.Env == env {
				got = append(got, e.Commit)
			}
		}
		for _, e := range h.Events {
			want = append(want, e.Commit)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") || len(got) < 2 {
			t.Errorf("%s: Service's timeline has %d commits, History %d:\n got %v\nwant %v", env, len(got), len(want), got, want)
		}
	}
	if first := rep.Timeline[0]; first.Env != "dev" || !strings.HasPrefix(first.Subject, "hand edit state/approvals/dev/svc-002") {
		t.Errorf("the timeline starts with %s %q, want the newest hand edit of svc-002 (in dev)", first.Env, first.Subject)
	}
	mo.Service, to.Service = "svc-002", "svc-002"
	m, err := r.Metrics(ctx, mo)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Metrics, m) || len(m.Rows) == 0 {
		t.Errorf("Service's metrics:\n%+v\nMetrics:\n%+v", rep.Metrics, m)
	}
	tr, err := r.Trend(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Trend, tr) || len(tr.Rows) == 0 {
		t.Errorf("Service's trend:\n%+v\nTrend:\n%+v", rep.Trend, tr)
	}

	// A diff from the matrix already read is Diff's.
	st, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"", "svc-002"} {
		got, err := st.Diff("staging", "prod", svc)
		if err != nil {
			t.Fatal(err)
		}
		want, err := r.Diff(ctx, "staging", "prod", DiffOptions{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || len(want.Services) == 0 {
			t.Errorf("Status.Diff(%q):\n%+v\nRepo.Diff:\n%+v", svc, got, want)
		}
	}
	for _, bad := range [][2]string{{"staging", "qa"}, {"../x", "prod"}, {"prod", "prod"}} {
		if _, err := st.Diff(bad[0], bad[1], ""); err == nil {
			t.Errorf("Status.Diff(%q, %q): no error", bad[0], bad[1])
		}
	}
	if _, err := st.Diff("staging", "prod", "nope"); err == nil {
		t.Error("Status.Diff of an unknown service: no error")
	}
}
