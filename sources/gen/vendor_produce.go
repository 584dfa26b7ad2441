package gen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// ProduceVendor is Produce with every interaction rendered as its vendor's
// payload (VendorEncoder) and produced to that vendor's topic: topics maps
// a Vendor* name to a topic, and vendors missing from it get
// DefaultVendorTopics. Every record of an interaction, noise included,
// carries the interaction's partition key, so a lead's records land on the
// same partition number of every topic (when the topics have equal
// partition counts) and pairing stays partition-local.
//
// Pacing, flushing, errors and progress are Produce's, with two
// differences: opts.Limit counts interactions taken from g (the records of
// one interaction are never split), and n, Progress.Produced and
// Progress.Acked count records, noise included.
func ProduceVendor(ctx context.Context, cl *kgo.Client, topics map[string]string, g *Generator, opts ProduceOptions) (n int64, err error) {
	opts.setDefaults()
	topicOf := DefaultVendorTopics()
	for v, t := range topics {
		if _, ok := topicOf[v]; !ok {
			return 0, fmt.Errorf("produce vendor payloads: unknown vendor %q (want one of %v)", v, Vendors())
		}
		if t == "" {
			return 0, fmt.Errorf("produce vendor payloads: empty topic for vendor %q", v)
		}
		topicOf[v] = t
	}
	enc := NewVendorEncoder(g, false)
	var (
		acked    atomic.Int64
		errOnce  sync.Once
		firstErr atomic.Pointer[error]
		free     = make(chan *kgo.Record, opts.MaxInFlight)
		created  int
	)
	// As in Produce: one promise for all records; free has room for every
	// record that exists, so the promise never blocks.
	promise := func(r *kgo.Record, perr error) {
		if perr != nil {
			errOnce.Do(func() { firstErr.Store(&perr) })
		} else {
			acked.Add(1)
		}
		free <- r
	}
	pctx := context.WithoutCancel(ctx)
	speed := g.cfg.Speed

	var (
		in         schemas.Interaction
		taken      int64
		produced   int64
		nextReport = opts.ProgressEvery
		first      time.Time
		wall0      time.Time
		last       time.Time
	)
	report := func() {
		if opts.Progress != nil {
			opts.Progress(Progress{Produced: produced, Acked: acked.Load(), EventTime: last})
		}
	}
loop:
	for {
		if ctx.Err() != nil || firstErr.Load() != nil || opts.Limit > 0 && taken >= opts.Limit {
			break
		}
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		taken++
		last = in.OccurredAt
		if speed > 0 {
			if taken == 1 {
				first, wall0 = in.OccurredAt, opts.Now()
			}
			due := wall0.Add(time.Duration(float64(in.OccurredAt.Sub(first)) / speed))
			if d := due.Sub(opts.Now()); d >= time.Millisecond {
				if opts.Sleep(ctx, d) != nil {
					break
				}
			}
		}
		for _, vr := range enc.Encode(&in, key) {
			var r *kgo.Record
			select {
			case r = <-free:
			default:
				if created < opts.MaxInFlight {
					created++
					r = &kgo.Record{}
					break
				}
				select {
				case r = <-free:
				case <-ctx.Done():
					break loop
				}
			}
			*r = kgo.Record{Topic: topicOf[vr.Vendor], Key: append(r.Key[:0], vr.Key...), Value: append(r.Value[:0], vr.Value...)}
			cl.Produce(pctx, r, promise)
			produced++
			if produced >= nextReport {
				nextReport += opts.ProgressEvery
				report()
			}
		}
	}

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.FlushTimeout)
	defer cancel()
	ferr := cl.Flush(fctx)
	for range created {
		select {
		case <-free:
		case <-fctx.Done():
			if ferr == nil {
				ferr = fctx.Err()
			}
		}
		if ferr != nil {
			break
		}
	}
	n = acked.Load()
	report()
	switch {
	case firstErr.Load() != nil:
		return n, fmt.Errorf("produce vendor payloads: %w", *firstErr.Load())
	case ferr != nil:
		return n, fmt.Errorf("produce vendor payloads: flush: %w", ferr)
	}
	return n, ctx.Err()
}

// DiffVendor compares an interaction a vendor decoder produced (got) with
// the VendorRecord.Expected one (want) and returns "" when got carries
// everything want expects, else a description of the first difference.
// Compared: event id, source, type, channel, occurred_at, rep, team,
// account, lead, approval ids, stage, currency, the optional numbers with
// their presence bits, approved, and the raw contact. Attributes are
// compared only for the keys want has (vendor decoders add their own).
func DiffVendor(want, got *schemas.Interaction) string {
	type f struct {
		name      string
		want, got any
	}
	for _, c := range [...]f{
		{"event_id", want.EventID, got.EventID}, {"source", want.Source, got.Source},
		{"type", want.Type.String(), got.Type.String()}, {"channel", want.Channel.String(), got.Channel.String()},
		{"occurred_at", want.OccurredAt.UTC().Format(time.RFC3339Nano), got.OccurredAt.UTC().Format(time.RFC3339Nano)},
		{"rep_id", want.RepID, got.RepID}, {"team_id", want.TeamID, got.TeamID},
		{"account_id", want.AccountID, got.AccountID}, {"lead_id", want.LeadID, got.LeadID},
		{"approval_id", want.ApprovalID, got.ApprovalID}, {"approver_id", want.ApproverID, got.ApproverID},
		{"stage", want.Stage, got.Stage}, {"currency", want.Currency, got.Currency},
		{"has", want.Has, got.Has}, {"duration_s", want.DurationS, got.DurationS}, {"amount", want.Amount, got.Amount},
		{"list_price", want.ListPrice, got.ListPrice}, {"discount_pct", want.DiscountPct, got.DiscountPct},
		{"approved", want.Approved, got.Approved}, {"contact", want.Contact, got.Contact},
	} {
		if c.want != c.got {
			return fmt.Sprintf("%s: want %v, got %v", c.name, c.want, c.got)
		}
	}
	for k, v := range want.Attributes {
		if got.Attributes[k] != v {
			return fmt.Sprintf("attributes[%s]: want %q, got %q", k, v, got.Attributes[k])
		}
	}
	return ""
}
