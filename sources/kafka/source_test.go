package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// testDecoder parses {"id":"..."} strictly: the canonical decoder lives in
// another package and is not what these tests are about.
type testDecoder struct{}

func (testDecoder) Decode(dst []schemas.Interaction, v []byte) ([]schemas.Interaction, error) {
	var in struct {
		ID    *string `json:"id"`
		Skip  bool    `json:"skip"`
		Panic bool    `json:"panic"`
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return dst, fmt.Errorf("test: decode: %w", err)
	}
	switch {
	case in.Panic:
		panic("boom")
	case in.Skip:
		return dst, nil
	case in.ID == nil || *in.ID == "":
		return dst, schemas.Invalid("test", "id", "", "required")
	}
	return append(dst, schemas.Interaction{
		EventID: *in.ID, Source: "test", Type: schemas.TypeLeadCreated,
		OccurredAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}), nil
}

func newCluster(t testing.TB, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, "in"),
		kfake.SeedTopics(1, "sales.dlq"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(8 << 20)}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func produce(t testing.TB, c *kfake.Cluster, topic string, part int32, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(8<<20), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, len(values))
	for k, v := range values {
		rs[k] = &kgo.Record{Topic: topic, Partition: part, Key: []byte("k" + strconv.Itoa(k)), Value: []byte(v)}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func ids(from, to int) []string {
	var out []string
	for k := from; k < to; k++ {
		out = append(out, fmt.Sprintf(`{"id":"e%d"}`, k))
	}
	return out
}

func testConfig(c *kfake.Cluster, mod func(*Config)) Config {
	cfg := Config{
		Brokers:        c.ListenAddrs(),
		Group:          "g",
		Topics:         map[string]string{"in": "test"},
		BatchLinger:    50 * time.Millisecond,
		CommitInterval: 50 * time.Millisecond,
		RevokeTimeout:  2 * time.Second,
		SessionTimeout: 6 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func newSource(t testing.TB, cfg Config, opts ...kgo.Opt) *Source {
	t.Helper()
	s, err := NewSource(cfg, map[string]Decoder{"in": testDecoder{}}, prometheus.NewRegistry(), nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func next(t testing.TB, s *Source) *schemas.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return b
}

// expectNothing runs Next briefly and fails if a batch arrives. It also
// gives the source a poll cycle to commit acknowledged work.
func expectNothing(t testing.TB, s *Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if b, err := s.Next(ctx); err == nil {
		t.Fatalf("unexpected batch %v", b.Origin)
	}
}

func origin(first, last int64) schemas.Origin {
	return schemas.Origin{Topic: "in", Partition: 0, FirstOffset: first, LastOffset: last}
}

func eventIDs(b *schemas.Batch) []string {
	var out []string
	for _, i := range b.Interactions {
		out = append(out, i.EventID)
	}
	return out
}

func committed(t testing.TB, c *kfake.Cluster, part int32) (int64, string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup("in", part)
	if !ok {
		return -1, ""
	}
	return o.At, o.Metadata
}

func TestDeliversEachPartitionInOrder(t *testing.T) {
	c := newCluster(t, 3)
	for p := range int32(3) {
		produce(t, c, "in", p, ids(int(p)*100, int(p)*100+100)...)
	}
	s := newSource(t, testConfig(c, func(c *Config) { c.BatchMaxRows = 7 }))

	nextOff := map[int32]int64{}
	nextID := map[int32]int{0: 0, 1: 100, 2: 200}
	total := 0
	for total < 300 {
		b := next(t, s)
		o := b.Origin
		if o.FirstOffset != nextOff[o.Partition] {
			t.Fatalf("batch %v does not start where the previous one of its partition ended (%d)", o, nextOff[o.Partition])
		}
		if got := int(o.LastOffset-o.FirstOffset) + 1; got != b.Len() {
			t.Fatalf("batch %v holds %d interactions, want %d", o, b.Len(), got)
		}
		for _, id := range eventIDs(b) {
			if want := fmt.Sprintf("e%d", nextID[o.Partition]); id != want {
				t.Fatalf("partition %d: got %s, want %s", o.Partition, id, want)
			}
			nextID[o.Partition]++
		}
		nextOff[o.Partition] = o.LastOffset + 1
		total += b.Len()
		b.Ack(nil)
	}
}

func TestCommitsOnlyAcknowledgedBatches(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "in", 0, ids(0, 10)...)
	cfg := testConfig(c, func(c *Config) { c.BatchMaxRows = 5 })

	a := newSource(t, cfg)
	b1, b2 := next(t, a), next(t, a)
	if b1.Origin != origin(0, 4) || b2.Origin != origin(5, 9) {
		t.Fatalf("got %v and %v", b1.Origin, b2.Origin)
	}
	b1.Ack(nil) // b2 is never acknowledged
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	a.Close(ctx)
	if off, meta := committed(t, c, 0); off != 5 || meta != "sp1:9" {
		t.Fatalf("committed %d %q, want 5 \"sp1:9\"", off, meta)
	}

	b := newSource(t, cfg)
	got := next(t, b)
	if got.Origin != origin(5, 9) || got.Len() != 5 {
		t.Fatalf("redelivered %v with %d interactions, want %v with 5", got.Origin, got.Len(), origin(5, 9))
	}
	got.Ack(nil)
	b.Close(context.Background())

	produce(t, c, "in", 0, ids(10, 11)...)
	c3 := newSource(t, cfg)
	got = next(t, c3)
	if got.Origin != origin(10, 10) {
		t.Fatalf("after all acks got %v, want only the new record %v", got.Origin, origin(10, 10))
	}
}

func TestOutOfOrderAcksDoNotPassAnUnackedBatch(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "in", 0, ids(0, 6)...)
	s := newSource(t, testConfig(c, func(c *Config) { c.BatchMaxRows = 2 }))
	b1, b2, b3 := next(t, s), next(t, s), next(t, s)
	b3.Ack(nil)
	b2.Ack(nil)
	expectNothing(t, s, 300*time.Millisecond)
	if off, meta := committed(t, c, 0); off != 0 || meta != "sp1:1,3,5" {
		t.Fatalf("with the first batch unacked committed %d %q, want 0 \"sp1:1,3,5\"", off, meta)
	}
	b1.Ack(nil)
	expectNothing(t, s, 300*time.Millisecond)
	if off, meta := committed(t, c, 0); off != 6 || meta != "sp1:" {
		t.Fatalf("after all acks committed %d %q, want 6 \"sp1:\"", off, meta)
	}
}

func TestAckErrorRedeliversFromThatBatch(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "in", 0, ids(0, 6)...)
	s := newSource(t, testConfig(c, func(c *Config) { c.BatchMaxRows = 2 }))
	b1, b2 := next(t, s), next(t, s)
	b2.Ack(errors.New("sink down"))
	b1.Ack(nil)
	var got []schemas.Origin
	var ids []string
	for len(got) < 2 {
		b := next(t, s)
		got = append(got, b.Origin)
		ids = append(ids, eventIDs(b)...)
		b.Ack(nil)
	}
	if got[0] != origin(2, 3) || got[1] != origin(4, 5) {
		t.Fatalf("after Ack(err) of [2,3] got %v, want [2,3] then [4,5]", got)
	}
	if fmt.Sprint(ids) != "[e2 e3 e4 e5]" {
		t.Fatalf("redelivered %v", ids)
	}
	expectNothing(t, s, 200*time.Millisecond)
	if off, _ := committed(t, c, 0); off != 6 {
		t.Fatalf("committed %d, want 6", off)
	}
}

func TestDeadLetters(t *testing.T) {
	c := newCluster(t, 1)
	big := `{"id":"` + string(bytes.Repeat([]byte("x"), 2<<20)) + `"}`
	values := []string{
		`{"id":"e0"}`,
		`{"id":`,    // malformed JSON
		`{"id":""}`, // FieldError
		big,         // 2 MB, over max_record_bytes
		`{"panic":true}`,
		`{"skip":true}`,
		`{"id":"e6"}`,
	}
	produce(t, c, "in", 0, values...)
	s := newSource(t, testConfig(c, func(c *Config) { c.MaxRecordBytes = 1 << 20 }))

	var interactions []string
	rejected := 0
	for off := int64(-1); off < 6; {
		b := next(t, s)
		interactions = append(interactions, eventIDs(b)...)
		rejected += b.Rejected
		off = b.Origin.LastOffset
		b.Ack(nil)
	}
	if fmt.Sprint(interactions) != "[e0 e6]" || rejected != 4 {
		t.Fatalf("got interactions %v and %d rejected, want [e0 e6] and 4", interactions, rejected)
	}
	for _, rule := range []string{"malformed", "required", "oversized", "panic"} {
		if n := testutil.ToFloat64(s.m.DeadLetters.WithLabelValues("test", rule)); n != 1 {
			t.Errorf("dead letters with rule %s counted %v, want 1", rule, n)
		}
	}
	if n := testutil.ToFloat64(s.m.Skipped.WithLabelValues("test")); n != 1 {
		t.Errorf("skipped counted %v, want 1", n)
	}
	if n := testutil.ToFloat64(s.m.Records.WithLabelValues("in")); n != 7 {
		t.Errorf("records counted %v, want 7", n)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("sales.dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var dls []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(dls) < 4 && ctx.Err() == nil {
		dls = append(dls, cl.PollFetches(ctx).Records()...)
	}
	if len(dls) != 4 {
		t.Fatalf("%d dead letters, want 4", len(dls))
	}
	headers := func(r *kgo.Record) map[string]string {
		m := map[string]string{}
		for _, h := range r.Headers {
			m[h.Key] = string(h.Value)
		}
		return m
	}
	for k, tc := range []struct {
		offset int
		want   map[string]string
	}{
		{1, map[string]string{HeaderError: "test: decode: unexpected EOF", HeaderRule: "malformed"}},
		{2, map[string]string{HeaderError: "test: field id: required", HeaderField: "id", HeaderRule: "required"}},
		{3, map[string]string{HeaderError: "record of 2097161 bytes exceeds max_record_bytes 1048576", HeaderTruncated: "2097161", HeaderRule: "oversized"}},
		{4, map[string]string{HeaderError: "decoder panic: boom", HeaderRule: "panic"}},
	} {
		r := dls[k]
		want := map[string]string{
			HeaderSource: "test", HeaderTopic: "in", HeaderPartition: "0", HeaderOffset: strconv.Itoa(tc.offset),
			HeaderTimestamp: r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		}
		for hk, hv := range tc.want {
			want[hk] = hv
		}
		if got := headers(r); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("dead letter %d headers\n got %v\nwant %v", k, got, want)
		}
		if string(r.Key) != "k"+strconv.Itoa(tc.offset) {
			t.Errorf("dead letter %d key %q, want the original", k, r.Key)
		}
		wantValue := values[tc.offset]
		if len(wantValue) > 900<<10 {
			wantValue = wantValue[:900<<10]
		}
		if string(r.Value) != wantValue {
			t.Errorf("dead letter %d value (%d bytes) is not the original (%d bytes)", k, len(r.Value), len(wantValue))
		}
	}
}

func TestDeterministicCutsAfterCrash(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "in", 0, ids(0, 3)...)
	a := newSource(t, testConfig(c, func(c *Config) { c.BatchMaxRows = 100 }))
	first := next(t, a) // cut by linger at [0,2]
	if first.Origin != origin(0, 2) {
		t.Fatalf("got %v", first.Origin)
	}
	if first.MaybeStored {
		t.Fatal("a first cut, planned by nobody, is marked MaybeStored")
	}
	// The process dies with the batch possibly stored but not acked: no
	// commit of ours runs.
	a.stopLife()
	a.cl.Close()

	// More data arrives, and the new owner would cut differently on its own.
	produce(t, c, "in", 0, ids(3, 10)...)
	b := newSource(t, testConfig(c, func(c *Config) { c.BatchMaxRows = 100 }))
	got := next(t, b)
	if got.Origin != first.Origin {
		t.Fatalf("replay cut %v, want the same range %v (same dedup token)", got.Origin, first.Origin)
	}
	if got.Origin.DedupToken("t") != first.Origin.DedupToken("t") {
		t.Fatal("dedup tokens differ")
	}
	// Cut by the recorded plan: a grouping sink must look before it writes.
	if !got.MaybeStored {
		t.Fatal("the replayed cut is not marked MaybeStored")
	}
	got.Ack(nil)
	rest := next(t, b)
	if rest.Origin != origin(3, 9) {
		t.Fatalf("then got %v, want %v", rest.Origin, origin(3, 9))
	}
	if rest.MaybeStored {
		t.Fatal("a cut past the recorded plan is marked MaybeStored")
	}
}

