// Package budget measures the alert budget of issue 13 on what a user of
// `salespulse dev` gets: the generator's default organisation over 28
// days through the whole product on embedded services (Kafka, chDB, the
// three flows), the alerts read back from ClickHouse, and the recommended
// hooks (app.BudgetHooks) simulated with the Dispatcher's own routing and
// digest code. A package of its own: chDB allows one data dir per process.
package budget

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/gen"
)

const (
	days     = 28
	sla      = 30 * time.Minute // anomaly.sla.default
	escalate = 4                // anomaly.sla.escalate_factor
)

// The budget: on the generator's default org over 28 days, the median
// manager gets at most 3 pages a working day, and every lead past its SLA
// in business time reaches its rep or manager.
func TestAlertBudgetOnTheDefaultOrg(t *testing.T) {
	testenv.RequireCHDB(t)
	gc := gen.DefaultConfig()
	gc.Days = days
	m := newModel(t, gc)

	dir := t.TempDir()
	ac := devstack.AppDefaults()
	ac.Anomaly.MatrixFile = "../../deploy/examples/authorization-matrix.yml" // as salespulse dev from the repository
	// Once the stream is consumed, wall-clock ticks fire the deadlines
	// after its last event; 5 s instead of 1 min of quiet keeps the test
	// short (the generator produces flat out, never pausing that long).
	ac.Leads.TickAfter = 5 * time.Second
	started := time.Now()
	st, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 4, Generator: true, Gen: gc, App: ac,
	}, nil)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack: %v", err)
		}
	}()

	// Processed: every event stored, then every breach the model
	// predicts fired (the last ones by wall-clock ticks), then no new
	// alert for 3 s.
	waitFor(t, "every generated event stored", 5*time.Minute, func() bool {
		return testenv.SumMetric(st.Registry(), "salespulse_pipeline_interactions_stored_total") >= float64(m.events)
	})
	stored := time.Since(started)
	cc := ac
	cc.SetDefaults()
	cc.ClickHouse.Addresses, cc.ClickHouse.Protocol, cc.ClickHouse.Compression = []string{st.ClickHouseAddr()}, "http", "none"
	read := func() []alert.Message {
		msgs, err := app.ReadAlerts(ctx, cc.ClickHouse, time.Time{}, time.Time{})
		if err != nil {
			t.Fatalf("read alerts: %v", err)
		}
		return msgs
	}
	var msgs []alert.Message
	// Not fatal: a breach without an alert is reported below.
	poll(2*time.Minute, func() bool {
		msgs = read()
		fired := map[string]bool{}
		for _, x := range msgs {
			fired[x.ID] = true
		}
		for _, b := range m.breaches {
			if !fired[b.slaID] {
				return false
			}
		}
		return true
	})
	for n := -1; n != len(msgs); {
		n = len(msgs)
		time.Sleep(3 * time.Second)
		msgs = read()
	}
	processed := time.Since(started)

	// The working days the pages count on are the generated ones.
	cfg := ac
	cfg.Window.Calendars = devstack.GeneratorCalendars(st.Generator())
	b, err := app.MeasureAlertBudget(&cfg, st.Generator().Org(), msgs, gc.Start, gc.Start.AddDate(0, 0, days))
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	b.Print(&report)
	t.Logf("%d events stored in %s, alerts settled after %s\n%s", m.events, stored.Round(time.Second), processed.Round(time.Second), report.String())

	rules := map[string]int{}
	for _, x := range msgs {
		rules[x.Rule+" "+x.State]++
	}
	t.Logf("alert transitions: %v", rules)

	// Every true breach reaches its rep or manager: a page carries its
	// SLA or escalation alert firing.
	firing, resolved := map[string]alert.Page{}, map[string]alert.Page{}
	for _, p := range b.Pages {
		if p.Recipient.Role != alert.RecipientRep && p.Recipient.Role != alert.RecipientManager {
			continue
		}
		for _, id := range p.Firing {
			if _, ok := firing[id]; !ok {
				firing[id] = p
			}
		}
		for _, id := range p.Resolved {
			if _, ok := resolved[id]; !ok {
				resolved[id] = p
			}
		}
	}
	var missed []string
	asResolved := 0
	var delay []time.Duration
	for _, br := range m.breaches {
		p, ok := firing[br.slaID]
		if e, eok := firing[br.escID]; eok && (!ok || e.At.Before(p.At)) {
			p, ok = e, true
		}
		if !ok && resolved[br.slaID].Hook != "" {
			// Answered before a digest went out: the digest lists it
			// as resolved (send_resolved).
			p, ok = resolved[br.slaID], true
			asResolved++
		}
		if !ok {
			missed = append(missed, fmt.Sprintf("lead %s (team %s, due %s, answered %s)",
				br.lead, br.team, br.due.Format(time.RFC3339), br.answered.Format(time.RFC3339)))
			continue
		}
		delay = append(delay, p.At.Sub(br.due))
	}
	slices.Sort(delay)
	q := func(f float64) time.Duration {
		if len(delay) == 0 {
			return 0
		}
		return delay[int(f*float64(len(delay)-1))]
	}
	t.Logf("true SLA breaches (brute-force model, business time): %d, reached: %d (%d of them only as resolved in a digest); due → first page: median %s, p90 %s, max %s",
		len(m.breaches), len(delay), asResolved, q(0.5), q(0.9), q(1))
	if len(m.breaches) == 0 {
		t.Fatal("the model found no SLA breach: the test measures nothing")
	}
	if len(missed) > 0 {
		sort.Strings(missed)
		t.Errorf("%d true SLA breaches reach nobody, e.g. %s", len(missed), strings.Join(missed[:min(5, len(missed))], "; "))
	}
	if med := b.Managers.Median(); med > 3 {
		t.Errorf("median pages per manager per working day = %g, budget 3", med)
	}
	if b.Managers.Recipients != gc.Teams {
		t.Errorf("%d managers counted, want %d", b.Managers.Recipients, gc.Teams)
	}
}

