package kafkaio

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

const testTopic = "salespulse.interactions"

func newGenCluster(t testing.TB) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

// consumeAll reads the topic from the start until it has want records.
func consumeAll(t *testing.T, c *kfake.Cluster, want int64) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(testTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d of %d records: %v", len(out), want, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceDeliversEveryEvent(t *testing.T) {
	c, cl := newGenCluster(t)
	cfg := gen.DefaultConfig()
	cfg.Teams, cfg.Days = 2, 2
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var calls []Progress
	n, err := Produce(context.Background(), cl, testTopic, g, ProduceOptions{
		MaxInFlight: 64, ProgressEvery: 1000, Progress: func(p Progress) { calls = append(calls, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); n != st.Events || n == 0 {
		t.Fatalf("Produce acknowledged %d records, the generator emitted %d", n, st.Events)
	}
	if last := calls[len(calls)-1]; last.Acked != n || last.Produced != n || len(calls) != int(n/1000)+1 {
		t.Fatalf("progress: %d calls, last %+v; want %d calls ending at %d", len(calls), last, n/1000+1, n)
	}

	recs := consumeAll(t, c, n)
	if int64(len(recs)) != n {
		t.Fatalf("consumed %d records, produced %d", len(recs), n)
	}
	partitionOf := map[string]int32{}
	ids := map[string]bool{}
	for _, r := range recs {
		var v struct {
			EventID   string `json:"event_id"`
			RepID     string `json:"rep_id"`
			AccountID string `json:"account_id"`
			LeadID    string `json:"lead_id"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("record at %d/%d: %v: %s", r.Partition, r.Offset, err, r.Value)
		}
		ids[v.EventID] = true
		want := v.RepID
		if v.LeadID != "" {
			want = v.LeadID
		} else if v.AccountID != "" {
			want = v.AccountID
		}
		if string(r.Key) != want {
			t.Fatalf("%s: key %q, want %q", v.EventID, r.Key, want)
		}
		if p, ok := partitionOf[want]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", want, p, r.Partition)
		}
		partitionOf[want] = r.Partition
	}
	if int64(len(ids)) != n {
		t.Fatalf("%d distinct event ids in %d records: buffers were reused too early", len(ids), n)
	}
}

// fakeClock is a wall clock that only moves when Produce sleeps.
type fakeClock struct {
	now    time.Time
	slept  time.Duration
	calls  int
	onCall func(n int)
}

func (f *fakeClock) Now() time.Time { return f.now }

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.calls++
	if f.onCall != nil {
		f.onCall(f.calls)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.now = f.now.Add(d)
	f.slept += d
	return nil
}

func TestProduceHonoursSpeed(t *testing.T) {
	_, cl := newGenCluster(t)
	cfg := gen.DefaultConfig()
	cfg.Teams, cfg.Days, cfg.Speed = 1, 1, 3600 // an hour of event time per second
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var first time.Time
	n, err := Produce(context.Background(), cl, testTopic, g, ProduceOptions{
		Now: clock.Now, Sleep: clock.Sleep, ProgressEvery: 1,
		Progress: func(p Progress) {
			if first.IsZero() {
				first = p.EventTime
			}
		},
	})
	if err != nil || n == 0 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
	span := g.Stats().LastEventTime.Sub(first)
	want := time.Duration(float64(span) / cfg.Speed)
	if d := clock.slept - want; d < -time.Millisecond*time.Duration(n) || d > 0 {
		// Sleeps shorter than a millisecond are skipped, so the total may
		// fall short by at most that per record, never exceed.
		t.Fatalf("slept %v for %v of event time at speed %v, want %v", clock.slept, span, cfg.Speed, want)
	}
	if clock.slept < want*9/10 {
		t.Fatalf("slept %v, want about %v", clock.slept, want)
	}
}

func TestProduceStopsOnContext(t *testing.T) {
	c, cl := newGenCluster(t)
	cfg := gen.DefaultConfig()
	cfg.Days, cfg.Speed = 0, 60
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{now: time.Now(), onCall: func(n int) {
		if n == 500 {
			cancel()
		}
	}}
	n, err := Produce(ctx, cl, testTopic, g, ProduceOptions{Now: clock.Now, Sleep: clock.Sleep})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n == 0 {
		t.Fatal("nothing was delivered before the stop")
	}
	// Everything handed to the client before the stop was flushed.
	if recs := consumeAll(t, c, n); int64(len(recs)) != n {
		t.Fatalf("consumed %d, acknowledged %d", len(recs), n)
	}
}

func TestProduceReportsFailures(t *testing.T) {
	_, cl := newGenCluster(t)
	g, err := gen.New(gen.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Without a topic (and no DefaultProduceTopic) the client fails each
	// record in its promise: Produce must stop and say so.
	_, err = Produce(context.Background(), cl, "", g, ProduceOptions{Limit: 10, FlushTimeout: 10 * time.Second})
	if err == nil {
		t.Fatal("producing to an empty topic name succeeded")
	}
}

// BenchmarkProduce measures generate + encode + produce into an in-process
// kfake broker; events/s is the figure to watch.
//
//	go test ./internal/kafkaio -run '^$' -bench Produce -benchtime=3x -count=3
func BenchmarkProduce(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"snappy", nil}, // the client's default compression
		{"uncompressed", []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression())}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, testTopic))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, bc.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			cfg := gen.DefaultConfig()
			cfg.Days = 0
			g, err := gen.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			const perOp = 200000
			var in schemas.Interaction
			g.Next(&in)
			b.SetBytes(int64(len(schemas.AppendJSON(nil, &in))) * perOp)
			b.ReportAllocs()
			start := time.Now()
			var total int64
			for b.Loop() {
				n, err := Produce(context.Background(), cl, testTopic, g, ProduceOptions{Limit: perOp})
				if err != nil {
					b.Fatal(err)
				}
				total += n
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
		})
	}
}
