package window

import (
	"context"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// TestForecastFacts: a forecast.submitted becomes one forecast fact with
// its period cut in the team's zone (the rep's team from the org when the
// event names none), and counts as no one's activity.
func TestForecastFacts(t *testing.T) {
	org := &schemas.Org{
		Teams: []schemas.Team{{ID: "ber", TimeZone: "Europe/Berlin"}, {ID: "nyc", TimeZone: "America/New_York"}},
		Reps:  []schemas.Rep{{ID: "rep-b", TeamID: "ber"}},
	}
	w, err := New(Config{}, Deps{Org: schemas.NewIndex(org), Clock: func() time.Time { return base }}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := w.NewStage()
	at := time.Date(2026, 3, 31, 21, 30, 0, 0, time.UTC) // 23:30 in Berlin, 17:30 in New York
	evs := []schemas.Interaction{
		{EventID: "f1", OccurredAt: at, Source: "crm", Type: schemas.TypeForecastSubmitted, RepID: "rep-b",
			Period: "2026-Q2", Stage: schemas.ForecastCommit, Currency: "EUR", Has: schemas.HasAmount, Amount: 1e5},
		{EventID: "f2", OccurredAt: at, Source: "crm", Type: schemas.TypeForecastSubmitted, TeamID: "nyc",
			Period: "2026-04", Stage: schemas.ForecastBestCase, Currency: "USD", Has: schemas.HasAmount, Amount: 2.5e5},
	}
	for k := range evs {
		evs[k].Normalize()
	}
	b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: 0, LastOffset: 1}, nil)
	b.Interactions = evs
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var got schemas.ForecastRows
	for _, a := range b.Aggregates {
		switch a.Table {
		case schemas.TableForecasts:
			got = append(got, a.Rows.(schemas.ForecastRows)...)
		case schemas.TableActivity, schemas.TableRepAccounts:
			t.Errorf("a forecast counted in %s", a.Table)
		}
	}
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	want := schemas.ForecastRows{
		{PeriodStart: d(2026, 4, 1), PeriodKind: "quarter", Period: "2026-Q2", PeriodStartAt: time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC),
			SubmittedAt: at, Day: d(2026, 3, 31), EventID: "f1", TeamID: "ber", RepID: "rep-b", Category: "commit",
			Currency: "EUR", Amount: 1e5, TimeZone: "Europe/Berlin"},
		{PeriodStart: d(2026, 4, 1), PeriodKind: "month", Period: "2026-04", PeriodStartAt: time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC),
			SubmittedAt: at, Day: d(2026, 3, 31), EventID: "f2", TeamID: "nyc", Category: "best_case",
			Currency: "USD", Amount: 2.5e5, TimeZone: "America/New_York"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows: %+v", len(got), got)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("row %d:\n got %+v\nwant %+v", k, got[k], want[k])
		}
	}
}
