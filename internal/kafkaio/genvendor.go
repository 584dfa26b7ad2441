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
// payload (gen.VendorEncoder) and produced to that vendor's topic: topics maps
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
	enc := gen.NewVendorEncoder(g, false)
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
