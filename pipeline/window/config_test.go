package window

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConfig: defaults first, then Validate; every error names its full
// YAML path and wraps the sentinel.
func TestConfig(t *testing.T) {
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.OutOfOrderness != 5*time.Minute || c.AllowedLateness != time.Hour || c.LeadExpiry != 7*24*time.Hour || c.ApprovalExpiry != 30*24*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	for name, tc := range map[string]struct {
		c    Config
		path string
		err  error
	}{
		"negative lateness":             {Config{AllowedLateness: -1}, "window.allowed_lateness: ", ErrNegative},
		"lead expiry inside lateness":   {Config{AllowedLateness: 2 * time.Hour, LeadExpiry: time.Hour}, "window.lead_expiry: ", ErrExpiry},
		"approval expiry within bounds": {Config{ApprovalExpiry: time.Hour}, "window.approval_expiry: ", ErrExpiry},
		"calendar end before start":     {Config{Calendars: map[string]Calendar{"t1": {Start: "18:00"}}}, "window.calendars.t1.end: ", ErrHours},
		"calendar unknown weekday":      {Config{Calendars: map[string]Calendar{"*": {Weekdays: []string{"mon", "fr"}}}}, "window.calendars.*.weekdays[1]: ", ErrWeekday},
	} {
		tc.c.SetDefaults()
		err := tc.c.Validate()
		if !errors.Is(err, tc.err) || !strings.HasPrefix(err.Error(), tc.path) {
			t.Errorf("%s: %v, want %q... wrapping %v", name, err, tc.path, tc.err)
		}
	}
}
