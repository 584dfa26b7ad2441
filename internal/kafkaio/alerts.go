package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
)

// AlertProducer is the pipeline side of alert delivery and the Kafka hook:
// it writes a batch's alerts to the alerts topic, keyed by alert id (so
// all transitions of one alert stay in order on one partition), and
// returns only once Kafka acknowledged every record. The pipeline runs it
// as a sink next to ClickHouse, so a batch is acknowledged only after its
// alerts are durable; it never waits for a hook.
type AlertProducer struct {
	cl    *kgo.Client
	topic string
	bufs  sync.Pool // *[]byte: one batch's record keys and values
}

// NewAlertProducer returns an AlertProducer writing to topic with cl
// (which may be the source's client; producing does not disturb its
// consumer group).
func NewAlertProducer(cl *kgo.Client, topic string) *AlertProducer {
	return &AlertProducer{cl: cl, topic: topic}
}

// Write produces b.Alerts and waits for their acknowledgement. It keeps no
// reference to b.
func (p *AlertProducer) Write(ctx context.Context, b *schemas.Batch) error {
	if len(b.Alerts) == 0 {
		return nil
	}
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	// ProduceSync returns once every record was acknowledged or failed, and
	// the client keeps no record after that: the buffer can serve the next
	// batch. Writes run concurrently (one per pipeline worker), hence a pool.
	defer p.bufs.Put(bp)
	recs, buf, err := alertRecords(p.topic, b.Alerts, *bp)
	*bp = buf
	if err != nil {
		return fmt.Errorf("produce alerts of %s: %w", b.Origin, err)
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce %d alerts of %s: %w", len(recs), b.Origin, err)
	}
	return nil
}

// alertRecords encodes alerts as records of topic, keyed by alert id.
// Keys and values are appended to buf and point into the returned buffer
// (or an earlier array of it, which growing leaves intact): they stay valid
// until buf is reused.
func alertRecords(topic string, alerts []schemas.Alert, buf []byte) ([]*kgo.Record, []byte, error) {
	recs := make([]*kgo.Record, len(alerts))
	rs := make([]kgo.Record, len(alerts))
	buf = buf[:0]
	for k := range alerts {
		start := len(buf)
		buf = append(buf, alerts[k].ID...)
		mid := len(buf)
		var err error
		if buf, err = alert.AppendAlert(buf, &alerts[k]); err != nil {
			return nil, buf, fmt.Errorf("alert %s: %w", alerts[k].ID, err)
		}
		rs[k] = kgo.Record{Topic: topic, Key: buf[start:mid:mid], Value: buf[mid:len(buf):len(buf)]}
		recs[k] = &rs[k]
	}
	return recs, buf, nil
}

// AlertFeed is the alert dispatcher's consumer (alert.Feed): the alerts
// and park topics in the dispatcher's own consumer group, read from the
// start, offsets committed from marks only (a record is marked once every
// hook delivered or parked it), parked deliveries produced to the park
// topic.
type AlertFeed struct {
	cl     *kgo.Client
	park   string
	onLost atomic.Pointer[func(map[string][]int32)]
}

var _ alert.Feed = (*AlertFeed)(nil)

// NewAlertFeed connects with conn (how to reach the brokers: seed brokers,
// TLS, SASL, client id) and consumes cfg.Topic and cfg.ParkTopic in
// cfg.Group; cfg must have its defaults set.
func NewAlertFeed(cfg alert.Config, conn []kgo.Opt) (*AlertFeed, error) {
	f := &AlertFeed{park: cfg.ParkTopic}
	opts := append(append([]kgo.Opt(nil), conn...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic, cfg.ParkTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
			// Commit what is done before the partitions move, so the
			// next owner does not deliver it again.
			cl.CommitMarkedOffsets(ctx)
			f.lost(revoked)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { f.lost(lost) }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("new alert feed: %w", err)
	}
	f.cl = cl
	return f, nil
}

func (f *AlertFeed) lost(ps map[string][]int32) {
	if fn := f.onLost.Load(); fn != nil {
		(*fn)(ps)
	}
}

// OnLost implements alert.Feed.
func (f *AlertFeed) OnLost(fn func(map[string][]int32)) { f.onLost.Store(&fn) }

// Poll implements alert.Feed: up to 1000 records.
func (f *AlertFeed) Poll(ctx context.Context) ([]*alert.Record, error) {
	fs := f.cl.PollRecords(ctx, 1000)
	if fs.IsClientClosed() {
		return nil, alert.ErrFeedClosed
	}
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		errs = append(errs, fmt.Errorf("fetch %s/%d: %w", t, p, err))
	})
	out := make([]*alert.Record, 0, fs.NumRecords())
	fs.EachRecord(func(r *kgo.Record) {
		a := &alert.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			a.Headers = append(a.Headers, alert.Header{Key: h.Key, Value: h.Value})
		}
		out = append(out, a)
	})
	return out, errors.Join(errs...)
}

// MarkCommit implements alert.Feed. franz-go commits the offset after a
// marked record; marking takes the record's coordinates and the leader
// epoch it was fetched at, which a mark does not need to be exact about.
func (f *AlertFeed) MarkCommit(r *alert.Record) {
	f.cl.MarkCommitRecords(&kgo.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, LeaderEpoch: -1})
}

// CommitMarked implements alert.Feed.
func (f *AlertFeed) CommitMarked(ctx context.Context) error { return f.cl.CommitMarkedOffsets(ctx) }

// Park implements alert.Feed.
func (f *AlertFeed) Park(r *alert.Record, headers []alert.Header, done func(error)) {
	rec := &kgo.Record{Topic: f.park, Key: r.Key, Value: r.Value}
	for _, h := range headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	f.cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) { done(err) })
}

// Close implements alert.Feed.
func (f *AlertFeed) Close() { f.cl.Close() }
