package kafkaio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/pipeline/state"
)

const forwardTopic = "salespulse.leads"

// forwardStore is a claimed store of a kfake cluster with a 12-partition
// forwardTopic.
func forwardStore(tb testing.TB, opts ...kgo.Opt) (*kfake.Cluster, *StateStore) {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(12, forwardTopic))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	s, err := NewStateStore(StateConfig{RestoreTimeout: 30 * time.Second}, group, append(conn(c), opts...), prometheus.NewRegistry(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	ctx := context.Background()
	if err := s.Ensure(ctx, 12); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Load(ctx, state.Route, input, 0); err != nil {
		tb.Fatal(err)
	}
	return c, s
}

// forwarded is a batch's worth of forwarded interactions: n messages of
// ~300 bytes keyed by lead, and the batch's progress record.
func forwarded(first, n int) ([]state.Message, []state.Record) {
	msgs := make([]state.Message, n)
	rnd := rand.New(rand.NewPCG(1, 2))
	for k := range msgs {
		// Random bytes after the sequence number: the producer's
		// compression leaves the request as large as the records.
		v := fmt.Appendf(make([]byte, 0, 300), "%08d", first+k)
		for len(v) < 300 {
			v = append(v, byte(rnd.Uint32()))
		}
		msgs[k] = state.Message{Topic: forwardTopic, Key: fmt.Appendf(nil, "L-%d", (first+k)%5000), Value: v}
	}
	return msgs, []state.Record{{Key: []byte("progress"), Value: fmt.Appendf(nil, "%d", first+n)}}
}

// A transaction larger than a chunk is produced in several, and a
// read_committed consumer sees all of it, each key's messages in order,
// with its state.
func TestForwardInChunks(t *testing.T) {
	c, s := forwardStore(t)
	const n = 12_000 // ~3.6 MB: many chunks
	msgs, recs := forwarded(0, n)
	for k := range 2000 { // and state records past a chunk of their own
		recs = append(recs, state.Record{Key: fmt.Appendf(nil, "id-%05d", k), Value: make([]byte, 600)})
	}
	if err := s.Forward(t.Context(), state.Route, input, 0, recs, msgs); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(conn(c), kgo.ConsumeTopics(forwardTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	last := map[string]int{}
	got := 0
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d forwarded messages: %v", got, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var seq int
			fmt.Sscanf(string(r.Value[:8]), "%d", &seq)
			if p, ok := last[string(r.Key)]; ok && seq <= p {
				t.Fatalf("key %s: message %d after %d", r.Key, seq, p)
			}
			last[string(r.Key)] = seq
			got++
		})
	}
	s2, err := NewStateStore(StateConfig{RestoreTimeout: 30 * time.Second}, group, conn(c), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, err := s2.Load(t.Context(), state.Route, input, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(recs) || string(st["progress"]) != fmt.Sprint(n) {
		t.Fatalf("state: %d keys, progress %q; want %d keys, progress %d", len(st), st["progress"], len(recs), n)
	}
}

// BenchmarkForward: one input partition's transaction per op, a batch of
// 20,000 forwarded interactions (kafka.batch_max_rows) of ~300 bytes to
// 12 partitions, against kfake. max-request-B is the largest produce
// request the claim producer wrote: about the size of the request buffer
// its pool keeps (the records are encoded uncompressed into it first) (kfake, in process, keeps every record, so the heap itself
// says nothing here).
//
//	go test ./internal/kafkaio -run '^$' -bench Forward -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkForward(b *testing.B) {
	var w maxProduceWrite
	_, s := forwardStore(b, kgo.WithHooks(&w))
	const n = 20_000
	msgs, recs := forwarded(0, n)
	b.SetBytes(int64(n * 300))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Forward(context.Background(), state.Route, input, 0, recs, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.max.Load()), "max-request-B")
}

// maxProduceWrite keeps the size of the largest produce request written.
type maxProduceWrite struct{ max atomic.Int64 }

func (w *maxProduceWrite) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key != 0 { // Produce
		return
	}
	for {
		m := w.max.Load()
		if int64(n) <= m || w.max.CompareAndSwap(m, int64(n)) {
			return
		}
	}
}

var _ kgo.HookBrokerWrite = (*maxProduceWrite)(nil)
