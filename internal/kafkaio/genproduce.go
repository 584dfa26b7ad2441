package kafkaio

// The synthetic generator's interactions to Kafka: canonical JSON on one
// topic (Produce), or every vendor's payloads on its topic
// (ProduceVendor), paced at the generator's speed. This is the
// generator's only franz-go edge; sources/gen itself knows no Kafka.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// ProduceOptions tunes Produce. The zero value is usable.
type ProduceOptions struct {
	// MaxInFlight bounds the records encoded but not yet acknowledged;
	// their key and value buffers are recycled once Kafka acknowledges
	// them. It is what keeps the client's batches full: with the default
	// 10 ms linger, 4096 in flight capped a kfake run at ~300k events/s,
	// 16384 reached ~850k. Keep it at or below the client's
	// MaxBufferedRecords (50000 by default in franz-go 1.22), or Produce
	// can block inside the client where it does not watch ctx. Default
	// 16384 (about 6 MB of buffers).
	MaxInFlight int
	// Now is the wall clock that paces Config.Speed > 0. Default time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, returning ctx's error then.
	// Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Limit stops after this many records; 0 means until g is exhausted.
	Limit int64
	// Progress, when set, is called on Produce's goroutine every
	// ProgressEvery records and once after the final flush.
	Progress func(Progress)
	// ProgressEvery is the record interval between Progress calls.
	// Default 100000.
	ProgressEvery int64
	// FlushTimeout bounds the final flush, which also runs after ctx is
	// done so records already handed to the client are not lost on a
	// clean stop. Default 30s.
	FlushTimeout time.Duration
}

// Progress reports how far Produce has come.
type Progress struct {
	Produced  int64     // records handed to the client
	Acked     int64     // records Kafka acknowledged
	EventTime time.Time // event time of the last record handed over
}

