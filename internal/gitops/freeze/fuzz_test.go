package freeze_test

import (
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/freeze"
)

// FuzzWeeklyWindow: a freeze decides whether a deploy to prod may land.
// Whatever the window and the zone, Check and Active never panic, and a
// window Active reports contains now and is at most a week long.
func FuzzWeeklyWindow(f *testing.F) {
	f.Add("Fri 17:00", "Mon 08:00", "Asia/Ho_Chi_Minh", int64(1764316800))
	f.Add("Sun 23:59", "Sun 00:00", "UTC", int64(0))
	f.Add("mon 00:00", "MON 00:01", "America/New_York", int64(1773558000)) // around a DST change
	f.Add("Fri 17:00", "Fri 17:00", "", int64(-1))
	f.Add("Sat 1:00", "Sun 24:00", "Mars/Olympus", int64(1<<40))
	f.Fuzz(func(t *testing.T, start, end, zone string, unix int64) {
		fr := delivery.Freeze{Name: "fuzz", Environments: []string{"prod"}, TimeZone: zone, Weekly: &delivery.WeeklyWindow{Start: start, End: end}}
		if freeze.Check(fr) != nil {
			return
		}
		now := time.Unix(unix%(1<<34), 0).UTC()
		w, active, err := freeze.Active(&delivery.Config{Freezes: []delivery.Freeze{fr}}, "prod", now)
		if err != nil {
			t.Fatalf("Check accepted %+v but Active failed: %v", fr, err)
		}
		if !active {
			return
		}
		if now.Before(w.Start) || !now.Before(w.End) {
			t.Errorf("active window %s – %s does not contain now %s", w.Start, w.End, now)
		}
		if d := w.End.Sub(w.Start); d <= 0 || d > 7*24*time.Hour+time.Hour {
			t.Errorf("window of %s for %q – %q", d, start, end)
		}
	})
}
