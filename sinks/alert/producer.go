package alert

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// Producer is the pipeline side of alert delivery and the Kafka hook: it
// writes a batch's alerts to the alerts topic, keyed by alert id (so all
// transitions of one alert stay in order on one partition), and returns
// only once Kafka acknowledged every record. cmd runs it as a sink next to
// ClickHouse, so a batch is acknowledged only after its alerts are durable;
// it never waits for a hook.
type Producer struct {
	cl    *kgo.Client
	topic string
}

// NewProducer returns a Producer writing to topic with cl (which may be
// the source's client; producing does not disturb its consumer group).
func NewProducer(cl *kgo.Client, topic string) *Producer {
	if topic == "" {
		topic = "sales.alerts"
	}
	return &Producer{cl: cl, topic: topic}
}

// Write produces b.Alerts and waits for their acknowledgement. It keeps no
// reference to b.
func (p *Producer) Write(ctx context.Context, b *schemas.Batch) error {
	if len(b.Alerts) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(b.Alerts))
	for k := range b.Alerts {
		m := FromAlert(&b.Alerts[k])
		v, err := json.Marshal(&m)
		if err != nil {
			return fmt.Errorf("produce alerts of %s: encode: %w", b.Origin, err)
		}
		recs[k] = &kgo.Record{Topic: p.topic, Key: []byte(m.ID), Value: v}
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce %d alerts of %s: %w", len(recs), b.Origin, err)
	}
	return nil
}
