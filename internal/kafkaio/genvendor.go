package kafkaio

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/gen"
)

// ProduceVendor is Produce with every interaction rendered as its vendor's
// payload (gen.VendorStream) and produced to that vendor's topic: topics maps
// a vendor name (sources.Vendors) to a topic, and vendors missing from it
// get their default topic. Records carry the key the encoder gives them:
// CRM records their lead's (or account's) key, touches (calls, mails,
// meetings) their rep's, so a lead's records do not share a partition
// across topics, as with real vendors.
//
// Records are produced in delivery order: with the generator's
// delivery_skew each topic lags event time by its own delay, and with
// webhook_retries some webhooks come twice (gen.VendorStream); records
// held back are produced when the stream ends or opts.Limit is reached
// (not when ctx is cancelled).
//
// Pacing, flushing, errors and progress are Produce's, with two
// differences: opts.Limit counts interactions taken from g (the records of
// one interaction are never split), and n, Progress.Produced and
// Progress.Acked count records, noise and retries included.
func ProduceVendor(ctx context.Context, cl *kgo.Client, topics map[string]string, g *gen.Generator, opts ProduceOptions) (n int64, err error) {
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
	st := gen.NewVendorStream(g, false)
	p := newProducer(cl, &opts, "produce vendor payloads")
	send := func(ds []gen.Delivery) bool {
		for k := range ds {
			vr := &ds[k]
			r := p.record(ctx)
			if r == nil {
				return false
			}
			r.Topic, r.Key, r.Value = topicOf[vr.Vendor], append(r.Key, vr.Key...), append(r.Value, vr.Value...)
			p.send(r)
		}
		return true
	}
	var taken int64
	return p.run(ctx, g, func(in *schemas.Interaction, key []byte) bool {
		taken++
		if !send(st.Next(in, key)) {
			return false
		}
		if g.Done() || opts.Limit > 0 && taken >= opts.Limit {
			return send(st.Drain())
		}
		return true
	})
}
