// Package e2e drives known canonical events, good and bad, through the
// whole product on embedded services — kfake → Kafka source → pipeline →
// ClickHouse sink → chDB over HTTP — and checks exact results: rows, rollup
// sums, dead letters with their reasons, metrics.
package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// chDB allows one data dir per process, so the package shares one stack.
var stack *devstack.Stack

func TestMain(m *testing.M) {
	code := m.Run()
	if stopStack != nil {
		stopStack()
	}
	os.Exit(code)
}

var stopStack func()

func startStack(t *testing.T) *devstack.Stack {
	t.Helper()
	testenv.RequireCHDB(t)
	if stack != nil {
		return stack
	}
	dir, err := os.MkdirTemp("", "salespulse-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	st, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 4,
	}, nil)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	stopStack = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "stack stopped with:", err)
		}
		os.RemoveAll(dir)
	}
	stack = st
	return st
}

func produce(t *testing.T, st *devstack.Stack, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...), kgo.ProducerBatchMaxBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func openCH(t *testing.T, st *devstack.Stack) *sql.DB {
	t.Helper()
	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{st.ClickHouseAddr()}, Protocol: clickhouse.HTTP})
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitFor polls until cond holds or the deadline passes. Tests wait for
// asynchronous delivery this way rather than sleeping a guessed duration.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestKnownEventsEndToEnd(t *testing.T) {
	st := startStack(t)
	db := openCH(t, st)

	// 600 good events from the generator's organisation, spread over reps,
	// channels and partitions by their keys.
	g, err := gen.New(func() gen.Config { c := gen.DefaultConfig(); c.Seed = 7; c.Days = 3; return c }())
	if err != nil {
		t.Fatal(err)
	}
	var good []*kgo.Record
	var want []schemas.Interaction
	byChannel := map[string]int64{}
	var durSum float64
	for len(good) < 600 {
		var i schemas.Interaction
		key, ok := g.Next(&i)
		if !ok {
			t.Fatal("generator ran out")
		}
		i.Normalize()
		good = append(good, &kgo.Record{Topic: "sales.canonical", Key: append([]byte(nil), key...), Value: schemas.AppendJSON(nil, &i)})
		want = append(want, i)
		byChannel[i.Channel.String()]++
		if i.Has&schemas.HasDuration != 0 {
			durSum += i.DurationS
		}
	}

	huge := `{"event_id":"huge-1","occurred_at":"2026-11-03T10:00:00Z","source":"crm","type":"message.outbound","rep_id":"rep-01-01","attributes":{"blob":"` + strings.Repeat("x", 2<<20) + `"}}`
	bad := []struct {
		value, rule, field string
	}{
		{`{"event_id":"m-1","occurred_at":`, "malformed", ""},
		{`{"event_id":"u-1","occurred_at":"2026-11-03T10:00:00Z","source":"crm","type":"message.teleported","rep_id":"rep-01-01"}`, "", "type"},
		{`{"occurred_at":"2026-11-03T10:00:00Z","source":"crm","type":"lead.created"}`, "required", "event_id"},
		{`{"event_id":"w-1","occurred_at":"2026-11-03T10:00:00Z","source":"crm","type":"quote.created","rep_id":"rep-01-01","discount_pct":"lots"}`, "", "discount_pct"},
		{`{"event_id":"r-1","occurred_at":"2026-11-03T10:00:00Z","source":"crm","type":"quote.created","rep_id":"rep-01-01","discount_pct":140}`, "must be between 0 and 100", "discount_pct"},
		{huge, "oversized", ""},
	}
	var recs []*kgo.Record
	recs = append(recs, good[:300]...)
	for k, b := range bad {
		recs = append(recs, &kgo.Record{Topic: "sales.canonical", Key: []byte(fmt.Sprintf("bad-%d", k)), Value: []byte(b.value)})
	}
	recs = append(recs, good[300:]...)
	produce(t, st, recs...)

	waitFor(t, "600 rows in salespulse.interactions", 60*time.Second, func() bool {
		return queryInt(t, db, "SELECT count() FROM salespulse.interactions") >= 600
	})
	// Give a wrongly duplicated batch the chance to show up before asserting.
	waitFor(t, "consumer lag 0", 30*time.Second, func() bool {
		return metric(t, st, "salespulse_kafka_consumer_lag") == 0
	})

	if n := queryInt(t, db, "SELECT count() FROM salespulse.interactions"); n != 600 {
		t.Errorf("interactions rows = %d, want exactly 600", n)
	}
	if n := queryInt(t, db, "SELECT uniqExact(event_id) FROM salespulse.interactions"); n != 600 {
		t.Errorf("distinct event ids = %d, want 600", n)
	}
	if n := queryInt(t, db, "SELECT sum(interactions) FROM salespulse.activity_per_minute"); n != 600 {
		t.Errorf("rollup total = %d, want 600 (equal to the raw rows)", n)
	}
	for ch, n := range byChannel {
		if got := queryInt(t, db, "SELECT sum(interactions) FROM salespulse.activity_per_minute WHERE channel = ?", ch); got != n {
			t.Errorf("rollup %s = %d, want %d", ch, got, n)
		}
	}
	var gotDur float64
	if err := db.QueryRow("SELECT sum(duration_s) FROM salespulse.activity_per_minute").Scan(&gotDur); err != nil {
		t.Fatal(err)
	}
	if diff := gotDur - durSum; diff > 1e-6 || diff < -1e-6 {
		t.Errorf("rollup duration sum = %v, want %v", gotDur, durSum)
	}
	// Spot-check one row field by field.
	w := want[42]
	var rep, typ, ch, ck string
	var at time.Time
	if err := db.QueryRow("SELECT rep_id, type, channel, occurred_at, contact_key FROM salespulse.interactions WHERE event_id = ?", w.EventID).Scan(&rep, &typ, &ch, &at, &ck); err != nil {
		t.Fatal(err)
	}
	if rep != w.RepID || typ != w.Type.String() || ch != w.Channel.String() || !at.Equal(w.OccurredAt.Truncate(time.Millisecond)) {
		t.Errorf("row %s = (%s %s %s %s), want (%s %s %s %s)", w.EventID, rep, typ, ch, at, w.RepID, w.Type, w.Channel, w.OccurredAt)
	}
	if !w.Contact.IsZero() && !strings.HasPrefix(ck, "dev:") {
		t.Errorf("contact_key = %q, want a dev pseudonym", ck)
	}

	// Exactly the bad records are in the dead-letter topic, with reasons.
	dl := readDLQ(t, st, len(bad))
	if len(dl) != len(bad) {
		t.Fatalf("dead letters = %d, want %d", len(dl), len(bad))
	}
	for k, b := range bad {
		r, ok := dl[fmt.Sprintf("bad-%d", k)]
		if !ok {
			t.Errorf("bad record %d missing from the dead-letter topic", k)
			continue
		}
		h := headers(r)
		if h["salespulse-topic"] != "sales.canonical" || h["salespulse-offset"] == "" || h["salespulse-partition"] == "" || h["salespulse-error"] == "" {
			t.Errorf("dead letter %d headers = %v, want origin topic/partition/offset and error", k, h)
		}
		if b.field != "" && h["salespulse-field"] != b.field {
			t.Errorf("dead letter %d field = %q, want %q (error %q)", k, h["salespulse-field"], b.field, h["salespulse-error"])
		}
		if b.rule != "" && !strings.Contains(h["salespulse-rule"]+" "+h["salespulse-error"], b.rule) {
			t.Errorf("dead letter %d: rule %q / error %q, want it to say %q", k, h["salespulse-rule"], h["salespulse-error"], b.rule)
		}
		if b.rule == "oversized" {
			if h["salespulse-truncated"] != fmt.Sprint(len(b.value)) || len(r.Value) >= len(b.value) {
				t.Errorf("oversized dead letter: truncated header %q, value %d bytes; want the original length %d and a cut value", h["salespulse-truncated"], len(r.Value), len(b.value))
			}
		} else if string(r.Value) != b.value {
			t.Errorf("dead letter %d value = %q, want the original record", k, r.Value)
		}
	}

	// Metrics: throughput and lag are exported on the admin endpoint.
	body := get(t, "http://"+st.HTTPAddr()+"/metrics")
	for _, name := range []string{"salespulse_kafka_consumer_lag{", "salespulse_pipeline_interactions_stored_total", "salespulse_kafka_dead_letters_total{", "salespulse_franz_"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// Stored once, by the ingest pipeline; the leads pipeline behind the
	// lead topics processes them again for the KBIs and stores only facts.
	if got := metric(t, st, "salespulse_pipeline_interactions_stored_total", "pipeline", "ingest"); got != 600 {
		t.Errorf("stored metric = %v, want 600", got)
	}
	if got := metric(t, st, "salespulse_kafka_dead_letters_total"); got != float64(len(bad)) {
		t.Errorf("dead letter metric = %v, want %d", got, len(bad))
	}
	if s := get(t, "http://"+st.HTTPAddr()+"/readyz"); !strings.HasPrefix(s, "ready") {
		t.Errorf("/readyz = %q", s)
	}
}

func readDLQ(t *testing.T, st *devstack.Stack, n int) map[string]*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...), kgo.ConsumeTopics("sales.dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]*kgo.Record{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out[string(r.Key)] = r })
	}
	// Anything beyond n would be a good event wrongly dead-lettered.
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out[string(r.Key)] = r })
	return out
}

func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric sums the series of name, only those with the label pairs given
// (name, value, ...) when some are.
func metric(t *testing.T, st *devstack.Stack, name string, labels ...string) float64 {
	t.Helper()
	v := testenv.SumMetric(st.Registry(), name, labels...)
	if v < 0 {
		t.Fatalf("gather %s", name)
	}
	return v
}
