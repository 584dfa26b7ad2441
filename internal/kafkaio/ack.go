package kafkaio

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordProducer produces single records with a client's producer and
// waits for each: the acknowledgement endpoint answers only once Kafka
// has the event. The client must be idempotent with acks=all (the
// source's is: franz-go's default idempotence, kafka.Config's
// RequiredAcks(AllISRAcks)), so a retry inside the client writes no
// duplicate.
type RecordProducer struct{ cl *kgo.Client }

// NewRecordProducer produces with cl.
func NewRecordProducer(cl *kgo.Client) RecordProducer { return RecordProducer{cl: cl} }

// Produce writes one record and returns once it is acknowledged.
func (p RecordProducer) Produce(ctx context.Context, topic string, key, value []byte) error {
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	return nil
}