func (o *ProduceOptions) setDefaults() {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 16384
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100000
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = 30 * time.Second
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Produce encodes g's interactions as canonical JSON (schemas.AppendJSON)
// and produces them to topic with their partition keys, asynchronously with
// at most opts.MaxInFlight records outstanding. With Config.Speed > 0 it
// paces event time against wall time: the event at time e is produced at
// start + (e - first)/Speed. It stops when g is exhausted, after
// opts.Limit records, when ctx is done or at the first failed record, then
// flushes the client (so it also waits for records other producers
// buffered in it) and waits for every promise. An event taken from g but
// not handed over when ctx ends is lost; the generator is not rewound.
//
// n counts the records Kafka acknowledged. err is nil when g ran out, ctx's
// error when ctx ended the run, and the first produce or flush error
// otherwise. Records are timestamped by the client at produce time, not
// with their event time: topics' time-based retention would otherwise
// delete a replayed week of 2026 as soon as it landed.
func Produce(ctx context.Context, cl *kgo.Client, topic string, g *gen.Generator, opts ProduceOptions) (n int64, err error) {
	p := newProducer(cl, &opts, "produce to "+topic)
	return p.run(ctx, g, func(in *schemas.Interaction, key []byte) bool {
		r := p.record(ctx)
		if r == nil {
			return false
		}
		r.Topic, r.Key, r.Value = topic, append(r.Key, key...), schemas.AppendJSON(r.Value, in)
		p.send(r)
		return true
	})
}

// producer is the loop Produce and ProduceVendor share: it takes
// interactions from a Generator, paces them, and hands the records its
// caller builds to the client, recycling their buffers once acknowledged.
type producer struct {
	cl   *kgo.Client
	opts *ProduceOptions
	op   string // error prefix, operation first
	// pctx is the produce context: records once buffered must survive
	// ctx's end until the final flush delivers them; the producer's own
	// waits still watch ctx.
	pctx context.Context

	free     chan *kgo.Record // acknowledged records, buffers kept
	created  int              // records allocated, at most MaxInFlight
	acked    atomic.Int64
	errOnce  sync.Once
	firstErr atomic.Pointer[error]
	// promise is one func for all records: the record identifies its
	// buffers, so no closure is allocated per record. Promises run
	// serially on the client's goroutine and must not block; free has
	// room for every record that exists.
	promise func(*kgo.Record, error)

	produced   int64     // records handed to the client
	nextReport int64     // produced count of the next Progress call
	last       time.Time // event time of the last interaction taken
}

// newProducer applies opts' defaults.
func newProducer(cl *kgo.Client, opts *ProduceOptions, op string) *producer {
	opts.setDefaults()
	p := &producer{
		cl:         cl,
		opts:       opts,
		op:         op,
		free:       make(chan *kgo.Record, opts.MaxInFlight),
		nextReport: opts.ProgressEvery,
	}
	p.promise = func(r *kgo.Record, perr error) {
		if perr != nil {
			p.errOnce.Do(func() { p.firstErr.Store(&perr) })
		} else {
			p.acked.Add(1)
		}
		p.free <- r
	}
	return p
}

// run takes interactions from g until it is exhausted, opts.Limit
// interactions were taken, ctx is done or a record failed, pacing them
// at g's Config.Speed, and calls emit with each; emit returns false to
// stop (ctx ended while it waited for a record). Then run flushes the
// client and waits for every promise. in and key are valid only during
// emit. n counts acknowledged records; err is as documented on Produce,
// prefixed with p.op.
func (p *producer) run(ctx context.Context, g *gen.Generator, emit func(in *schemas.Interaction, key []byte) bool) (n int64, err error) {
	p.pctx = context.WithoutCancel(ctx)
	speed := g.Config().Speed
	var (
		in    schemas.Interaction
		taken int64
		first time.Time
		wall0 time.Time
	)
	for {
		if ctx.Err() != nil || p.firstErr.Load() != nil || p.opts.Limit > 0 && taken >= p.opts.Limit {
			break
		}
		key, ok := g.Next(&in)
		if !ok {
			break
		}
		taken++
		p.last = in.OccurredAt
		if speed > 0 {
			if taken == 1 {
				first, wall0 = in.OccurredAt, p.opts.Now()
			}
			due := wall0.Add(time.Duration(float64(in.OccurredAt.Sub(first)) / speed))
			if d := due.Sub(p.opts.Now()); d >= time.Millisecond {
				if p.opts.Sleep(ctx, d) != nil {
					break
				}
			}
		}
		if !emit(&in, key) {
			break
		}
	}

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.FlushTimeout)
	defer cancel()
	ferr := p.cl.Flush(fctx)
	// Flush only waits for buffered records; records the client failed
	// before buffering them (no topic, too large) get their promise on
	// another goroutine. Taking every record back from free proves every
	// promise ran, so n and the error are final.
	for range p.created {
		select {
		case <-p.free:
		case <-fctx.Done():
			if ferr == nil {
				ferr = fctx.Err()
			}
		}
		if ferr != nil {
			break
		}
	}
	n = p.acked.Load()
	p.report()
	switch {
	case p.firstErr.Load() != nil:
		return n, fmt.Errorf("%s: %w", p.op, *p.firstErr.Load())
	case ferr != nil:
		return n, fmt.Errorf("%s: flush: %w", p.op, ferr)
	}
	return n, ctx.Err()
}

// record returns a record to fill, its Key and Value empty but keeping
// their capacity, or nil when ctx ended while all MaxInFlight records
// were outstanding.
func (p *producer) record(ctx context.Context) *kgo.Record {
	var r *kgo.Record
	select {
	case r = <-p.free:
	default:
		if p.created < p.opts.MaxInFlight {
			p.created++
			return &kgo.Record{}
		}
		select {
		case r = <-p.free:
		case <-ctx.Done():
			return nil
		}
	}
	// The client is done with a record once its promise ran; reset
	// everything it set (partition, offset, timestamp, ...) and keep only
	// the buffers.
	*r = kgo.Record{Key: r.Key[:0], Value: r.Value[:0]}
	return r
}

// send hands r, from record, to the client and reports progress every
// opts.ProgressEvery records.
func (p *producer) send(r *kgo.Record) {
	p.cl.Produce(p.pctx, r, p.promise)
	p.produced++
	if p.produced >= p.nextReport {
		p.nextReport += p.opts.ProgressEvery
		p.report()
	}
}

func (p *producer) report() {
	if p.opts.Progress != nil {
		p.opts.Progress(Progress{Produced: p.produced, Acked: p.acked.Load(), EventTime: p.last})
	}
}

// Client is a franz-go client, named here so that the wiring can hold one
// without importing franz-go itself.
type Client = kgo.Client

// NewGeneratorClient returns a producer client for Produce and
// ProduceVendor: batched (5ms linger, 4 MiB batches) with room for the
// generator's bursts.
func NewGeneratorClient(brokers []string) (*Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(4<<20),
		kgo.MaxBufferedRecords(50000),
	)
}
