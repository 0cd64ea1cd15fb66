package history

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
)

func TestTrendCountsEachWeekAsMetricsCountsAWindow(t *testing.T) {
	t.Parallel()
	f := story(t)
	// The last week starts half an hour before the 3.3.0 promotion (+32h),
	// so it holds that promotion and its rollback (+33h); the week before
	// holds the 3.2.0 promotion (+25h).
	until := t0.Add(32*time.Hour + Week - 30*time.Minute)
	tr, err := f.open(t).Trend(context.Background(), TrendOptions{Weeks: 3, Until: until, Env: "prod", Service: "order-svc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Weeks) != 3 || !tr.Weeks[2].Equal(until.Add(-Week)) || !tr.Weeks[0].Equal(until.Add(-3*Week)) {
		t.Fatalf("weeks %v, want the three weeks before %v, oldest first", tr.Weeks, until)
	}
	if len(tr.Rows) != 2 || tr.Rows[0].Service != "order-svc" || tr.Rows[1].Service != "*" {
		t.Fatalf("rows %+v, want order-svc then prod's total", tr.Rows)
	}
	w := tr.Rows[0].Weeks
	if w[0].Deploys != 0 || w[0].ChangeFailureRate != nil || w[0].LeadTime.Count != 0 {
		t.Errorf("the first week = %+v, want nothing", w[0])
	}
	if w[1].Deploys != 1 || w[1].Rollbacks != 0 || w[1].LeadTime.P50 != (24*time.Hour).Seconds() || *w[1].ChangeFailureRate != 0 {
		t.Errorf("the second week = %+v, want the 3.2.0 promotion, lead time 24h, no failure", w[1])
	}
	last := w[2]
	if last.Deploys != 1 || last.Rollbacks != 1 || *last.ChangeFailureRate != 1 || last.LeadTime.P50 != (6*time.Hour).Seconds() || last.TimeToRestore.P50 != time.Hour.Seconds() {
		t.Errorf("the last week = %+v, want the 3.3.0 promotion (lead time 6h) rolled back after 1h", last)
	}
	if last.PerDay != 1.0/7 {
		t.Errorf("the last week's deploys per day = %v, want 1/7", last.PerDay)
	}

	// The weeks add up to what Metrics counts over the same three weeks.
	m, err := f.open(t).Metrics(context.Background(), MetricsOptions{Window: 3 * Week, Until: until, Env: "prod", Service: "order-svc"})
	if err != nil {
		t.Fatal(err)
	}
	var deploys, rollbacks int
	for _, x := range w {
		deploys, rollbacks = deploys+x.Deploys, rollbacks+x.Rollbacks
	}
	if m.Rows[0].Deploys != deploys || m.Rows[0].Rollbacks != rollbacks {
		t.Errorf("metrics over the three weeks = %+v, the weeks add up to %d deploys and %d rollbacks", m.Rows[0], deploys, rollbacks)
	}

	// Figures reads both with one walk, and says the same.
	fm, ftr, err := f.open(t).Figures(context.Background(), MetricsOptions{Window: 3 * Week, Until: until, Env: "prod", Service: "order-svc"}, TrendOptions{Weeks: 3, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fm, m) || !reflect.DeepEqual(ftr, tr) {
		t.Errorf("Figures = %+v, %+v; want what Metrics and Trend say, %+v, %+v", fm, ftr, m, tr)
	}

	if _, err := f.open(t).Trend(context.Background(), TrendOptions{Env: "nowhere"}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("an unknown environment: %v, want bad input", err)
	}
}
