package leads

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, c, app.Options{Org: org, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

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
	for {
		err := db.QueryRow("SELECT at FROM quiet.alerts WHERE rule = 'lead_response_sla' AND state = 'firing'").Scan(&at)
		if err == nil {
			break
		}
		if err != sql.ErrNoRows {
			t.Logf("query: %v", err)
		}
		if time.Since(deadline) > 30*time.Second {
			t.Fatal("no SLA alert 30 s after the deadline on a quiet stream")
		}
		time.Sleep(200 * time.Millisecond)
	}
	firedAfter := time.Since(deadline)
	t.Logf("alert stored %s after the wall-clock deadline", firedAfter.Round(100*time.Millisecond))
	if firedAfter < 0 {
		t.Fatalf("the alert fired %s before its deadline", -firedAfter)
	}
	if !at.Equal(deadline) {
		t.Fatalf("alert at %s, want the deadline %s", at, deadline)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