// model is the brute-force lead SLA of the generated events, in business
// time, computed without the pipeline's calendar package: per lead, the
// first unanswered trigger (lead.created or an inbound touch) and the
// first outbound touch or meeting after it; a breach when there is no
// answer by the deadline — trigger + SLA of the team's working time — and
// the deadline lies within the data. An answer at the deadline exactly is
// in time (docs/alerts.md).
type model struct {
	events   int64
	breaches []breach
}

type breach struct {
	lead, team   string
	slaID, escID string
	due          time.Time
	answered     time.Time // zero: never
}

func newModel(t *testing.T, gc gen.Config) *model {
	t.Helper()
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	hours := g.TeamHours()
	type open struct {
		at        time.Time
		event     string
		team      string
		due       time.Time
		triggered bool
	}
	leads := map[string]*open{}
	m := &model{}
	var first, last time.Time
	var i schemas.Interaction
	var evs []schemas.Interaction
	for {
		i.Reset()
		if _, ok := g.Next(&i); !ok {
			break
		}
		m.events++
		if i.LeadID == "" {
			continue
		}
		evs = append(evs, schemas.Interaction{EventID: i.EventID, OccurredAt: i.OccurredAt, Type: i.Type, TeamID: i.TeamID, LeadID: i.LeadID})
	}
	// The generator emits in event-time order per rep; the detector sees
	// each lead's events in event-time order (give or take
	// out_of_orderness, which the generator's canonical stream does not
	// exceed).
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].OccurredAt.Before(evs[b].OccurredAt) })
	if len(evs) > 0 {
		first, last = evs[0].OccurredAt, evs[len(evs)-1].OccurredAt
	}
	_ = first
	closeLead := func(id string, l *open, answered time.Time) {
		if l.due.After(last) {
			return // the deadline is past the data
		}
		if !answered.IsZero() && !answered.After(l.due) {
			return
		}
		m.breaches = append(m.breaches, breach{
			lead: id, team: l.team, due: l.due, answered: answered,
			slaID: anomaly.AlertID(anomaly.RuleLeadResponseSLA, id, l.event),
			escID: anomaly.AlertID(anomaly.RuleLeadResponseEscalated, id, l.event),
		})
	}
	for k := range evs {
		e := &evs[k]
		switch {
		case e.Type == schemas.TypeLeadCreated || e.Type.Inbound():
			if leads[e.LeadID] == nil {
				h, ok := hours[e.TeamID]
				if !ok {
					t.Fatalf("event %s: team %q has no hours", e.EventID, e.TeamID)
				}
				leads[e.LeadID] = &open{at: e.OccurredAt, event: e.EventID, team: e.TeamID, due: businessAdd(t, h, e.OccurredAt, sla)}
			}
		case e.Type.Outbound():
			if l := leads[e.LeadID]; l != nil && !e.OccurredAt.Before(l.at) {
				closeLead(e.LeadID, l, e.OccurredAt)
				delete(leads, e.LeadID)
			}
		}
	}
	for id, l := range leads {
		closeLead(id, l, time.Time{})
	}
	return m
}

// businessAdd is from plus d of working time in h, walking the days: the
// working interval of each local work day, from the first one that ends
// after from.
func businessAdd(t *testing.T, h gen.Hours, from time.Time, d time.Duration) time.Time {
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	hm := func(s string) (int, int) {
		var hh, mm int
		if _, err := fmt.Sscanf(s, "%d:%d", &hh, &mm); err != nil {
			t.Fatalf("hours %q: %v", s, err)
		}
		return hh, mm
	}
	oh, om := hm(h.Open)
	ch, cm := hm(h.Close)
	work := map[string]bool{}
	for _, w := range h.WorkDays {
		work[strings.ToLower(w)[:3]] = true
	}
	l := from.In(loc)
	for n := 0; n < 400; n++ {
		y, mo, dd := l.Date()
		day := time.Date(y, mo, dd+n, 12, 0, 0, 0, loc)
		if !work[strings.ToLower(day.Weekday().String()[:3])] {
			continue
		}
		open := time.Date(day.Year(), day.Month(), day.Day(), oh, om, 0, 0, loc)
		closing := time.Date(day.Year(), day.Month(), day.Day(), ch, cm, 0, 0, loc)
		if !closing.After(from) {
			continue
		}
		if from.After(open) {
			open = from
		}
		if left := closing.Sub(open); d <= left {
			return open.Add(d)
		} else {
			d -= left
		}
	}
	t.Fatalf("no working time within 400 days of %s", from)
	return time.Time{}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	if !poll(d, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// poll reports whether cond held within d.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
	return true
}
