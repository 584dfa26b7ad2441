// Package pipeline moves batches from a source through the processing stages
// to the sinks and acknowledges them only once every sink has stored them.
//
// It declares the small interfaces it calls (Source, Stage, Sink); cmd/
// hands it the concrete Kafka source and ClickHouse sink, so this package
// knows neither.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Source hands out batches in offset order per partition. Next blocks until a
// batch is ready or ctx is done.
type Source interface {
	Next(ctx context.Context) (*schemas.Batch, error)
}

// Stage transforms a batch in place before it is written: pseudonymisation,
// windowed aggregation, anomaly detection. A Stage instance is used by one
// worker only and sees every batch of a partition in offset order, so it may
// keep per-partition state without locks.
type Stage interface {
	Process(ctx context.Context, b *schemas.Batch) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, b *schemas.Batch) error

// Process calls f.
func (f StageFunc) Process(ctx context.Context, b *schemas.Batch) error { return f(ctx, b) }

// Sink stores a batch durably. Write returns only when the data is
// acknowledged (or it gives up with an error); it must be safe for concurrent
// use by several workers.
type Sink interface {
	Write(ctx context.Context, b *schemas.Batch) error
}

// AsyncSink is a Sink that may store a batch after the call that hands it
// over returns, so a worker can process its next batch meanwhile: the
// ClickHouse sink collects the raw rows of many batches, of any partition,
// into one larger insert. A pipeline whose sink implements it calls Submit
// instead of Write.
type AsyncSink interface {
	// Submit takes b and calls done exactly once, with nil when b is
	// durably stored or with the reason it is not; it may call done before
	// returning. Submit may block (a bounded sink applies backpressure).
	// Until done is called the sink may read b, so b stays unacknowledged.
	Submit(ctx context.Context, b *schemas.Batch, done func(error))
	// Flush stores what was submitted and returns once every done has been
	// called: Run calls it when draining, after the last Submit.
	Flush(ctx context.Context) error
}

// Config tunes the pipeline.
type Config struct {
	// Workers is the number of batches processed at once (default 2). A
	// partition is always handled by the same worker, so its batches stay in
	// offset order and stage state needs no locks.
	Workers int `yaml:"workers"`
	// Queue is the number of batches waiting per worker (default 4): bounded,
	// so a slow sink slows the source (backpressure) instead of growing memory.
	Queue int `yaml:"queue"`
	// DrainTimeout bounds how long a stopping pipeline keeps writing the
	// batches it already took (default 30s). Batches not stored by then are
	// handed back unacknowledged and read again by the next owner.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Stages names the processing stages this deployment runs, in
	// pipeline order: StagePrivacy, StageWindow, StageAnomaly (default,
	// when unset: all three). [privacy] is an ingest-only deployment: raw
	// interactions are stored, pseudonymised, and nothing stateful runs
	// (stages.go).
	Stages []string `yaml:"stages"`
}

// Validation errors.
var (
	ErrWorkers      = errors.New("must be >= 0")
	ErrQueue        = errors.New("must be >= 0")
	ErrDrainTimeout = errors.New("must be >= 0")
)

