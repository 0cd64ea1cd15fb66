package dashboard

import (
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/history"
)

func TestDurationsAreSaidToTheUnitAReaderNeeds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Minute, "45m"},
		{6 * time.Hour, "6h"},
		{6*time.Hour + 30*time.Minute, "6h 30m"},
		{26 * time.Hour, "1d 2h"},
		{48 * time.Hour, "2d"},
		{20 * time.Second, "0m"},
	} {
		if got := sayDuration(tc.d.Seconds()); got != tc.want {
			t.Errorf("sayDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestAChartTellsAZeroFromAWeekWithoutTheFigure(t *testing.T) {
	zero, half := 0.0, 0.5
	starts := []time.Time{time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}
	weeks := []history.MetricsRow{{}, {Deploys: 2, ChangeFailureRate: &zero}, {Deploys: 2, Rollbacks: 1, ChangeFailureRate: &half}}
	c := drawChart("prod", figures[2], starts, weeks)
	if !c.Bars[0].None || c.Bars[1].None || c.Bars[1].H != 1 || c.Bars[2].H != chartHeight/2 {
		t.Errorf("bars %+v: want none, a one-pixel zero, half the height for 50%% (the scale is 100%%)", c.Bars)
	}
	if want := "Change failure rate in prod, week by week from the week of 20 Nov: –, 0%, 50% (– is a week without one)."; c.Summary != want {
		t.Errorf("summary %q, want %q", c.Summary, want)
	}
	if c.Top != "up to 100%" {
		t.Errorf("top %q", c.Top)
	}
	if c := drawChart("prod", figures[3], starts, weeks); c.Top != "none in these weeks" || !c.Bars[2].None {
		t.Errorf("time to restore without a restore: %+v", c)
	}
}
