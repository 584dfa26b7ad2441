package leads

import (
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/schemas"
)

// A lead on an otherwise quiet stream pages at its deadline: once the
// stream has been consumed and nothing new came for leads.tick_after, the
// app ticks the leads topic's partitions with wall time, and the SLA
// detector's clock follows (issue 13, first step). The alert is stamped
// with the deadline itself, whenever it fires.
func TestQuietStreamDeadlineFires(t *testing.T) {
	in := startInfra(t)
	c := appConfig(in, "quiet", map[string]string{"quiet.canonical": "canonical"})
	c.Leads.TickAfter = time.Second
	c.Anomaly.OutOfOrder = time.Second
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "m1", TeamID: "t1", Role: "manager"}}}

	r := runApp(t, c, org)
	ctx, stop := r.ctx, r.stop

	// The SLA (30 min by default) runs out 8 s from now.
	deadline := time.Now().Add(8 * time.Second).Truncate(time.Millisecond)
	lead := schemas.Interaction{EventID: "quiet-lead-1", OccurredAt: deadline.Add(-30 * time.Minute), Source: "test",
		Type: schemas.TypeLeadCreated, RepID: "r1", TeamID: "t1", LeadID: "L-quiet"}
	lead.Normalize()
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.kafka.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "quiet.canonical", Key: []byte("L-quiet"), Value: schemas.AppendJSON(nil, &lead)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{in.chAddr}, Protocol: clickhouse.HTTP})
	defer db.Close()
	var at time.Time
	if !waitRow(t, db, deadline.Add(30*time.Second), "SELECT at FROM quiet.alerts WHERE rule = 'lead_response_sla' AND state = 'firing'", &at) {
		t.Fatal("no SLA alert 30 s after the deadline on a quiet stream")
	}
	firedAfter := time.Since(deadline)
	t.Logf("alert stored %s after the wall-clock deadline", firedAfter.Round(100*time.Millisecond))
	if firedAfter < 0 {
		t.Fatalf("the alert fired %s before its deadline", -firedAfter)
	}
	if !at.Equal(deadline) {
		t.Fatalf("alert at %s, want the deadline %s", at, deadline)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// The last touch of a stream that stops is resolved once the stream has
// been quiet for leads.resolve_idle (the Ticker's nudge into the contacts
// topic), not at the first tick: here ticks would come after ten minutes,
// and the answer, a call that names only the lead's phone, still pairs
// with the lead and reaches lead_response_provisional. With ticks off
// (a backfill's setting) the nudge still comes.
func TestQuietStreamResolvesLastTouch(t *testing.T) {
	t.Run("ticks after 10 minutes", func(t *testing.T) { testQuietStreamResolvesLastTouch(t, "nudge", 10*time.Minute) })
	t.Run("ticks off", func(t *testing.T) { testQuietStreamResolvesLastTouch(t, "nudgeoff", -time.Second) })
}

func testQuietStreamResolvesLastTouch(t *testing.T, name string, tickAfter time.Duration) {
	in := startInfra(t)
	topic := name + ".canonical"
	createTopic(t, in, topic)
	c := appConfig(in, name, map[string]string{topic: "canonical"})
	c.Leads.TickAfter = tickAfter
	c.Leads.IdleTimeout = 10 * time.Minute
	c.Leads.ResolveIdle = time.Second
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "m1", TeamID: "t1", Role: "manager"}}}

	r := runApp(t, c, org)
	ctx, reg, stop := r.ctx, r.reg, r.stop

	now := time.Now().Truncate(time.Millisecond)
	lead := schemas.Interaction{EventID: "nudge-lead", OccurredAt: now.Add(-time.Minute), Source: "test",
		Type: schemas.TypeLeadCreated, RepID: "r1", TeamID: "t1", LeadID: "L-nudge",
		Contact: schemas.Contact{Phone: "+14155550142"}}
	call := schemas.Interaction{EventID: "nudge-call", OccurredAt: now, Source: "test",
		Type: schemas.TypeCallOutbound, RepID: "r1", TeamID: "t1", DurationS: 60, Has: schemas.HasDuration,
		Contact: schemas.Contact{Phone: "+14155550142"}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.kafka.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, i := range []*schemas.Interaction{&lead, &call} {
		i.Normalize()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(i.EventID), Value: schemas.AppendJSON(nil, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	stopped := time.Now()

	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{in.chAddr}, Protocol: clickhouse.HTTP})
	defer db.Close()
	var responder string
	if !waitRow(t, db, stopped.Add(2*time.Minute), `SELECT response_event_id FROM `+name+`.lead_response_provisional FINAL
			WHERE lead_id = 'L-nudge' AND is_answered = 1`, &responder) {
		t.Fatalf("the stopped stream's answer not paired in 2 minutes (tick_after %s)", tickAfter)
	}
	t.Logf("answer paired %s after the stream stopped", time.Since(stopped).Round(100*time.Millisecond))
	if responder != "nudge-call" {
		t.Fatalf("response %q, want the call", responder)
	}
	if ticks, nudges := testenv.SumMetric(reg, "salespulse_leads_ticks_total"), testenv.SumMetric(reg, "salespulse_leads_nudges_total"); ticks != 0 || nudges <= 0 {
		t.Fatalf("ticks %v, nudges %v: want the nudge alone", ticks, nudges)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