// SetDefaults fills the zero fields with the defaults documented on them.
func (c *Config) SetDefaults() {
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Queue == 0 {
		c.Queue = 4
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Stages == nil { // an empty list is the operator's, and invalid
		c.Stages = slices.Clone(AllStages)
	}
}

// Validate reports the first problem in c, which SetDefaults has filled.
// Errors carry the key's full path in the config file.
func (c Config) Validate() error {
	if c.Workers < 0 {
		return fmt.Errorf("pipeline.workers: %w", ErrWorkers)
	}
	if c.Queue < 0 {
		return fmt.Errorf("pipeline.queue: %w", ErrQueue)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("pipeline.drain_timeout: %w", ErrDrainTimeout)
	}
	return validateStages(c.Stages)
}

// Pipeline is a running Source → Stages → Sink chain.
type Pipeline struct {
	cfg    Config
	src    Source
	stages func(worker int) []Stage
	sink   Sink
	async  AsyncSink // sink, when it is one
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	rel    []*releases // per worker (Release)
	also   []Releaser
}

// New wires a pipeline. newStages is called once per worker so each worker
// owns its stage instances (their state is not shared between goroutines).
func New(cfg Config, src Source, newStages func(worker int) []Stage, sink Sink, reg prometheus.Registerer, log *slog.Logger) (*Pipeline, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if newStages == nil {
		newStages = func(int) []Stage { return nil }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		cfg: cfg, src: src, stages: newStages, sink: sink,
		log: log.With("component", "pipeline"),
		m:   newMetrics(reg),
		now: time.Now,
		rel: make([]*releases, cfg.Workers),
	}
	for w := range p.rel {
		p.rel[w] = newReleases()
	}
	p.async, _ = sink.(AsyncSink)
	return p, nil
}

// Run consumes until ctx is cancelled or a non-recoverable error occurs.
//
// Cancelling ctx stops taking new batches from the source; the batches
// already taken are still processed and written (for up to DrainTimeout) so
// a clean stop commits everything it read. That is why the workers run on a
// context that outlives ctx: cancelling them at once would throw away work
// that ClickHouse may already have half-acknowledged.
//
// A batch that a stage or the sink fails on is acknowledged with the error,
// which makes the source deliver it again; the sink retries transient
// ClickHouse errors itself, so an error reaching here is something an
// operator must see, and Run returns it.
func (p *Pipeline) Run(ctx context.Context) error {
	workCtx, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.DrainTimeout, func() { stopWork(errDrainTimeout) })
		context.AfterFunc(workCtx, func() { t.Stop() })
	})
	defer stopDrain()

	var wg errgroup.Group
	queues := make([]chan *schemas.Batch, p.cfg.Workers)
	for w := range queues {
		q := make(chan *schemas.Batch, p.cfg.Queue)
		queues[w] = q
		stages := p.stages(w)
		// A failed worker stops the others and the feeder at once (via
		// stopWork), then keeps draining its queue so nothing blocks.
		rel := p.rel[w]
		wg.Go(func() error { return p.work(workCtx, q, rel, stages, stopWork) })
	}
	// The feeder stops on either: ctx (stop taking) or a failed worker.
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	stopOnFail := context.AfterFunc(workCtx, stopFeed)
	defer stopOnFail()
	feedErr := p.feed(feedCtx, workCtx, queues)
	for _, q := range queues {
		close(q)
	}
	werr := wg.Wait()
	if p.async == nil {
		return errors.Join(feedErr, werr)
	}
	// Submitted batches are not stored yet: store them (or hand them back
	// when the drain times out or a worker failed) before Run returns, so
	// the caller's commit that follows sees every acknowledgement.
	ferr := p.async.Flush(workCtx)
	if ferr != nil && context.Cause(workCtx) != nil {
		ferr = nil // the cause is reported already (or was the drain timeout)
	}
	return errors.Join(feedErr, werr, ferr, p.asyncFailure(workCtx))
}

// asyncFailure is the error a done callback stopped the pipeline with
// (failure in work), if any.
func (p *Pipeline) asyncFailure(workCtx context.Context) error {
	var f *sinkFailure
	if errors.As(context.Cause(workCtx), &f) {
		return f.err
	}
	return nil
}

// sinkFailure marks the cause of a stop that an AsyncSink's done reported,
// so Run returns it once rather than once per worker.
type sinkFailure struct{ err error }

func (f *sinkFailure) Error() string { return f.err.Error() }
func (f *sinkFailure) Unwrap() error { return f.err }

var errDrainTimeout = errors.New("drain timeout: batch handed back unstored")

// feed takes batches from the source until ctx (stop taking) or workCtx (a
// worker failed) ends.
func (p *Pipeline) feed(ctx, workCtx context.Context, queues []chan *schemas.Batch) error {
	for {
		b, err := p.src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || workCtx.Err() != nil {
				return nil
			}
			stopErr := fmt.Errorf("next batch: %w", err)
			return stopErr
		}
		// Same partition, same worker: keeps offset order per partition.
		w := p.workerOf(b.Origin.Topic, b.Origin.Partition)
		select {
		case queues[w] <- b:
		case <-workCtx.Done():
			b.Ack(context.Cause(workCtx))
			return nil
		}
	}
}

