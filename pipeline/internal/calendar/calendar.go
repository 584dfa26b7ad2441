// Package calendar is a team's business hours: working hours on working
// days in a time zone, minus holidays. The window stage measures response
// times in it (lead_response.business_s) and the anomaly stage sets
// business-hours SLA deadlines with it, from the same window.calendars
// configuration, so a response the dashboard counts as in time is one the
// SLA detector did not page for.
//
// Both directions are pure functions of their arguments (no wall clock):
// replays compute the same seconds and the same deadlines.
package calendar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is one team's working time as configured (window.calendars.<team>).
type Config struct {
	// TimeZone is an IANA name. Default: the team's time_zone from the org
	// file, else UTC.
	TimeZone string `yaml:"time_zone"`
	// Start and End are the local working hours "HH:MM" (End after Start).
	// Defaults "09:00" and "17:00".
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	// Weekdays are the working days, e.g. ["mon","tue","wed","thu","fri"]
	// (the default).
	Weekdays []string `yaml:"weekdays"`
	// Holidays are local dates "YYYY-MM-DD" without working hours.
	Holidays []string `yaml:"holidays"`
}

// Validation errors, wrapped with the field name.
var (
	ErrTimeZone  = errors.New("unknown time zone")
	ErrClock     = errors.New(`must be "HH:MM" between 00:00 and 24:00`)
	ErrHours     = errors.New("end must be after start")
	ErrWeekday   = errors.New("must be one of mon tue wed thu fri sat sun")
	ErrHoliday   = errors.New(`must be a date "YYYY-MM-DD"`)
	ErrNoWorkday = errors.New("at least one working day is required")
)

// Calendar is a compiled Config. It is immutable, so safe to share.
type Calendar struct {
	loc        *time.Location
	start, end int // minutes after local midnight
	weekdays   [7]bool
	holidays   map[string]bool // "YYYY-MM-DD"
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Pick returns the configuration of team: its own, else the "*" default.
func Pick(cals map[string]Config, team string) (Config, bool) {
	c, ok := cals[team]
	if !ok {
		c, ok = cals["*"]
	}
	return c, ok
}

// Compile checks cal and prepares it; orgTZ is the team's zone from the org
// file, used when the calendar names none. Errors start with the field name.
func (cal Config) Compile(orgTZ string) (*Calendar, error) {
	out := &Calendar{holidays: map[string]bool{}}
	tz := cal.TimeZone
	if tz == "" {
		tz = orgTZ
	}
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("time_zone: %q: %w", tz, ErrTimeZone)
		}
		loc = l
	}
	out.loc = loc
	var err error
	if out.start, err = parseHHMM(cal.Start, 9*60); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if out.end, err = parseHHMM(cal.End, 17*60); err != nil {
		return nil, fmt.Errorf("end: %w", err)
	}
	if out.end <= out.start {
		return nil, fmt.Errorf("end: %w", ErrHours)
	}
	days := cal.Weekdays
	if days == nil {
		days = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	if len(days) == 0 {
		return nil, fmt.Errorf("weekdays: %w", ErrNoWorkday)
	}
	for k, d := range days {
		wd, ok := weekdayNames[strings.ToLower(d)]
		if !ok {
			return nil, fmt.Errorf("weekdays[%d]: %q: %w", k, d, ErrWeekday)
		}
		out.weekdays[wd] = true
	}
	for k, h := range cal.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			return nil, fmt.Errorf("holidays[%d]: %q: %w", k, h, ErrHoliday)
		}
		out.holidays[h] = true
	}
	return out, nil
}

func parseHHMM(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("%q: %w", s, ErrClock)
	}
	return hh*60 + mm, nil
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// hours returns the working interval of the local day starting at day
// (local midnight), or ok false on a day off. Built with time.Date, so a
// DST change inside the hours makes that day's interval an hour shorter or
// longer in absolute time, as the clocks on the wall say.
func (c *Calendar) hours(day time.Time) (open, close time.Time, ok bool) {
	if !c.weekdays[day.Weekday()] || c.holidays[day.Format(time.DateOnly)] {
		return time.Time{}, time.Time{}, false
	}
	y, m, d := day.Date()
	return time.Date(y, m, d, 0, c.start, 0, 0, c.loc), time.Date(y, m, d, 0, c.end, 0, 0, c.loc), true
}

func nextDay(day time.Time) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, day.Location())
}

// BusinessSeconds is the working time between from and to (from <= to).
// It walks local days, so it costs O(days) — bounded by the lead expiry.
func (c *Calendar) BusinessSeconds(from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	f, t := from.In(c.loc), to.In(c.loc)
	total := time.Duration(0)
	y, m, d := f.Date()
	for day := time.Date(y, m, d, 0, 0, 0, 0, c.loc); !day.After(t); day = nextDay(day) {
		lo, hi, ok := c.hours(day)
		if !ok {
			continue
		}
		if f.After(lo) {
			lo = f
		}
		if t.Before(hi) {
			hi = t
		}
		if hi.After(lo) {
			total += hi.Sub(lo)
		}
	}
	return total.Seconds()
}

// maxDays bounds Add's walk: past it the calendar has no working time left
// worth waiting for (it cannot happen with a valid calendar, which has a
// working weekday and finitely many holidays; the bound only keeps a
// pathological one from spinning).
const maxDays = 10 * 366

// Add returns the earliest instant by which d of working time has passed
// since from: the inverse of BusinessSeconds, so
// BusinessSeconds(from, Add(from, d)) == d.Seconds(). Off hours the clock
// starts at the next opening; time left at a closing carries over to the
// next opening. A budget used up exactly at a closing is due at the
// closing, not at the next opening. d <= 0 returns from.
func (c *Calendar) Add(from time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return from
	}
	f := from.In(c.loc)
	y, m, dd := f.Date()
	day := time.Date(y, m, dd, 0, 0, 0, 0, c.loc)
	for range maxDays {
		if lo, hi, ok := c.hours(day); ok && hi.After(f) {
			if f.After(lo) {
				lo = f
			}
			left := hi.Sub(lo)
			if d <= left {
				return lo.Add(d).In(from.Location())
			}
			d -= left
		}
		day = nextDay(day)
	}
	return f.Add(d).In(from.Location())
}
