package gen

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/aircall"
	"github.com/salespulse/salespulse/sources/hubspot"
	"github.com/salespulse/salespulse/sources/vendorkit"
	"github.com/salespulse/salespulse/sources/zoom"
)

// Delivery is a vendor record and when its vendor delivers it.
type Delivery struct {
	VendorRecord
	// EventTime is the event time of the generated interaction the record
	// renders; At is when the record reaches Kafka: EventTime plus its
	// vendor's current delay (Config.DeliverySkew), plus the retry delay
	// for a retry.
	EventTime, At time.Time
	// Lead is the generator's lead id of the interaction the record
	// renders: the truth a model of the lead's KBIs needs, since a touch's
	// vendor form names no lead.
	Lead string
	// Retry: a webhook delivered a second time (Config.WebhookRetries).
	Retry bool
}

// retried are the vendors whose webhooks are redelivered: they retry a
// delivery whose acknowledgement they did not get.
var retried = map[string]bool{hubspot.Name: true, zoom.Name: true, aircall.Name: true}

// VendorStream is a VendorEncoder whose records come out in delivery
// order: with Config.DeliverySkew every vendor topic lags event time by
// its own delay in [0, skew], drawn again every hour of event time, so one
// vendor's records overtake another's in either direction; with
// Config.WebhookRetries some HubSpot, Zoom and Aircall records come twice.
// Without either, records come out as Encode makes them and nothing is
// copied.
//
// It is deterministic for a seed, like the encoder. It is not safe for
// concurrent use.
type VendorStream struct {
	enc     *VendorEncoder
	skew    int64 // ms
	retries float64
	seed    uint64
	rng     *rand.Rand
	vendors map[string]uint64 // vendor name -> its index + 1, the delay's hash input
	pending []pendingRecord   // a min-heap on (at, seq)
	seq     uint64
	out     []Delivery
}

type pendingRecord struct {
	d   Delivery
	seq uint64
}

// NewVendorStream returns a stream of g's interactions as vendor records
// in delivery order; expect is NewVendorEncoder's.
func NewVendorStream(g *Generator, expect bool) *VendorStream {
	cfg := g.Config()
	st := &VendorStream{
		enc:     NewVendorEncoder(g, expect),
		skew:    cfg.DeliverySkew.Milliseconds(),
		retries: cfg.WebhookRetries,
		seed:    cfg.Seed,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x64656c69766572)), // "deliver"
		vendors: map[string]uint64{},
	}
	for k, name := range st.enc.names {
		st.vendors[name] = uint64(k) + 1
	}
	return st
}

// Encoder returns the stream's encoder (for Rendered).
func (st *VendorStream) Encoder() *VendorEncoder { return st.enc }

// Next encodes in (the interaction g.Next returned last, with its key) and
// returns the records delivered up to in's event time, in delivery order.
// The slice and the records in it are valid until the next call to Next
// or Drain.
func (st *VendorStream) Next(in *schemas.Interaction, key []byte) []Delivery {
	recs := st.enc.Encode(in, key)
	st.out = st.out[:0]
	if st.skew == 0 && st.retries == 0 {
		for _, r := range recs {
			st.out = append(st.out, Delivery{VendorRecord: r, EventTime: in.OccurredAt, At: in.OccurredAt, Lead: in.LeadID})
		}
		return st.out
	}
	now := in.OccurredAt.UnixMilli()
	for _, r := range recs {
		at := now + st.delay(r.Vendor, now)
		st.push(Delivery{VendorRecord: clone(r), EventTime: in.OccurredAt, At: time.UnixMilli(at).UTC(), Lead: in.LeadID})
		if st.retries > 0 && retried[r.Vendor] && st.rng.Float64() < st.retries {
			// The vendor missed the acknowledgement and sends the same
			// event again, 10 s to 5 min later.
			d := Delivery{VendorRecord: clone(r), EventTime: in.OccurredAt, Retry: true, Lead: in.LeadID}
			if r.Vendor == hubspot.Name {
				// HubSpot counts its attempts in the body; the event id
				// stays.
				d.Value = bytes.ReplaceAll(d.Value, []byte(`"attemptNumber":0`), []byte(`"attemptNumber":1`))
			}
			d.At = time.UnixMilli(at + 10000 + st.rng.Int64N(290001)).UTC()
			st.push(d)
		}
	}
	// Every later record is delivered at or after its event time, which
	// is not before now: what is due by now can go.
	for len(st.pending) > 0 && st.pending[0].d.At.UnixMilli() <= now {
		st.out = append(st.out, st.pop())
	}
	return st.out
}

// Drain returns the records still held back, in delivery order: call it
// after the last Next (or when stopping early).
func (st *VendorStream) Drain() []Delivery {
	st.out = st.out[:0]
	for len(st.pending) > 0 {
		st.out = append(st.out, st.pop())
	}
	return st.out
}

// delay is vendor's delivery delay at event time ms: a hash of the seed,
// the vendor and the hour, so it needs no state and changes every hour.
func (st *VendorStream) delay(vendor string, ms int64) int64 {
	if st.skew == 0 {
		return 0
	}
	h := splitmix(st.seed ^ st.vendors[vendor]<<48 ^ uint64(ms/3_600_000))
	return int64(h % uint64(st.skew+1))
}

func clone(r VendorRecord) VendorRecord {
	return vendorkit.Record{Vendor: r.Vendor, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Expected: slices.Clone(r.Expected)}
}

func (st *VendorStream) push(d Delivery) {
	st.seq++
	st.pending = append(st.pending, pendingRecord{d: d, seq: st.seq})
	h := st.pending
	for k := len(h) - 1; k > 0; {
		p := (k - 1) / 2
		if !h[k].before(&h[p]) {
			break
		}
		h[k], h[p] = h[p], h[k]
		k = p
	}
}

func (st *VendorStream) pop() Delivery {
	h := st.pending
	top := h[0].d
	last := len(h) - 1
	h[0] = h[last]
	h[last] = pendingRecord{}
	h = h[:last]
	for k := 0; ; {
		c := 2*k + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h[r].before(&h[c]) {
			c = r
		}
		if !h[c].before(&h[k]) {
			break
		}
		h[k], h[c] = h[c], h[k]
		k = c
	}
	st.pending = h
	return top
}

func (a *pendingRecord) before(b *pendingRecord) bool {
	return a.d.At.Before(b.d.At) || a.d.At.Equal(b.d.At) && a.seq < b.seq
}
