package leads

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkResolverHeldTouch: batches of 1,000 touches whose contacts no
// lead identity names, so each waits for one (leads.hold); bytes/touch is
// the heap one waiting touch takes, and ns, B and allocs per op are those
// of resolving (and holding) one batch of them.
//
//	go test ./pipeline/leads -run '^$' -bench ResolverHeldTouch -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkResolverHeldTouch(b *testing.B) { benchResolverTouches(b, 0) }

// BenchmarkResolverPendingTouch is the same with the progress two batches
// behind (a drain's upstreams run that far apart): each touch is pending
// for two batches, saved in the batch's pending record, before it is
// resolved (and held).
func BenchmarkResolverPendingTouch(b *testing.B) { benchResolverTouches(b, 2) }

func benchResolverTouches(b *testing.B, lag int) {
	const per = 1000
	ctx := context.Background()
	l, err := New(Config{Hold: 24 * time.Hour}, nopStore{}, Topology{Partitions: 12, Sources: []string{"crm/0"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := l.NewResolver()
	ints := make([]schemas.Interaction, per+1)
	next := int64(0)
	fill := func() *schemas.Batch {
		for k := range ints[:per] {
			n := strconv.FormatInt(next, 10)
			ints[k] = schemas.Interaction{EventID: "evt-" + n, OccurredAt: t0.Add(time.Duration(next) * time.Millisecond),
				Source: "aircall", Type: schemas.TypeCallInbound, Channel: schemas.ChannelPhone, RepID: "rep-" + strconv.FormatInt(next%320, 10),
				TeamID: "team-" + strconv.FormatInt(next%40, 10), DurationS: 42, Has: schemas.HasDuration,
				ContactKey: "ph_" + n + "0d2c4e1b9a7f", Keys: schemas.ContactKeys{Phone: "ph_" + n + "0d2c4e1b9a7f"}}
			next++
		}
		// The router's progress mark after its events: the touches are
		// resolved (and held) at the batch's end.
		mark := ints[per-1].OccurredAt.Add(-time.Duration(lag*per) * time.Millisecond)
		ints[per] = schemas.Interaction{EventID: "crm/0", OccurredAt: mark, Watermark: true}
		bt := schemas.NewBatch(schemas.Origin{Topic: "salespulse.contacts", FirstOffset: next - per, LastOffset: next}, nil)
		next++
		bt.Interactions = ints
		return bt
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Process(ctx, fill()); err != nil {
			b.Fatal(err)
		}
	}
	clear(ints)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if w, _ := r.waitingAll(); w > 0 {
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(w), "bytes/touch")
	}
	runtime.KeepAlive(r)
}

// BenchmarkResolverIdentity: batches of 1,000 leads, each a lead.created
// with an e-mail and a phone key, decoded from its wire record as the
// contacts flow does (schemas.DecodeWire: every field a substring of one
// string per record). bytes/lead is the heap the resolver keeps per lead
// once the batches are gone: identities are kept as long as the process
// runs, so a kept substring would keep the whole record.
func BenchmarkResolverIdentity(b *testing.B) {
	const per = 1000
	ctx := context.Background()
	l, err := New(Config{Hold: 24 * time.Hour}, nopStore{}, Topology{Partitions: 12, Sources: []string{"crm/0"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := l.NewResolver()
	ints := make([]schemas.Interaction, per+1)
	var wire []byte
	next := int64(0)
	fill := func() *schemas.Batch {
		for k := range ints[:per] {
			n := strconv.FormatInt(next, 10)
			i := schemas.Interaction{EventID: "00Q5f00000" + n + "AbC-created", OccurredAt: t0.Add(time.Duration(next) * time.Millisecond),
				Source: "salesforce", Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, RepID: "rep-" + strconv.FormatInt(next%320, 10),
				TeamID: "team-" + strconv.FormatInt(next%40, 10), LeadID: "00Q5f00000" + n + "AbC", AccountID: "001" + n,
				Attributes: map[string]string{"lead_source": "Web", "status": "Open - Not Contacted"}, ContactKey: "em_" + n + "9c1e0d2c4e1b9a7f3d5e",
				Keys: schemas.ContactKeys{Email: "em_" + n + "9c1e0d2c4e1b9a7f3d5e", Phone: "ph_" + n + "0d2c4e1b9a7f"}}
			wire = schemas.AppendWire(wire[:0], &i)
			if err := schemas.DecodeWire(&ints[k], wire); err != nil {
				b.Fatal(err)
			}
			next++
		}
		ints[per] = schemas.Interaction{EventID: "crm/0", OccurredAt: ints[per-1].OccurredAt, Watermark: true}
		bt := schemas.NewBatch(schemas.Origin{Topic: "salespulse.contacts", FirstOffset: next - per, LastOffset: next}, nil)
		next++
		bt.Interactions = ints
		return bt
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	leads := 0
	for b.Loop() {
		if err := r.Process(ctx, fill()); err != nil {
			b.Fatal(err)
		}
		leads += per
	}
	clear(ints)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(leads), "bytes/lead")
	runtime.KeepAlive(r)
}
