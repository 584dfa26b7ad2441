package anomaly

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/salespulse/salespulse/pipeline/internal/calendar"
	"github.com/salespulse/salespulse/schemas"
)

// The week of t0 (Monday 2026-11-02): Friday evening and the Monday after.
var (
	friEvening = time.Date(2026, 11, 6, 18, 30, 0, 0, time.UTC)
	monOpening = time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC)
)

// officeHours is Mon–Fri 09:00–17:00 UTC for every team.
var officeHours = map[string]Calendar{"*": {}}

// A lead that arrives Friday evening is due on Monday at the opening plus
// the SLA, and escalates at 4× the SLA of business hours, not on Friday
// night at 19:00 and 20:30 as on the wall clock.
func TestLeadSLABusinessClock(t *testing.T) {
	h := newHarnessDeps(t, Config{SLA: SLAConfig{Clock: ClockBusiness}}, Deps{Calendars: officeHours})
	expect(t, h.run(leadEv(schemas.TypeLeadCreated, "L1", "ae-1", friEvening, schemas.ChannelEmail)))
	expect(t, h.run(tick(friEvening.Add(2*time.Hour+time.Millisecond))))  // wall: both would have fired
	expect(t, h.run(tick(monOpening.Add(30*time.Minute+59*time.Second)))) // watermark 09:29:59
	a := h.run(tick(monOpening.Add(31*time.Minute + time.Millisecond)))   // watermark past 09:30
	expect(t, a, "lead_response_sla firing L1")
	if !a[0].At.Equal(monOpening.Add(30*time.Minute)) || a[0].Values["clock"] != "business" ||
		a[0].Values["due_at"] != "2026-11-09T09:30:00Z" || a[0].Values["triggered_at"] != "2026-11-06T18:30:00Z" ||
		!strings.Contains(a[0].Summary, "SLA of 30m0s business hours") {
		t.Fatalf("%+v", a[0])
	}
	a = h.run(tick(monOpening.Add(2*time.Hour + time.Minute + time.Millisecond)))
	expect(t, a, "lead_response_sla_escalated firing L1")
	if !a[0].At.Equal(monOpening.Add(2*time.Hour)) || a[0].Values["due_at"] != "2026-11-09T11:00:00Z" || a[0].Values["limit"] != "2h0m0s" {
		t.Fatalf("%+v", a[0])
	}
	a = h.run(leadEv(schemas.TypeMessageOutbound, "L1", "ae-1", monOpening.Add(2*time.Hour+15*time.Minute), schemas.ChannelEmail))
	expect(t, a, "lead_response_sla resolved L1", "lead_response_sla_escalated resolved L1")
	if a[0].Values["business_response_time"] != "2h15m0s" || a[0].Values["response_time"] != "64h45m0s" {
		t.Fatalf("%+v", a[0].Values)
	}
}

// An existing customer's call (a touch resolved to a Salesforce Contact,
// Customer) is no lead waiting: nobody is paged for it, and the rep's
// answer to a customer does not answer a lead that shares nothing with it.
// The same call without the flag pages (docs/leads.md).
func TestLeadSLACustomersOpenNoClock(t *testing.T) {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for _, customer := range []bool{false, true} {
		h := newHarness(t, Config{})
		in := leadEv(schemas.TypeCallInbound, "003C1", "ae-1", at, schemas.ChannelPhone)
		in.Customer = customer
		expect(t, h.run(in))
		a := h.run(tick(at.Add(3 * time.Hour)))
		if customer {
			expect(t, a)
		} else {
			expect(t, a, "lead_response_sla firing 003C1", "lead_response_sla_escalated firing 003C1")
		}
	}
	// A lead opened by lead.created is not closed by a customer's touch
	// that happens to name it (it cannot: the resolver gives a touch one
	// identity; here the flag alone decides).
	h := newHarness(t, Config{})
	expect(t, h.run(leadEv(schemas.TypeLeadCreated, "L1", "ae-1", at, schemas.ChannelEmail)))
	out := leadEv(schemas.TypeCallOutbound, "L1", "ae-1", at.Add(10*time.Minute), schemas.ChannelPhone)
	out.Customer = true
	expect(t, h.run(out))
	expect(t, h.run(tick(at.Add(31*time.Minute+6*time.Minute))), "lead_response_sla firing L1")
}

