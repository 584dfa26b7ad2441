package leads

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/schemas"
)

// Replaying the leads topic — the routed events, the progress marks and
// the wall-clock ticks that moved a quiet stream's time — through the
// window and anomaly stages of a new consumer group derives the same
// alerts (ids, at, states) and the same facts as the live run did: the
// ticks are records in the log, so the replay's clocks move where the
// live run's did (issue 13, "replaying the same records gives the same
// alerts and the same facts").
func TestReplayOfTicksDecidesAsLive(t *testing.T) {
	in := startInfra(t)
	// Names of their own per run: the package shares one Kafka and one
	// ClickHouse (-count=N reruns in the same process).
	n := time.Now().UnixNano() % 1e6
	topic := fmt.Sprintf("replay%d.canonical", n)
	first, again := fmt.Sprintf("replay%d_live", n), fmt.Sprintf("replay%d_again", n)
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.kafka.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	// Leads of the last four hours, on every partition: answered in time,
	// answered late (an SLA alert fires, then resolves), never answered
	// (fires and escalates at 4× the SLA); and two whose SLA runs out a
	// few seconds from now, fired by ticks alone. Nothing else falls due
	// for an hour after the run: the live run stops a few seconds after
	// the last alert, and ticks it wrote but did not consume change
	// nothing in the replay.
	now := time.Now().Truncate(time.Millisecond)
	var recs []*kgo.Record
	add := func(x schemas.Interaction) {
		x.Source, x.TeamID = "test", "t1"
		x.Normalize()
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(x.LeadID), Value: schemas.AppendJSON(nil, &x)})
	}
	var near time.Time
	for k := range 14 {
		lead := fmt.Sprintf("L-replay-%02d", k)
		rep := []string{"r1", "r2"}[k%2]
		created := now.Add(-4*time.Hour + time.Duration(k)*7*time.Minute)
		if k >= 12 {
			near = now.Add(-30*time.Minute + time.Duration(6+k-12)*time.Second)
			created = near
		}
		add(schemas.Interaction{EventID: lead + "-created", OccurredAt: created, Type: schemas.TypeLeadCreated, RepID: rep, LeadID: lead})
		answer := map[int]time.Duration{0: 10 * time.Minute, 1: 45 * time.Minute}[k%3]
		if answer > 0 && k < 12 {
			add(schemas.Interaction{EventID: lead + "-call", OccurredAt: created.Add(answer), Type: schemas.TypeCallOutbound, RepID: rep, LeadID: lead})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "r2", TeamID: "t1"}, {ID: "m1", TeamID: "t1", Role: "manager"}}}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	run := func(name string, cfg app.Config, only bool, until func() bool) {
		t.Helper()
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		a, err := app.New(rctx, cfg, app.Options{Org: org, Registry: prometheus.NewRegistry(), LeadsFlowOnly: only,
			Logger: logger.With("instance", name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		for !until() {
			select {
			case err := <-done:
				t.Fatalf("%s ended early: %v", name, err)
			case <-ctx.Done():
				t.Fatalf("%s: %v", name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{in.chAddr}, Protocol: clickhouse.HTTP})
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil && err != sql.ErrNoRows {
			t.Logf("query: %v", err)
		}
		return n
	}

	// The live run: every flow and the ticker, until both near leads
	// fired and a few more ticks went by.
	live := appConfig(in, first, map[string]string{topic: "canonical"})
	live.Leads.TickAfter = time.Second
	live.Anomaly.OutOfOrder = time.Second
	var fired time.Time
	run("live", live, false, func() bool {
		if fired.IsZero() {
			if count("SELECT count() FROM "+first+".alerts WHERE rule = 'lead_response_sla' AND state = 'firing' AND at >= "+
				fmt.Sprintf("fromUnixTimestamp64Milli(%d)", near.Add(-time.Second).Add(30*time.Minute).UnixMilli())) < 2 {
				return false
			}
			fired = time.Now()
		}
		return time.Since(fired) > 3*time.Second
	})

	// The replay: a new group reads the live run's leads topic from the
	// start, with the same source topics (the same upstreams to wait
	// for), into its own database. No ticks of its own.
	rep := appConfig(in, again, map[string]string{topic: "canonical"})
	rep.Leads.LeadsTopic = first + ".leads"
	// The resolvers' marks in that log name the live contacts topic's
	// partitions, and the replay waits for each of them (they relay the
	// ticks); the leads flow alone never reads or writes that topic.
	rep.Leads.ContactsTopic = first + ".contacts"
	// Its own state: with the live run's, its detectors restored what
	// the live run had checkpointed for the same input partitions, and
	// 2 of the 14 alerts went missing in about half the runs once the
	// replay's event time moved with the resolvers' marks.
	rep.State.Topic = again + ".state"
	rep.Leads.TickAfter = -time.Second
	rep.Anomaly.OutOfOrder = time.Second
	ends, err := adm.ListEndOffsets(ctx, first+".leads")
	if err != nil {
		t.Fatal(err)
	}
	var ticks int64
	ends.Each(func(o kadm.ListedOffset) { ticks += o.Offset })
	t.Logf("the live run wrote %d records into %s.leads (events, marks and ticks)", ticks, first)
	run("replay", rep, true, func() bool {
		return caughtUp(t, adm, map[string][]string{again + ".leads": {first + ".leads"}})
	})

	rows := func(q string) []string {
		t.Helper()
		r, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct{ what, q string }{
		{"alerts", "SELECT DISTINCT toString(tuple(id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, mapSort(`values`), at, ends_at, version)) FROM %s.alerts"},
		// The origin columns name the batch, whose cuts a replay by another group need not repeat.
		{"lead response facts", "SELECT DISTINCT toString(tuple(*)) FROM (SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) FROM %s.lead_response_facts)"},
		{"late events", "SELECT DISTINCT toString(tuple(event_id)) FROM %s.late_events"},
	} {
		a, b := rows(fmt.Sprintf(c.q, first)), rows(fmt.Sprintf(c.q, again))
		t.Logf("%s: %d live, %d replayed", c.what, len(a), len(b))
		missing, extra := diff(a, b)
		for _, m := range missing {
			t.Errorf("%s: live only: %s", c.what, m)
		}
		for _, m := range extra {
			t.Errorf("%s: replay only: %s", c.what, m)
		}
	}
	// What the comparison covers: every kind of alert state and of fact.
	for q, min := range map[string]int{
		"SELECT count() FROM %s.alerts WHERE rule = 'lead_response_sla' AND state = 'firing'":           6,
		"SELECT count() FROM %s.alerts WHERE rule = 'lead_response_sla' AND state = 'resolved'":         4,
		"SELECT count() FROM %s.alerts WHERE rule = 'lead_response_sla_escalated' AND state = 'firing'": 4,
		"SELECT count() FROM %s.lead_response_facts WHERE is_answered = 1":                              8,
	} {
		q = fmt.Sprintf(q, first)
		if n := count(q); n < min {
			t.Errorf("%s: %d, want at least %d", q, n, min)
		}
	}
}
