package app

import (
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
)

func TestAlertMessagesRestoreMergedFiringRows(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	rows := []schemas.Alert{
		{ID: "a", Rule: "lead_response_sla", State: schemas.AlertResolved, Severity: schemas.SeverityWarning, At: at, EndsAt: at.Add(time.Hour)},
		{ID: "b", Rule: "lead_response_sla", State: schemas.AlertFiring, Severity: schemas.SeverityWarning, At: at.Add(time.Minute)},
		{ID: "b", Rule: "lead_response_sla", State: schemas.AlertFiring, Severity: schemas.SeverityWarning, At: at.Add(time.Minute)}, // a redelivered batch
	}
	got := AlertMessages(rows)
	want := []string{"a firing", "b firing", "a resolved"}
	if len(got) != len(want) {
		t.Fatalf("got %d messages %+v, want %v", len(got), got, want)
	}
	for k, w := range want {
		if g := got[k].ID + " " + got[k].State; g != w {
			t.Errorf("message %d = %s, want %s", k, g, w)
		}
	}
}

// Pages count on the working days of the recipient's team calendar, in
// its zone; days without pages count as 0.
func TestMeasureAlertBudgetCountsWorkingDays(t *testing.T) {
	org := &schemas.Org{
		Teams: []schemas.Team{{ID: "t1", ManagerID: "m1", TimeZone: "America/New_York"}},
		Reps:  []schemas.Rep{{ID: "r1", TeamID: "t1", Role: "ae"}, {ID: "m1", TeamID: "t1", Role: "manager"}},
	}
	cfg := &Config{Window: window.Config{Calendars: map[string]window.Calendar{"*": {Start: "08:00", End: "18:00"}}}}
	cfg.Alerts.Hooks = []alert.HookConfig{{Name: "m", Type: alert.HookSlack, Routes: []alert.RouteConfig{{Recipient: alert.RecipientManager}}}}
	msg := func(id string, at time.Time) alert.Message {
		return alert.FromAlert(&schemas.Alert{ID: id, Rule: "lead_response_sla_escalated", State: schemas.AlertFiring,
			Severity: schemas.SeverityCritical, RepID: "r1", TeamID: "t1", ManagerID: "m1", At: at})
	}
	// Mon 2026-11-02 to Mon 2026-11-09 UTC: five working days in New York.
	// Tuesday 02:00 UTC is Monday evening there; Saturday is a day off.
	from, to := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
	msgs := []alert.Message{
		msg("a", time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)),
		msg("b", time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)),
		msg("c", time.Date(2026, 11, 4, 15, 0, 0, 0, time.UTC)),
		msg("d", time.Date(2026, 11, 7, 15, 0, 0, 0, time.UTC)),
		msg("e", time.Date(2026, 11, 9, 15, 0, 0, 0, time.UTC)),
	}
	b, err := MeasureAlertBudget(cfg, org, msgs, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Managers.Samples; len(got) != 5 || got[0] != 0 || got[3] != 1 || got[4] != 2 {
		t.Errorf("manager samples %v, want [0 0 0 1 2]", got)
	}
	if b.Managers.Median() != 0 || b.Managers.Max() != 2 || b.OffDays != 1 || b.Outside != 1 {
		t.Errorf("median %g max %d off days %d outside %d, want 0 2 1 1", b.Managers.Median(), b.Managers.Max(), b.OffDays, b.Outside)
	}
	if b.Reps.Recipients != 1 || len(b.Reps.Samples) != 5 || b.Reps.Max() != 0 {
		t.Errorf("reps %+v, want one rep with five empty days", b.Reps)
	}
}