// An SLA that spans the close continues at the next opening: 10 minutes on
// Friday and 20 on Monday. Answered at 09:15 Monday it is in time; the
// wall clock pages for it on Friday at 17:20.
func TestLeadSLABusinessClockSpansTheClose(t *testing.T) {
	fri := time.Date(2026, 11, 6, 16, 50, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		clock Clock
		want  []string
	}{
		"business": {ClockBusiness, nil},
		"wall":     {ClockWall, []string{"lead_response_sla firing L1", "lead_response_sla_escalated firing L1", "lead_response_sla resolved L1", "lead_response_sla_escalated resolved L1"}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarnessDeps(t, Config{SLA: SLAConfig{Clock: c.clock}}, Deps{Calendars: officeHours})
			expect(t, h.run(
				leadEv(schemas.TypeCallInbound, "L1", "ae-1", fri, schemas.ChannelPhone),
				leadEv(schemas.TypeCallOutbound, "L1", "ae-1", monOpening.Add(15*time.Minute), schemas.ChannelPhone),
			), c.want...)
		})
	}
	// Answered at 09:21 instead: late by a minute, the alert at 09:20.
	h := newHarnessDeps(t, Config{SLA: SLAConfig{Clock: ClockBusiness}}, Deps{Calendars: officeHours})
	a := h.run(
		leadEv(schemas.TypeCallInbound, "L1", "ae-1", fri, schemas.ChannelPhone),
		leadEv(schemas.TypeCallOutbound, "L1", "ae-1", monOpening.Add(21*time.Minute), schemas.ChannelPhone),
	)
	expect(t, a, "lead_response_sla firing L1", "lead_response_sla resolved L1")
	if !a[0].At.Equal(monOpening.Add(20 * time.Minute)) {
		t.Fatalf("%+v", a[0])
	}
}

// The clock is overridden per team and channel as the SLA is: a team's
// own setting beats the channel's for all teams; a team without a
// calendar keeps the wall clock.
func TestLeadSLAClockOverrides(t *testing.T) {
	cfg := Config{SLA: SLAConfig{
		Clock:          ClockBusiness,
		ChannelClocks:  map[string]Clock{"phone": ClockWall},
		Teams:          map[string]TeamSLA{"team-02": {Clock: ClockWall, ChannelClocks: map[string]Clock{"chat": ClockBusiness}}},
		EscalateFactor: -1,
	}}
	ev := func(id, team string, ch schemas.Channel) schemas.Interaction {
		i := leadEv(schemas.TypeLeadCreated, id, "", friEvening, ch)
		i.TeamID = team
		return i
	}
	h := newHarnessDeps(t, cfg, Deps{Calendars: officeHours})
	expect(t, h.run(
		ev("business-email", "team-01", schemas.ChannelEmail),
		ev("wall-phone", "team-01", schemas.ChannelPhone),
		ev("wall-team", "team-02", schemas.ChannelEmail),
		ev("business-team-chat", "team-02", schemas.ChannelChat),
	))
	expect(t, h.run(tick(friEvening.Add(31*time.Minute+time.Millisecond))), "lead_response_sla firing wall-phone", "lead_response_sla firing wall-team")
	expect(t, h.run(tick(monOpening.Add(31*time.Minute+time.Millisecond))), "lead_response_sla firing business-email", "lead_response_sla firing business-team-chat")

	// Only team-01 has a calendar: team-02's business clock is the wall's.
	h = newHarnessDeps(t, Config{SLA: SLAConfig{Clock: ClockBusiness, EscalateFactor: -1}}, Deps{Calendars: map[string]Calendar{"team-01": {}}})
	expect(t, h.run(ev("L1", "team-01", schemas.ChannelEmail), ev("L2", "team-02", schemas.ChannelEmail)))
	a := h.run(tick(friEvening.Add(31*time.Minute + time.Millisecond)))
	expect(t, a, "lead_response_sla firing L2")
	if _, ok := a[0].Values["clock"]; ok {
		t.Fatalf("a wall-clock alert says it counted business hours: %+v", a[0].Values)
	}
}

// A calendar without a zone is in the team's zone from the org file, as
// for the window's business_s.
func TestLeadSLABusinessClockOrgZone(t *testing.T) {
	idx := schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "ny", ManagerID: "mgr-ny", TimeZone: "America/New_York"}},
		Reps:  []schemas.Rep{{ID: "mgr-ny", TeamID: "ny", Role: "manager"}, {ID: "ae-ny", TeamID: "ny", Role: "ae"}},
	})
	d, err := New(Config{SLA: SLAConfig{Clock: ClockBusiness, EscalateFactor: -1}}, nil, idx, Deps{Calendars: officeHours}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, stage: d.NewStage(), det: d}
	ev := func(id string, at time.Time) schemas.Interaction {
		return schemas.Interaction{Type: schemas.TypeLeadCreated, LeadID: id, RepID: "ae-ny", TeamID: "ny", OccurredAt: at, Channel: schemas.ChannelEmail}
	}
	nyTick := func(at time.Time) schemas.Interaction {
		return schemas.Interaction{Type: schemas.TypeMessageOutbound, OccurredAt: at, RepID: "ae-ny", TeamID: "ny", Channel: schemas.ChannelEmail}
	}
	// 16:30 and 17:30 EST on Friday (UTC-5 since 1 November).
	a := h.run(ev("in-hours", time.Date(2026, 11, 6, 21, 30, 0, 0, time.UTC)), ev("after-close", time.Date(2026, 11, 6, 22, 30, 0, 0, time.UTC)))
	expect(t, a, "lead_response_sla firing in-hours")
	if a[0].Values["due_at"] != "2026-11-06T22:00:00Z" {
		t.Fatalf("%+v", a[0].Values)
	}
	expect(t, h.run(nyTick(time.Date(2026, 11, 9, 14, 30, 59, 0, time.UTC))))
	a = h.run(nyTick(time.Date(2026, 11, 9, 14, 31, 0, 1e6, time.UTC)))
	expect(t, a, "lead_response_sla firing after-close")
	if a[0].Values["due_at"] != "2026-11-09T14:30:00Z" {
		t.Fatalf("%+v", a[0].Values)
	}
}

