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
	r, kept := runResolverBatches(b, time.Duration(lag*resolverBatch)*time.Millisecond, func(i *schemas.Interaction, next int64) {
		n := strconv.FormatInt(next, 10)
		*i = schemas.Interaction{EventID: "evt-" + n, OccurredAt: t0.Add(time.Duration(next) * time.Millisecond),
			Source: "aircall", Type: schemas.TypeCallInbound, Channel: schemas.ChannelPhone, RepID: "rep-" + strconv.FormatInt(next%320, 10),
			TeamID: "team-" + strconv.FormatInt(next%40, 10), DurationS: 42, Has: schemas.HasDuration,
			ContactKey: "ph_" + n + "0d2c4e1b9a7f", Keys: schemas.ContactKeys{Phone: "ph_" + n + "0d2c4e1b9a7f"}}
	})
	if w, _ := r.waitingAll(); w > 0 {
		b.ReportMetric(float64(kept)/float64(w), "bytes/touch")
	}
}

// BenchmarkResolverIdentity: batches of 1,000 leads, each a lead.created
// with an e-mail and a phone key, decoded from its wire record as the
// contacts flow does (schemas.DecodeWire: a record's ids are substrings
// of one block of their own). bytes/lead is the heap the resolver keeps
// per lead once the batches are gone: identities are kept for
// leads.identity_ttl, so a kept lead id that is such a substring keeps
// all of the record's ids.
func BenchmarkResolverIdentity(b *testing.B) {
	var wire []byte
	_, kept := runResolverBatches(b, 0, func(i *schemas.Interaction, next int64) {
		n := strconv.FormatInt(next, 10)
		lead := schemas.Interaction{EventID: "00Q5f00000" + n + "AbC-created", OccurredAt: t0.Add(time.Duration(next) * time.Millisecond),
			Source: "salesforce", Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, RepID: "rep-" + strconv.FormatInt(next%320, 10),
			TeamID: "team-" + strconv.FormatInt(next%40, 10), LeadID: "00Q5f00000" + n + "AbC", AccountID: "001" + n,
			Attributes: map[string]string{"lead_source": "Web", "status": "Open - Not Contacted"}, ContactKey: "em_" + n + "9c1e0d2c4e1b9a7f3d5e",
			Keys: schemas.ContactKeys{Email: "em_" + n + "9c1e0d2c4e1b9a7f3d5e", Phone: "ph_" + n + "0d2c4e1b9a7f"}}
		wire = schemas.AppendWire(wire[:0], &lead)
		if err := schemas.DecodeWire(i, wire); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(kept)/float64(b.N*resolverBatch), "bytes/lead")
}

// resolverBatch is the rows of runResolverBatches' batches.
const resolverBatch = 1000

// runResolverBatches runs a Resolver over b.N batches of resolverBatch
// rows, row filling each (next counts rows), then the router's progress
// mark lag behind the batch's last row: the touches are resolved (and
// held) at the batch's end. It returns the Resolver and the heap it
// kept once the batches were gone.
func runResolverBatches(b *testing.B, lag time.Duration, row func(i *schemas.Interaction, next int64)) (*Resolver, int64) {
	ctx := context.Background()
	l, err := New(Config{Hold: 24 * time.Hour}, nopStore{}, Topology{Partitions: 12, Sources: []string{"crm/0"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := l.NewResolver()
	ints := make([]schemas.Interaction, resolverBatch+1)
	next := int64(0)
	fill := func() *schemas.Batch {
		for k := range ints[:resolverBatch] {
			row(&ints[k], next)
			next++
		}
		mark := ints[resolverBatch-1].OccurredAt.Add(-lag)
		ints[resolverBatch] = schemas.Interaction{EventID: "crm/0", OccurredAt: mark, Watermark: true}
		bt := schemas.NewBatch(schemas.Origin{Topic: "salespulse.contacts", FirstOffset: next - resolverBatch, LastOffset: next}, nil)
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
	runtime.KeepAlive(r)
	return r, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}
