package gen

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
)

// ProduceVendor is Produce with every interaction rendered as its vendor's
// payload (VendorEncoder) and produced to that vendor's topic: topics maps
// a vendor name (sources.Vendors) to a topic, and vendors missing from it
// get their default topic. Every record of an interaction, noise included,
// carries the interaction's partition key, so a lead's records land on the
// same partition number of every topic (when the topics have equal
// partition counts) and pairing stays partition-local.
//
// Pacing, flushing, errors and progress are Produce's, with two
// differences: opts.Limit counts interactions taken from g (the records of
// one interaction are never split), and n, Progress.Produced and
// Progress.Acked count records, noise included.
func ProduceVendor(ctx context.Context, cl *kgo.Client, topics map[string]string, g *Generator, opts ProduceOptions) (n int64, err error) {
	topicOf := map[string]string{}
	for _, v := range sources.Vendors() {
		topicOf[v.Name] = v.DefaultTopic
	}
	for v, t := range topics {
		if _, ok := topicOf[v]; !ok {
			return 0, fmt.Errorf("produce vendor payloads: unknown vendor %q (want one of %v)", v, sources.Names())
		}
		if t == "" {
			return 0, fmt.Errorf("produce vendor payloads: empty topic for vendor %q", v)
		}
		topicOf[v] = t
	}
	enc := NewVendorEncoder(g, false)
	p := newProducer(cl, &opts, "produce vendor payloads")
	return p.run(ctx, g, func(in *schemas.Interaction, key []byte) bool {
		for _, vr := range enc.Encode(in, key) {
			r := p.record(ctx)
			if r == nil {
				return false
			}
			r.Topic, r.Key, r.Value = topicOf[vr.Vendor], append(r.Key, vr.Key...), append(r.Value, vr.Value...)
			p.send(r)
		}
		return true
	})
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
