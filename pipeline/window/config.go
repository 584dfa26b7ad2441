package window

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config tunes event-time windowing and pairing. Zero values get the
// defaults documented on each field, applied in one place (SetDefaults);
// Validate checks the result. Where the pairing state is checkpointed is
// the state store's configuration, not the stage's.
type Config struct {
	// OutOfOrderness is the bounded disorder per partition: the watermark is
	// the largest event time seen on the partition minus this. Default 5m.
	OutOfOrderness time.Duration `yaml:"out_of_orderness"`
	// AllowedLateness is how far behind the watermark an event may still
	// arrive and be counted. Older events go to late_events, counted in
	// salespulse_window_late_events_total and never windowed. Pairs (lead
	// responses, approval decisions) are finalised only once no accepted
	// event can still change them, i.e. out_of_orderness + allowed_lateness
	// behind the newest event time of the partition; lower it for fresher
	// response-time KBIs at the price of more late events. Default 1h.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// LeadExpiry closes a lead trigger nobody answered: it becomes an
	// unanswered fact. A response counts only when it comes strictly less
	// than this after its trigger. Bounds pairing memory. Default 168h (7d).
	LeadExpiry time.Duration `yaml:"lead_expiry"`
	// ApprovalExpiry closes an approval request nobody decided: it becomes
	// an "expired" approval fact. Default 720h (30d).
	ApprovalExpiry time.Duration `yaml:"approval_expiry"`
	// Calendars are business-hours calendars by team id, for response times
	// in business time. The key "*" is the default for teams without one.
	// Without any calendar, business seconds are not computed (NULL).
	Calendars map[string]Calendar `yaml:"calendars"`
}

// Calendar is a team's working time: hours on working days in a time zone,
// minus holidays.
type Calendar struct {
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

// Validation errors, wrapped with the field path.
var (
	ErrNegative  = errors.New("must be >= 0")
	ErrExpiry    = errors.New("must be > out_of_orderness + allowed_lateness")
	ErrTimeZone  = errors.New("unknown time zone")
	ErrClock     = errors.New(`must be "HH:MM" between 00:00 and 24:00`)
	ErrHours     = errors.New("end must be after start")
	ErrWeekday   = errors.New("must be one of mon tue wed thu fri sat sun")
	ErrHoliday   = errors.New(`must be a date "YYYY-MM-DD"`)
	ErrNoWorkday = errors.New("at least one working day is required")
)

// SetDefaults fills the zero fields with their documented defaults.
func (c *Config) SetDefaults() {
	if c.OutOfOrderness == 0 {
		c.OutOfOrderness = 5 * time.Minute
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = time.Hour
	}
	if c.LeadExpiry == 0 {
		c.LeadExpiry = 7 * 24 * time.Hour
	}
	if c.ApprovalExpiry == 0 {
		c.ApprovalExpiry = 30 * 24 * time.Hour
	}
}

// Validate reports the first problem in c, its path starting "window.".
// Call SetDefaults first: a zero expiry is invalid.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"out_of_orderness", c.OutOfOrderness}, {"allowed_lateness", c.AllowedLateness},
		{"lead_expiry", c.LeadExpiry}, {"approval_expiry", c.ApprovalExpiry},
	} {
		if d.v < 0 {
			return fmt.Errorf("window.%s: %w", d.name, ErrNegative)
		}
	}
	if c.LeadExpiry <= c.OutOfOrderness+c.AllowedLateness {
		return fmt.Errorf("window.lead_expiry: %w", ErrExpiry)
	}
	if c.ApprovalExpiry <= c.OutOfOrderness+c.AllowedLateness {
		return fmt.Errorf("window.approval_expiry: %w", ErrExpiry)
	}
	for team, cal := range c.Calendars {
		if _, err := cal.compile(""); err != nil {
			return fmt.Errorf("window.calendars.%s.%w", team, err)
		}
	}
	return nil
}

// calendar is a compiled Calendar.
type calendar struct {
	loc        *time.Location
	start, end int // minutes after local midnight
	weekdays   [7]bool
	holidays   map[string]bool // "YYYY-MM-DD"
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// compile checks cal and prepares it; orgTZ is the team's zone from the org
// file, used when the calendar names none. Errors start with the field name.
func (cal Calendar) compile(orgTZ string) (*calendar, error) {
	out := &calendar{holidays: map[string]bool{}}
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

// businessSeconds is the working time between from and to (from <= to).
// It walks local days, so it costs O(days) — bounded by the lead expiry.
func (c *calendar) businessSeconds(from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	f, t := from.In(c.loc), to.In(c.loc)
	total := time.Duration(0)
	y, m, d := f.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, c.loc)
	for !day.After(t) {
		if c.weekdays[day.Weekday()] && !c.holidays[day.Format(time.DateOnly)] {
			ws := time.Date(day.Year(), day.Month(), day.Day(), 0, c.start, 0, 0, c.loc)
			we := time.Date(day.Year(), day.Month(), day.Day(), 0, c.end, 0, 0, c.loc)
			lo, hi := ws, we
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
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
	}
	return total.Seconds()
}
