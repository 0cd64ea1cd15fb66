package freeze

import (
	"errors"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
)

func cfgWith(fs ...delivery.Freeze) *delivery.Config {
	c := delivery.Default()
	c.Freezes = fs
	return c
}

func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var weekend = delivery.Freeze{
	Name: "weekend", Reason: "no prod changes over the weekend", Environments: []string{"prod"},
	TimeZone: "Asia/Ho_Chi_Minh", Weekly: &delivery.WeeklyWindow{Start: "Fri 17:00", End: "Mon 08:00"},
}

// 2026-11-27 is a Friday.
func TestWeeklyWindowInVietnamAtItsEdges(t *testing.T) {
	t.Parallel()
	const hcm = "Asia/Ho_Chi_Minh"
	for _, tc := range []struct {
		name, now string
		active    bool
		ends      string
	}{
		{"one minute before the start", "2026-11-27 16:59", false, ""},
		{"at the start", "2026-11-27 17:00", true, "2026-11-30 08:00"},
		{"on Sunday, across the week end", "2026-11-29 23:00", true, "2026-11-30 08:00"},
		{"one minute before the end", "2026-11-30 07:59", true, "2026-11-30 08:00"},
		{"at the end", "2026-11-30 08:00", false, ""},
		{"on Wednesday", "2026-11-25 12:00", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, ok, err := Active(cfgWith(weekend), "prod", at(t, hcm, tc.now))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.active {
				t.Fatalf("active = %v, want %v (%+v)", ok, tc.active, w)
			}
			if ok && !w.End.Equal(at(t, hcm, tc.ends)) {
				t.Errorf("ends %s, want %s", w.End, tc.ends)
			}
		})
	}
}

func TestWeeklyWindowSeenFromAnotherZone(t *testing.T) {
	t.Parallel()
	// Friday 17:00 in Ho Chi Minh City (UTC+7) is Friday 10:00 UTC.
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	w, ok, err := Active(cfgWith(weekend), "prod", now)
	if err != nil || !ok {
		t.Fatalf("active = %v, %v; want active", ok, err)
	}
	if got := w.End.Format("Mon 15:04 MST"); got != "Mon 08:00 +07" {
		t.Errorf("end shown as %q, want it in the freeze's zone", got)
	}
	if _, ok, _ := Active(cfgWith(weekend), "prod", now.Add(-time.Second)); ok {
		t.Error("active one second before the start")
	}
}

func TestWeeklyWindowFollowsTheWallClockAcrossDST(t *testing.T) {
	t.Parallel()
	const berlin = "Europe/Berlin"
	f := delivery.Freeze{Name: "sunday", Environments: []string{"prod"}, TimeZone: berlin,
		Weekly: &delivery.WeeklyWindow{Start: "Sat 22:00", End: "Sun 06:00"}}
	// DST ends in Berlin on Sunday 2026-10-25 at 03:00 → 02:00: the window lasts 9 hours.
	w, ok, err := Active(cfgWith(f), "prod", at(t, berlin, "2026-10-25 05:59"))
	if err != nil || !ok {
		t.Fatalf("active = %v, %v", ok, err)
	}
	if d := w.End.Sub(w.Start); d != 9*time.Hour {
		t.Errorf("window lasts %s across the DST change, want 9h", d)
	}
	if _, ok, _ := Active(cfgWith(f), "prod", at(t, berlin, "2026-10-25 06:00")); ok {
		t.Error("still active at 06:00 local")
	}
	// DST starts on 2026-03-29 (02:00 → 03:00): 7 hours.
	w, ok, _ = Active(cfgWith(f), "prod", at(t, berlin, "2026-03-29 01:00"))
	if !ok || w.End.Sub(w.Start) != 7*time.Hour {
		t.Errorf("spring window = %v %s, want active for 7h", ok, w.End.Sub(w.Start))
	}
}

func TestOneOffWindow(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)
	until := time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)
	f := delivery.Freeze{Name: "xmas", Reason: "holiday", Environments: []string{"staging", "prod"}, From: &from, Until: &until}
	for _, tc := range []struct {
		env    string
		now    time.Time
		active bool
	}{
		{"prod", from.Add(-time.Nanosecond), false},
		{"prod", from, true},
		{"staging", until.Add(-time.Second), true},
		{"prod", until, false},
		{"dev", from.Add(time.Hour), false},
	} {
		_, ok, err := Active(cfgWith(f), tc.env, tc.now)
		if err != nil || ok != tc.active {
			t.Errorf("Active(%s, %s) = %v, %v; want %v", tc.env, tc.now, ok, err, tc.active)
		}
	}
}

func TestOverlappingWindowsReportTheLastEnd(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	until := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	long := delivery.Freeze{Name: "migration", Environments: []string{"prod"}, From: &from, Until: &until}
	w, ok, err := Active(cfgWith(weekend, long), "prod", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	if err != nil || !ok || w.Name != "migration" {
		t.Fatalf("got %+v %v %v, want migration", w, ok, err)
	}
}

func TestCheckRefusesBadWindows(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, f := range []delivery.Freeze{
		{Name: "Bad Name", Weekly: &delivery.WeeklyWindow{Start: "Fri 17:00", End: "Mon 08:00"}},
		{Name: "x", TimeZone: "Mars/Olympus", Weekly: &delivery.WeeklyWindow{Start: "Fri 17:00", End: "Mon 08:00"}},
		{Name: "x", Weekly: &delivery.WeeklyWindow{Start: "Friday 17:00", End: "Mon 08:00"}},
		{Name: "x", Weekly: &delivery.WeeklyWindow{Start: "Fri 25:00", End: "Mon 08:00"}},
		{Name: "x", Weekly: &delivery.WeeklyWindow{Start: "Fri 17:00", End: "Fri 17:00"}},
		{Name: "x", From: &from, Until: &from},
		{Name: "x", From: &from},
	} {
		if err := Check(f); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%+v) = %v, want ErrInvalid", f, err)
		}
	}
}
