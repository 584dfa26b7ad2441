package leads

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkDedup: one batch of 1,000 new lead events per op into a
// partition that remembers the last 200,000; bytes/id is the heap the
// remembered ids take.
func BenchmarkDedup(b *testing.B) { benchDedup(b, 1) }

// BenchmarkDedupInterleaved is the same with each batch's events merged
// from 12 upstream partitions, each in event-time order and 300 ms apart
// from the next, as the lead topics deliver them.
func BenchmarkDedupInterleaved(b *testing.B) { benchDedup(b, 12) }

func benchDedup(b *testing.B, upstreams int) {
	const window, per = 200_000, 1000
	ctx := context.Background()
	st := &countStore{}
	l := &Leads{fw: st, cfg: Config{IdleTimeout: time.Minute}}
	d := l.NewDedup(time.Duration(window) * time.Millisecond)
	ints := make([]schemas.Interaction, per+1)
	next := int64(0)
	fill := func() *schemas.Batch {
		for k := range per {
			at := next - int64(k) + int64(k/upstreams) + int64(k%upstreams)*300
			ints[k] = schemas.Interaction{EventID: fmt.Sprintf("%08x-5d2c-4e1b-9a7f-%012x", next, next*7919),
				OccurredAt: time.UnixMilli(at), Type: schemas.TypeCallOutbound}
			next++
		}
		// The source's progress: ids older than window expire.
		ints[per] = schemas.Interaction{EventID: "crm/0", OccurredAt: time.UnixMilli(next - 1), Watermark: true}
		bt := schemas.NewBatch(schemas.Origin{Topic: "salespulse.leads", FirstOffset: next - per, LastOffset: next - 1}, nil)
		bt.Interactions = ints
		return bt
	}
	for next < window {
		if err := d.Process(ctx, fill()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	*st = countStore{}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		bt := fill()
		b.StartTimer()
		if err := d.Process(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	// What the store gets: each record is one changelog record produced.
	b.ReportMetric(float64(st.recs)/float64(b.N), "records/op")
	b.ReportMetric(float64(st.bytes)/float64(b.N), "saved-B/op")
}

// countStore counts what is saved.
type countStore struct {
	nopStore
	recs, bytes int
}

func (c *countStore) Save(_ context.Context, _ state.Namespace, _ string, _ int32, recs []state.Record) error {
	c.recs += len(recs)
	for _, r := range recs {
		c.bytes += len(r.Key) + len(r.Value)
	}
	return nil
}

// BenchmarkDedupBytesPerID is the heap one remembered id takes.
func BenchmarkDedupBytesPerID(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	// The timer runs throughout: stopped for the whole op, as it was,
	// b.Loop never reached its benchtime and the benchmark ran for tens
	// of minutes. ns/op is then the time to remember n ids.
	for b.Loop() {
		l := &Leads{fw: nopStore{}, cfg: Config{IdleTimeout: time.Minute}}
		d := l.NewDedup(time.Hour)
		ints := make([]schemas.Interaction, 1000)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for next := int64(0); next < n; {
			for k := range ints {
				ints[k] = schemas.Interaction{EventID: fmt.Sprintf("%08x-5d2c-4e1b-9a7f-%012x", next, next*7919),
					OccurredAt: time.UnixMilli(next), Type: schemas.TypeCallOutbound}
				next++
			}
			bt := schemas.NewBatch(schemas.Origin{Topic: "salespulse.leads", FirstOffset: next - 1000, LastOffset: next - 1}, nil)
			bt.Interactions = ints
			if err := d.Process(ctx, bt); err != nil {
				b.Fatal(err)
			}
		}
		clear(ints)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/id")
		runtime.KeepAlive(d)
	}
}

type nopStore struct{}

func (nopStore) Load(context.Context, state.Namespace, string, int32) (map[string][]byte, error) {
	return map[string][]byte{}, nil
}
func (nopStore) Save(context.Context, state.Namespace, string, int32, []state.Record) error {
	return nil
}
func (nopStore) Forward(context.Context, state.Namespace, string, int32, []state.Record, []state.Message) error {
	return nil
}
func (nopStore) Committed(context.Context, string, int32) (int64, error) { return -1, nil }
