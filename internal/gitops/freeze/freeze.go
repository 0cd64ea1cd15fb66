// Package freeze decides whether a freeze window from delivery.yaml is
// active for an environment at a given instant, and when it ends.
//
// A weekly window ("Fri 17:00" to "Mon 08:00") is evaluated in the freeze's
// IANA time zone, so it follows the local wall clock across daylight-saving
// changes (Europe/Berlin) and needs no special case where there are none
// (Asia/Ho_Chi_Minh); it may wrap over the end of the week. A one-off window
// is [From, Until). The clock is always passed in: tests and CLI inject it.
package freeze

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/untrusted"

	"github.com/smp/delivery/internal/fault"
)

// Window is an active freeze.
type Window struct {
	Name   string `json:"name"`
	Reason string `json:"reason,omitempty"`
	// Start and End bound the current occurrence, in the freeze's zone.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Zone  string    `json:"timeZone"`
}

// String says which window is active and when it ends, in its own zone.
func (w Window) String() string {
	s := fmt.Sprintf("freeze %q is active until %s (%s)", w.Name, w.End.Format("Mon 2006-01-02 15:04 MST"), w.Zone)
	if w.Reason != "" {
		s += ": " + untrusted.Text(w.Reason)
	}
	return s
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = fault.Invalidf("invalid freeze")

// Active returns the active freeze for env at now, if any. When several are
// active, the one that ends last is returned: that is when env unfreezes.
func Active(cfg *delivery.Config, env string, now time.Time) (Window, bool, error) {
	var best Window
	found := false
	for _, f := range cfg.Freezes {
		if len(f.Environments) > 0 && !slices.Contains(f.Environments, env) {
			continue
		}
		w, ok, err := activeOne(f, now)
		if err != nil {
			return Window{}, false, err
		}
		if ok && (!found || w.End.After(best.End)) {
			best, found = w, true
		}
	}
	return best, found, nil
}

func location(f delivery.Freeze) (*time.Location, string, error) {
	zone := f.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, "", fmt.Errorf("%w %q: timeZone %q: %w", ErrInvalid, f.Name, zone, err)
	}
	return loc, zone, nil
}

func activeOne(f delivery.Freeze, now time.Time) (Window, bool, error) {
	if err := Check(f); err != nil {
		return Window{}, false, err
	}
	loc, zone, _ := location(f)
	w := Window{Name: f.Name, Reason: f.Reason, Zone: zone}
	if f.Weekly == nil {
		if !now.Before(*f.From) && now.Before(*f.Until) {
			w.Start, w.End = f.From.In(loc), f.Until.In(loc)
			return w, true, nil
		}
		return Window{}, false, nil
	}
	sd, sh, sm, _ := parseWeekly(f.Weekly.Start)
	ed, eh, em, _ := parseWeekly(f.Weekly.End)
	local := now.In(loc)
	// The latest start at or before now is within the last 7 days.
	var start time.Time
	for back := 0; back <= 7; back++ {
		day := local.AddDate(0, 0, -back)
		if day.Weekday() != sd {
			continue
		}
		c := time.Date(day.Year(), day.Month(), day.Day(), sh, sm, 0, 0, loc)
		if !c.After(now) {
			start = c
			break
		}
	}
	if start.IsZero() {
		return Window{}, false, nil
	}
	// The end is the first end time after that start.
	var end time.Time
	for fwd := 0; fwd <= 7; fwd++ {
		day := start.AddDate(0, 0, fwd)
		if day.Weekday() != ed {
			continue
		}
		c := time.Date(day.Year(), day.Month(), day.Day(), eh, em, 0, 0, loc)
		if c.After(start) {
			end = c
			break
		}
	}
	if now.Before(end) {
		w.Start, w.End = start, end
		return w, true, nil
	}
	return Window{}, false, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseWeekly parses "Fri 17:00".
func parseWeekly(s string) (time.Weekday, int, int, error) {
	day, hm, ok := strings.Cut(strings.TrimSpace(s), " ")
	wd, known := weekdays[strings.ToLower(day)]
	h, m, ok2 := strings.Cut(strings.TrimSpace(hm), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || !known || !ok2 || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(m) != 2 {
		return 0, 0, 0, fmt.Errorf("%q is not a weekly time: want a day and a 24-hour time, e.g. \"Fri 17:00\"", s)
	}
	return wd, hh, mm, nil
}

// Check validates one freeze: a name, a known time zone, and either a
// weekly window with distinct start and end or a one-off From < Until.
func Check(f delivery.Freeze) error {
	if err := delivery.CheckName("freeze name", f.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, _, err := location(f); err != nil {
		return err
	}
	switch {
	case f.Weekly != nil && (f.From != nil || f.Until != nil):
		return fmt.Errorf("%w %q: set either weekly or from/until, not both", ErrInvalid, f.Name)
	case f.Weekly != nil:
		sd, sh, sm, err := parseWeekly(f.Weekly.Start)
		if err != nil {
			return fmt.Errorf("%w %q: weekly.start: %w", ErrInvalid, f.Name, err)
		}
		ed, eh, em, err := parseWeekly(f.Weekly.End)
		if err != nil {
			return fmt.Errorf("%w %q: weekly.end: %w", ErrInvalid, f.Name, err)
		}
		if sd == ed && sh == eh && sm == em {
			return fmt.Errorf("%w %q: weekly start and end are the same instant", ErrInvalid, f.Name)
		}
	case f.From != nil && f.Until != nil:
		if !f.From.Before(*f.Until) {
			return fmt.Errorf("%w %q: from %s is not before until %s", ErrInvalid, f.Name, f.From.Format(time.RFC3339), f.Until.Format(time.RFC3339))
		}
	default:
		return fmt.Errorf("%w %q: set weekly {start, end} or both from and until", ErrInvalid, f.Name)
	}
	return nil
}
