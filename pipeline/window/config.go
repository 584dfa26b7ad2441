package window

import (
	"errors"
	"fmt"
	"time"

	"github.com/salespulse/salespulse/pipeline/internal/calendar"
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
// minus holidays. The anomaly stage reads the same calendars for
// business-hours SLA deadlines (pipeline/internal/calendar).
type Calendar = calendar.Config

// Validation errors, wrapped with the field path.
var (
	ErrNegative  = errors.New("must be >= 0")
	ErrExpiry    = errors.New("must be > out_of_orderness + allowed_lateness")
	ErrTimeZone  = calendar.ErrTimeZone
	ErrClock     = calendar.ErrClock
	ErrHours     = calendar.ErrHours
	ErrWeekday   = calendar.ErrWeekday
	ErrHoliday   = calendar.ErrHoliday
	ErrNoWorkday = calendar.ErrNoWorkday
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
		if _, err := cal.Compile(""); err != nil {
			return fmt.Errorf("window.calendars.%s.%w", team, err)
		}
	}
	return nil
}
