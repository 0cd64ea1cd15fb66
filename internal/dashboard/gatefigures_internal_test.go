package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/history"
)

// TestReleasesBeforeTheCurrentOne: per environment, the releases before
// the one that runs now, newest first, each until the next one's commit;
// approvals and holds are not releases; one more than shown is kept as the
// oldest one's baseline.
func TestReleasesBeforeTheCurrentOne(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var timeline []timelineEntry
	add := func(env string, a history.Action, tag string, hour int) {
		timeline = append([]timelineEntry{{Env: env, Event: history.Event{Action: a, Tag: tag, Time: t0.Add(time.Duration(hour) * time.Hour)}}}, timeline...)
	}
	for i := range 9 {
		add("prod", history.ActionDeploy, fmt.Sprintf("1.%d.0", i), 10*i)
		add("prod", history.ActionHold, fmt.Sprintf("1.%d.0", i), 10*i+1)
	}
	add("staging", history.ActionPromote, "2.0.0", 1)
	add("staging", history.ActionApprove, "2.1.0", 2)
	add("staging", history.ActionRollback, "1.9.0", 3)

	got := releasesBefore(timeline, []string{"staging", "prod", "dev"}, 5)
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s→%s", r.Env, r.Version, r.From.Format("02T15"), r.Until.Format("02T15")))
	}
	want := []string{
		"staging 2.0.0 01T01→01T03",
		"prod 1.7.0 03T22→04T08", "prod 1.6.0 03T12→03T22", "prod 1.5.0 03T02→03T12",
		"prod 1.4.0 02T16→03T02", "prod 1.3.0 02T06→02T16", "prod 1.2.0 01T20→02T06",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("releases:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