func TestRebalanceLosesNothing(t *testing.T) {
	c := newCluster(t, 4)
	const perPart = 150
	for p := range int32(4) {
		produce(t, c, "in", p, ids(int(p)*perPart, int(p)*perPart+perPart)...)
	}
	cfg := testConfig(c, func(c *Config) { c.BatchMaxRows = 10 })

	var mu sync.Mutex
	seen := map[string]int{}
	acked := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	consume := func(s *Source, slow time.Duration) {
		for {
			b, err := s.Next(ctx)
			if err != nil {
				return
			}
			time.Sleep(slow)
			mu.Lock()
			for _, id := range eventIDs(b) {
				seen[id]++
				acked[id]++
			}
			n := len(seen)
			mu.Unlock()
			b.Ack(nil)
			if n == 4*perPart {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		}
	}
	a := newSource(t, cfg)
	var wg sync.WaitGroup
	wg.Go(func() { consume(a, 5*time.Millisecond) })
	// Let a consume part of the stream, then a second member joins.
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 100 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := newSource(t, cfg)
	wg.Go(func() { consume(b, 5*time.Millisecond) })
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("only %d of %d events delivered", len(seen), 4*perPart)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for id, n := range acked {
		if n > 1 {
			t.Errorf("%s acked %d times: an acknowledged batch was redelivered", id, n)
		}
	}
}

// TestPartitionPausedWhenRevokedIsFetchedWhenRegained: the client keeps a
// partition paused across a revoke (franz-go's pauses persist until
// resumed, whoever owns the partition), while the source forgets the
// partition with its paused flag. A member that got a partition back which
// it had paused at its in-flight bound then never fetched it again: the
// kbi crash-and-rebalance test hung with the survivor idle and the group's
// commit short of the end.
// quickMember is a group member with quick heartbeats, so it learns of
// each rebalance at once; closed when t ends.
func quickMember(t *testing.T, cfg Config) *Source {
	t.Helper()
	return newSource(t, cfg, kgo.HeartbeatInterval(100*time.Millisecond))
}

func TestPartitionPausedWhenRevokedIsFetchedWhenRegained(t *testing.T) {
	c := newCluster(t, 2)
	for p := range int32(2) {
		produce(t, c, "in", p, ids(int(p)*100, int(p)*100+4)...)
	}
	// One batch in flight per partition: handing out a partition's first
	// batch pauses it.
	cfg := testConfig(c, func(c *Config) {
		c.BatchMaxRows = 2
		c.MaxInFlightBatches = 1
		c.RevokeTimeout = 200 * time.Millisecond
	})
	newMember := func() *Source { return quickMember(t, cfg) }

	a := newMember()
	held := map[int32]*schemas.Batch{}
	for len(held) < 2 {
		b := next(t, a)
		held[b.Origin.Partition] = b
	}
	if got := a.cl.PauseFetchPartitions(nil)["in"]; len(got) != 2 {
		t.Fatalf("with a batch of each partition in flight the client pauses %v, want both partitions", got)
	}

	// A second member joins: a gives one partition (paused) up to it, then
	// b consumes that partition from its start, commits it and leaves.
	b := newMember()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var q int32 = -1
	for {
		got, err := b.Next(ctx)
		if err != nil {
			t.Fatalf("second member: Next: %v", err)
		}
		q = got.Origin.Partition
		got.Ack(nil)
		if got.Origin.LastOffset == 3 {
			break
		}
	}
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	if err := b.Close(closeCtx); err != nil {
		t.Fatalf("second member: Close: %v", err)
	}
	if off, _ := committed(t, c, q); off != 4 {
		t.Fatalf("second member committed partition %d at %d, want 4", q, off)
	}

	// a gets q back and must consume what arrives on it.
	for p := range int32(2) {
		produce(t, c, "in", p, ids(int(p)*100+4, int(p)*100+6)...)
	}
	held[1-q].Ack(nil) // the batch of the partition a kept
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	for {
		got, err := a.Next(wctx)
		if err != nil {
			a.mu.Lock()
			owned := len(a.parts)
			a.mu.Unlock()
			t.Fatalf("first member never delivered partition %d after getting it back (owns %d partitions, client pauses %v): %v",
				q, owned, a.cl.PauseFetchPartitions(nil), err)
		}
		got.Ack(nil)
		if o := got.Origin; o.Partition == q {
			if o.FirstOffset != 4 || o.LastOffset != 5 {
				t.Fatalf("partition %d regained: got %v, want offsets 4-5", q, o)
			}
			return
		}
	}
}

// BenchmarkNextAck measures records/s through Next and Ack on kfake, with
// a trivial decoder: the source's own overhead (fetch, cut, commit).
//
//	go test ./sources/kafka -run '^$' -bench NextAck -benchtime=200000x -count=6 | benchstat -
func BenchmarkNextAck(b *testing.B) {
	c := newCluster(b, 4)
	val := `{"id":"e0000000"}`
	vals := make([]string, 0, b.N/4+1)
	for range b.N/4 + 1 {
		vals = append(vals, val)
	}
	for p := range int32(4) {
		produce(b, c, "in", p, vals...)
	}
	s, err := NewSource(testConfig(c, func(c *Config) { c.BatchMaxRows = 5000 }),
		map[string]Decoder{"in": trivialDecoder{}}, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	b.ReportAllocs()
	b.SetBytes(int64(len(val)))
	b.ResetTimer()
	nextAckAll(b, s)
}

// nextAckAll takes and acknowledges batches until b.N records have come,
// and reports records/s.
func nextAckAll(b *testing.B, s *Source) {
	ctx := context.Background()
	for n := 0; n < b.N; {
		bt, err := s.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n += int(bt.Origin.LastOffset-bt.Origin.FirstOffset) + 1
		bt.Ack(nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type trivialDecoder struct{}

func (trivialDecoder) Decode(dst []schemas.Interaction, v []byte) ([]schemas.Interaction, error) {
	return append(dst, schemas.Interaction{EventID: "x", Source: "bench", Type: schemas.TypeLeadCreated}), nil
}

// BenchmarkNextAckBatches is BenchmarkNextAck with records of a canonical
// event's size (300 bytes), the default batch_max_rows and fetches of
// 128 KiB, so that, as in a drain of the embedded stack (chunks of a few
// hundred records), a batch spans dozens of decoded chunks: the cost of
// assembling batches of 448-byte interactions (arena.go), per record.
//
//	go test ./sources/kafka -run '^$' -bench NextAckBatches -benchtime=240000x -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkNextAckBatches(b *testing.B) {
	const parts = 4
	c := newCluster(b, parts)
	val := `{"id":"e0000000"` + strings.Repeat(" ", 300-len(`{"id":"e0000000"}`)) + `}`
	vals := make([]string, 0, b.N/parts+1)
	for range b.N/parts + 1 {
		vals = append(vals, val)
	}
	for p := range int32(parts) {
		produce(b, c, "in", p, vals...)
	}
	s, err := NewSource(testConfig(c, func(c *Config) { c.BatchLinger = time.Second; c.FetchMaxBytes = 128 << 10 }),
		map[string]Decoder{"in": trivialDecoder{}}, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	b.ReportAllocs()
	b.SetBytes(int64(len(val)))
	cpu0 := cpuTime(b)
	b.ResetTimer()
	nextAckAll(b, s)
	// Process CPU (kfake included) is steadier than wall time on a shared
	// machine.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/record")
}