func (p *Pipeline) work(ctx context.Context, q <-chan *schemas.Batch, rel *releases, stages []Stage, fail context.CancelCauseFunc) error {
	var failed error
	// retry holds, per partition, the first offset of a batch handed back
	// for a retry: the source consumes the partition again from there, so
	// the batches queued behind it are handed back too, unprocessed — a
	// stage that forwards (package leads) must not see them before it.
	retry := map[schemas.Origin]int64{}
	for {
		var b *schemas.Batch
		select {
		case <-rel.wake:
			p.release(rel, stages)
			continue
		case next, ok := <-q:
			if !ok {
				return failed
			}
			b = next
		}
		if failed != nil || ctx.Err() != nil {
			// Hand the batch back unstored so its offsets are not committed;
			// the next owner of the partition reads it again.
			b.Ack(errors.Join(failed, context.Cause(ctx)))
			continue
		}
		if b.Abandoned() {
			p.abandon(b)
			continue
		}
		k := schemas.Origin{Topic: b.Origin.Topic, Partition: b.Origin.Partition}
		if from, ok := retry[k]; ok {
			// A source that tracks abandonment gives up every batch cut
			// behind one handed back (caught above): one of its batches
			// that is still live past from was cut after the partition
			// came back here (revoked meanwhile, its new owner moved the
			// commit on). Handing it back would rewind the source to it,
			// and bring it back, forever.
			if b.Origin.FirstOffset > from && !b.TracksAbandon() {
				b.Ack(errBehindRetry)
				continue
			}
			delete(retry, k) // the retry (or a new owner's first batch) is here
		}
		err := p.handle(ctx, b, stages, fail)
		if err == nil {
			continue
		}
		if errors.Is(err, errAbandoned) {
			p.abandon(b)
			continue
		}
		b.Ack(err)
		if ctx.Err() != nil {
			continue
		}
		if Retryable(err) {
			// A state store briefly unreachable (a broker restarting) or
			// a partition another instance claimed: consume the batch
			// again rather than stop every partition of the process.
			retry[k] = b.Origin.FirstOffset
			p.m.retried.Inc()
			p.log.Warn("batch handed back to be consumed again", "origin", b.Origin.String(), "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(retryPause):
			}
			continue
		}
		failed = fmt.Errorf("batch %s: %w", b.Origin, err)
		fail(failed)
	}
}

// errAbandoned is how a batch its source gave up is handed back.
var errAbandoned = errors.New("abandoned by the source (partition revoked, or range rewound): not processed further")

// abandon hands back a batch its source gave up (schemas.Batch.Abandoned)
// without processing it further. Its source ignores the ack and the range
// is consumed again, by this instance or the partition's new owner; it is
// neither a failure nor a retry of this pipeline.
//
// The typical case is a batch queued behind a slow one when its partition
// is revoked: the source waits kafka.revoke_timeout for it, then gives the
// partition to another instance. Processed after that (tests/leads saw 3
// to 12 s after), its stages loaded the partition's state and so claimed
// the partition back from the owner that had loaded it meanwhile: the
// owner's next save was fenced and its batch consumed again, and the
// stale attempt's saves sat in the state it loaded next.
func (p *Pipeline) abandon(b *schemas.Batch) {
	p.m.abandoned.Inc()
	p.log.Info("batch abandoned by its source; not processed further", "origin", b.Origin.String())
	b.Ack(errAbandoned)
}

// retryPause spaces the retries of a batch whose store is unreachable.
const retryPause = 500 * time.Millisecond

var errBehindRetry = errors.New("queued behind a batch handed back for a retry")

// Retryable reports whether a stage error means "consume this batch
// again" rather than "stop": the state store was unavailable, or another
// instance claimed the partition (state.ErrUnavailable, state.ErrFenced).
func Retryable(err error) bool {
	return errors.Is(err, state.ErrUnavailable) || errors.Is(err, state.ErrFenced)
}

// handle runs the stages on b and stores it. With an AsyncSink it returns
// once b is submitted; b's acknowledgement then comes from done, and a
// failed store stops the pipeline through fail as a failed Write does
// through work.
func (p *Pipeline) handle(ctx context.Context, b *schemas.Batch, stages []Stage, fail context.CancelCauseFunc) error {
	start := p.now()
	for _, s := range stages {
		// Before each stage: a stage may claim the partition's state.
		if b.Abandoned() {
			return errAbandoned
		}
		if err := s.Process(ctx, b); err != nil {
			return fmt.Errorf("process: %w", err)
		}
	}
	if b.Abandoned() {
		return errAbandoned
	}
	if p.async != nil {
		origin := b.Origin
		p.async.Submit(ctx, b, func(err error) {
			if err != nil {
				b.Ack(err)
				if ctx.Err() == nil {
					fail(&sinkFailure{fmt.Errorf("batch %s: write: %w", origin, err)})
				}
				return
			}
			p.m.observe(b, start, p.now())
			b.Ack(nil)
		})
		return nil
	}
	if err := p.sink.Write(ctx, b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	done := p.now()
	p.m.observe(b, start, done)
	b.Ack(nil)
	return nil
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
