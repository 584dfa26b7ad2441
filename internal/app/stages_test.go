package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/sources/canonical"
)

// TestIngestOnly runs pipeline.stages [privacy] on embedded Kafka and
// ClickHouse: the raw interactions arrive in ClickHouse, pseudonymised,
// and nothing stateful was built — no state store, window, detectors or
// alert producer, no lead topics, no state topic, no consumer groups of
// the lead hop.
func TestIngestOnly(t *testing.T) {
	testStages(t, []string{pipeline.StagePrivacy},
		[]string{"state store", "window", "anomaly", "contacts source", "leads source", "ticker", "alert feed"},
		[]string{"sales.canonical", "sales.dlq"},
		[]string{"salespulse"})
}

// TestStagesWithoutAnomaly: [privacy, window] keeps the lead hop and the
// state store for the windows, and builds no detectors and no alerts
// topics.
func TestStagesWithoutAnomaly(t *testing.T) {
	testStages(t, []string{pipeline.StagePrivacy, pipeline.StageWindow},
		[]string{"anomaly", "alert feed"},
		[]string{"sales.canonical", "sales.dlq", "salespulse.contacts", "salespulse.leads", "salespulse.state"},
		[]string{"salespulse", "salespulse.contacts", "salespulse.leads"})
}

// testStages runs an app with stages, feeds it 20 events and checks their
// raw rows arrive pseudonymised, that New built none of the steps notBuilt,
// and which topics and consumer groups exist afterwards.
func testStages(t *testing.T, stages, notBuilt, wantTopics, wantGroups []string) {
	testenv.RequireCHDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Topics are created on request only: a topic the app asked for
	// (or produced to) shows in the listing below.
	cluster, engine, chAddr := startServices(t, log, canonical.DefaultTopic)

	var cfg Config
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Topics = map[string]string{canonical.DefaultTopic: canonical.Name}
	cfg.ClickHouse.Addresses = []string{chAddr}
	cfg.ClickHouse.Protocol = "http"
	cfg.ClickHouse.Compression = "none"
	cfg.Privacy.Key = privacy.DevKey()
	cfg.Pipeline.Stages = stages

	var steps []string
	reg := prometheus.NewRegistry()
	a, err := New(ctx, cfg, Options{Logger: log, Registry: reg, failAfter: func(step string) error {
		steps = append(steps, step)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range notBuilt {
		if slices.Contains(steps, step) {
			t.Errorf("New built %q (steps %v)", step, steps)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for k := range 20 {
		id := fmt.Sprintf("e%02d", k)
		recs = append(recs, &kgo.Record{Topic: canonical.DefaultTopic, Key: []byte(id), Value: fmt.Appendf(nil,
			`{"event_id":%q,"occurred_at":"2026-11-03T10:%02d:00Z","source":"crm","type":"message.inbound","lead_id":"L-%d","contact":{"email":"person%d@example.com"}}`,
			id, k, k%5, k%5)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	query := func(q string) string {
		t.Helper()
		out, err := engine.Query(ctx, q, "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	for deadline := time.Now().Add(time.Minute); query("SELECT count() FROM salespulse.interactions") != "20"; {
		if time.Now().After(deadline) {
			t.Fatalf("rows in interactions: %s, want 20", query("SELECT count() FROM salespulse.interactions"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Pseudonymised with the dev key: privacy ran.
	if n := query("SELECT countIf(startsWith(contact_key, 'dev:')) FROM salespulse.interactions"); n != "20" {
		t.Errorf("rows with a dev pseudonym: %s, want 20", n)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := topics.Names(); !slices.Equal(got, wantTopics) {
		t.Errorf("topics = %v, want %v", got, wantTopics)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := groups.Groups(); !slices.Equal(got, wantGroups) {
		t.Errorf("consumer groups = %v, want %v", got, wantGroups)
	}
}
