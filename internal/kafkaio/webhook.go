package kafkaio

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WebhookProducer writes the bodies the webhook ingress (internal/ingress)
// accepted. Its client is idempotent with acks=all (franz-go's default,
// kept explicit here): a body is acknowledged only once every in-sync
// replica has it, and a producer retry after a lost response does not
// write it twice.
type WebhookProducer struct {
	cl *kgo.Client
}

// Limits of the records a WebhookProducer holds unacknowledged: 10,000 is
// two seconds at 5,000 requests/s, twice ingest.shed_after's default.
const (
	WebhookMaxBufferedRecords = 10_000
	WebhookMaxBufferedBytes   = 64 << 20
)

// NewWebhookProducer starts a producer client from conn (sources/kafka's
// ConnOpts, plus a kprom hook if wanted).
func NewWebhookProducer(conn []kgo.Opt) (*WebhookProducer, error) {
	opts := append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// The vendor waits on every record: a linger would add to each
		// response's latency for batching the load does not need.
		kgo.ProducerLinger(0),
		// A broker that takes the request and dies is noticed within this
		// bound, rather than TCP's; the ingress's produce timeout is what
		// the vendor sees.
		kgo.ProduceRequestTimeout(10 * time.Second),
		// Bounds on what waits in the client for Kafka, so memory stays
		// flat in an outage. The ingress sheds while Kafka is down
		// (ingest.shed_after), so these are reached only by a burst of
		// large bodies or a Kafka too slow to keep up; then Produce fails
		// at once (TryProduce) and the request is answered 503.
		kgo.MaxBufferedRecords(WebhookMaxBufferedRecords),
		kgo.MaxBufferedBytes(WebhookMaxBufferedBytes),
	}, conn...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("webhook producer: %w", err)
	}
	return &WebhookProducer{cl: cl}, nil
}

// Produce writes one record and returns when Kafka has acknowledged it,
// or ctx's error when ctx ends first, or kgo.ErrMaxBuffered at once when
// the client already holds its limit of unacknowledged records. The record may still be written
// after that (it was in flight, and an idempotent producer does not drop
// what it sent): the caller answers as if it were not, and the vendor's
// retry becomes a duplicate the sink removes by event id. The client keeps
// key and value until the record is done, which may be after Produce
// returns: the caller must never reuse them.
func (p *WebhookProducer) Produce(ctx context.Context, topic string, key, value []byte) error {
	done := make(chan error, 1)
	p.cl.TryProduce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ping checks that a broker answers.
func (p *WebhookProducer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes nothing: every record was waited for by its request, or
// given up on. It waits for in-flight produce requests to end.
func (p *WebhookProducer) Close() { p.cl.Close() }