func TestNewChecksCalendars(t *testing.T) {
	business := Config{SLA: SLAConfig{Clock: ClockBusiness}}
	if _, err := New(business, nil, nil, Deps{}, nil, nil); !errors.Is(err, ErrNoCalendars) {
		t.Errorf("business clock without calendars: %v", err)
	}
	team := Config{SLA: SLAConfig{Teams: map[string]TeamSLA{"t": {ChannelClocks: map[string]Clock{"chat": ClockBusiness}}}}}
	if _, err := New(team, nil, nil, Deps{}, nil, nil); !errors.Is(err, ErrNoCalendars) {
		t.Errorf("a team's business channel without calendars: %v", err)
	}
	if _, err := New(Config{SLA: SLAConfig{Clock: ClockBusiness, Disabled: true}}, nil, nil, Deps{}, nil, nil); err != nil {
		t.Errorf("a disabled SLA needs no calendar: %v", err)
	}
	if _, err := New(business, nil, nil, Deps{Calendars: map[string]Calendar{"*": {Start: "18:00"}}}, nil, nil); !errors.Is(err, calendar.ErrHours) {
		t.Errorf("bad calendar: %v", err)
	}
	if _, err := New(Config{}, nil, nil, Deps{}, nil, nil); err != nil {
		t.Errorf("wall clock: %v", err)
	}
}

// TestConfigFiles decodes testdata/config/*.yml (the anomaly section of
// the configuration file) strictly and checks each against its expected
// error.
func TestConfigFiles(t *testing.T) {
	want := map[string]struct {
		err  error
		path string
	}{
		"sla_clock.good.yml":             {},
		"sla_clock.bad.yml":              {ErrClock, "anomaly.sla.clock: "},
		"sla_team_clock.bad.yml":         {ErrClock, "anomaly.sla.teams.team-02.clock: "},
		"sla_channel_clock.bad.yml":      {ErrChannel, "anomaly.sla.channel_clocks.fax: "},
		"sla_team_channel_clock.bad.yml": {ErrClock, "anomaly.sla.teams.team-01.channel_clocks.email: "},
		"signals_cooldown.bad.yml":       {ErrNegative, "anomaly.signals.cooldown: "},
		"signals_max_unmatched.bad.yml":  {ErrNegative, "anomaly.signals.max_unmatched: "},
	}
	files, err := filepath.Glob("testdata/config/*.yml")
	if err != nil || len(files) != len(want) {
		t.Fatalf("%d files (%v), %d expectations", len(files), err, len(want))
	}
	for _, f := range files {
		w, ok := want[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: no expectation", f)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c Config
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.SetDefaults()
		err = c.Validate()
		switch {
		case w.err == nil && err != nil:
			t.Errorf("%s: %v", f, err)
		case w.err != nil && (!errors.Is(err, w.err) || !strings.HasPrefix(err.Error(), w.path)):
			t.Errorf("%s: %v, want %v at %s", f, err, w.err, w.path)
		}
		if strings.HasSuffix(f, ".good.yml") {
			s := &c.SLA
			for _, x := range []struct {
				team string
				ch   schemas.Channel
				want Clock
			}{
				{"team-01", schemas.ChannelEmail, ClockBusiness}, {"team-01", schemas.ChannelPhone, ClockWall},
				{"team-02", schemas.ChannelEmail, ClockWall}, {"team-02", schemas.ChannelPhone, ClockWall},
				{"team-02", schemas.ChannelChat, ClockBusiness},
			} {
				if got := s.clockFor(x.team, x.ch); got != x.want {
					t.Errorf("%s: clock of %s %s: %s, want %s", f, x.team, x.ch, got, x.want)
				}
			}
		}
	}
}
