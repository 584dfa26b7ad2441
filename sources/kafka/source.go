// Package kafka consumes SalesPulse's input topics with at-least-once
// delivery: it decodes records into batches of canonical interactions, one
// partition's contiguous offset range per batch, and commits a range only
// after the consumer acknowledges that every sink stored it. Records that
// cannot become interactions go to a dead-letter topic with the reason.
//
// Batch boundaries are deterministic across crashes: before a batch is
// handed out its cut is committed as offset metadata, and a new owner of
// the partition cuts its first batches at exactly those ends, so a replay
// produces the same schemas.Origin and therefore the same ClickHouse
// insert_deduplication_token as the attempt that may already be stored.
//
// Where no such metadata exists — a new consumer group replaying a topic
// into an existing database, offsets reset by a tool — the cuts come from
// a CutHistory instead: the ranges the sink already stored, so the replay
// sends the same tokens again (docs/fault-tolerance.md).
//
// This package is the franz-go glue: the poll loop (Next), the group's
// callbacks (group.go) and the commits (commit.go). Where cuts fall is
// planned by internal/cuts, which knows no Kafka client; records are
// decoded on worker goroutines (decode.go, internal/workers), outside the
// poll loop and its lock.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/kafka/internal/cuts"
	"github.com/salespulse/salespulse/sources/kafka/internal/deadletter"
	"github.com/salespulse/salespulse/sources/kafka/internal/metrics"
	"github.com/salespulse/salespulse/sources/kafka/internal/workers"
)

// Decoder turns one record value into interactions. It is declared here,
// by its caller; each vendor package implements it.
//
// Decode appends zero or more interactions decoded from value to dst and
// returns the extended slice. value is only valid during the call: strings
// it appends must own their memory. On error it may still have appended
// the good events of a multi-event payload: those are kept and the record
// is dead-lettered with the error (a *schemas.FieldError for bad input).
// Zero events and a nil error mean the record was deliberately skipped.
//
// Decode runs on the source's decode workers: it must be safe for
// concurrent use (one Decoder may serve several topics, and different
// partitions are decoded at the same time). The records of one partition
// are decoded one at a time, in offset order.
type Decoder interface {
	Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error)
}

// CutHistory reports the Kafka offset ranges of batches already stored.
// The source asks it for partitions whose commit carries no cut plan of its
// own (no commit yet, or one written by another tool), so that a replay of
// stored offsets cuts exactly the ranges stored before and each insert is
// dropped by ClickHouse as a duplicate instead of counted again. The
// ClickHouse sink implements it; it is declared here, by its caller.
type CutHistory interface {
	// StoredOrigins returns the origin of every stored batch of topic that
	// lies in one of partitions, in any order.
	StoredOrigins(ctx context.Context, topic string, partitions []int32) ([]schemas.Origin, error)
}

// historyTimeout bounds loading the cut history on assignment. It runs
// inside the group's offset-fetch callback, which must finish within the
// rebalance timeout (60s); on failure the member rejoins and tries again.
const historyTimeout = 30 * time.Second

// ErrClosed is returned by Next after Close, or when the client closed.
var ErrClosed = errors.New("kafka source closed")

type tp struct {
	topic string
	part  int32
}

// Source consumes the configured topics in one consumer group.
//
// Next is called from one goroutine (the poll loop); Ack may be called from
// any goroutine, in any order. Close must not run concurrently with Next.
type Source struct {
	cfg      Config
	lim      cuts.Limits
	cl       *kgo.Client
	logger   *slog.Logger
	m        *metrics.Metrics
	now      func() time.Time
	decoders map[string]Decoder // by topic
	tms      map[string]*metrics.Topic
	history  CutHistory // may be nil: then only commit metadata plans cuts
	// onRelease hears of every partition the source gave up (OnRelease).
	onRelease func(topic string, partition int32)

	// life is canceled by Close: it bounds dead-letter produces and the
	// waits in revoke callbacks.
	life     context.Context
	stopLife context.CancelFunc

	work *workers.Pool[*partition, *chunk] // the decode workers

	// ra is the read-ahead budget (kafka.read_ahead_bytes), the source's
	// own or one shared with the process's other sources (SetReadAhead).
	ra     *ReadAhead
	raUser *readAheadUser

	join     sync.Once  // subscribes to the topics on the first Next
	commitMu sync.Mutex // serialises commits from Next, revokes and Close

	mu         sync.Mutex
	parts      map[tp]*partition
	ready      []*cut   // recorded, not yet handed out, in cut order
	unrecorded []*cut   // cut, waiting for their cut to be committed
	decoded    []*chunk // back from the workers, not yet applied
	undecoded  int64    // estimated bytes of records dispatched or queued, not yet applied
	pollCancel context.CancelFunc
	lastCommit time.Time
	closed     bool
	ackCh      chan struct{} // signalled on every ack (revoke and Close wait on it)
}

// partition is the state of one owned partition. Guarded by Source.mu.
type partition struct {
	tp
	decoder Decoder // immutable: the workers read it without the lock
	source  string
	tm      *metrics.Topic
	lag     prometheus.Gauge

	plan *cuts.Planner[held] // where the next cuts fall; the cuts in flight
	open *builder            // what the planner's open batch holds so far

	arena arena // the decoders' array for p's interactions (arena.go): workers only
	// kept is the arena p.arena kept after the last chunk applied, which
	// the read-ahead budget counts whether or not a batch views it.
	kept pin
	// batchRows is the row count of p's last cut batch: batches that
	// outgrow their arena are sized by it (builder.add).
	batchRows int

	gen  uint64 // bumped by every rewind: chunks of an older one are dropped
	next int64  // first offset not yet dispatched to the decoders; -1 until known

	rewind    bool   // the position must be re-fetched: SetOffsets pending
	changes   uint64 // bumped by acks: the commit state may have moved
	clean     uint64 // changes as of the last successful commit
	paused    bool
	dropped   bool
	committed string // "offset/metadata" last committed, to skip no-op commits
	start     int64  // where fetching must start instead of the commit (history says a stored batch begins there); -1 if not

	// Consumer lag as operators mean it (and as kadm reports it): records
	// between the committed offset and the high watermark, i.e. what is not
	// yet safely in ClickHouse, not merely what is not yet fetched.
	hwm       int64 // high watermark as of the last fetch
	commitOff int64 // last committed offset; -1 until known
}

func (p *partition) setLag() {
	if p.commitOff >= 0 && p.hwm > 0 {
		p.lag.Set(float64(max(p.hwm-p.commitOff, 0)))
	}
}

// builder is the open batch's payload: the planner keeps its offsets.
type builder struct {
	batch *schemas.Batch
	dlq   *deadletter.Group
	// base is batch.Interactions with its capacity: the arena's rest
	// (owned false) or an array of the batch's own (owned true). See add.
	base  []schemas.Interaction
	owned bool
	// in is the array b's rows live in, for the read-ahead budget: the
	// whole arena (its rows before the batch's first are kept alive with
	// it), or the batch's own array.
	in pin
}

// pin names an array a batch's rows live in without keeping it alive (a
// stage may drop the batch's rows before its ack): the address of its
// first element and its capacity, zero for a batch without rows.
type pin struct {
	at  uintptr
	cap int
}

// held is what a cut carries besides its range.
type held struct {
	p      *partition
	batch  *schemas.Batch
	dlq    *deadletter.Group
	pin    pin  // builder.pin
	dead   bool // rewound or revoked: its ack is ignored, its range comes again
	handed bool
}

type cut = cuts.Cut[held]

// NewSource connects to the brokers and joins the group lazily (on the
// first Next). decoders maps every configured topic to its decoder;
// extraOpts are appended to cfg.Opts() (e.g. kprom hooks). The caller must
// Close a Source it got: it runs the decode workers.
func NewSource(cfg Config, decoders map[string]Decoder, reg prometheus.Registerer, logger *slog.Logger, extraOpts ...kgo.Opt) (*Source, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for t, name := range cfg.Topics {
		if decoders[t] == nil {
			return nil, fmt.Errorf("kafka source: topic %s: no decoder %q given", t, name)
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts, err := cfg.groupOpts()
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg: cfg,
		lim: cuts.Limits{
			MaxRows: cfg.BatchMaxRows, MaxBytes: cfg.BatchMaxBytes,
			Linger: cfg.BatchLinger, MaxInFlight: cfg.MaxInFlightBatches,
		},
		logger:   logger.With("component", "kafka-source", "group", cfg.Group),
		m:        metrics.New(reg),
		now:      time.Now,
		decoders: decoders,
		tms:      make(map[string]*metrics.Topic, len(cfg.Topics)),
		parts:    make(map[tp]*partition),
		ackCh:    make(chan struct{}, 1),
	}
	for t, name := range cfg.Topics {
		s.tms[t] = s.m.ForTopic(t, name)
	}
	s.ra = NewReadAhead(cfg.ReadAheadBytes)
	s.raUser = s.ra.join()
	s.life, s.stopLife = context.WithCancel(context.Background())
	opts = append(opts,
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnOffsetsFetched(s.onOffsetsFetched),
		kgo.AdjustFetchOffsetsFn(s.adjustOffsets),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)
	opts = append(opts, extraOpts...)
	s.cl, err = kgo.NewClient(opts...)
	if err != nil {
		s.stopLife()
		return nil, fmt.Errorf("kafka source: new client: %w", err)
	}
	s.startDecoders()
	return s, nil
}

// SetCutHistory makes the source plan the cuts of partitions without its
// own commit metadata from h. Call it before the first Next.
func (s *Source) SetCutHistory(h CutHistory) { s.history = h }

// OnRelease makes the source call f for every partition it gives up:
// revoked in a rebalance (after waiting for its batches, kafka.
// revoke_timeout) or lost. Its batches not acknowledged by then are
// abandoned; f lets the consumer drop what it holds of the partition
// (pipeline.Pipeline.Release). f runs in the client's rebalance callback:
// it must not block. Call it before the first Next.
func (s *Source) OnRelease(f func(topic string, partition int32)) { s.onRelease = f }

// Client exposes the underlying client (for health checks and admin calls).
func (s *Source) Client() *kgo.Client { return s.cl }

// Next returns the next batch: one partition's contiguous offset range and
// the valid interactions decoded from it, in offset order. The caller must
// call batch.Ack exactly once: Ack(nil) once every sink stored it, Ack(err)
// to have the range (and every later range of that partition) delivered
// again. Batches of different partitions may be held and acked
// concurrently and in any order; a partition's offsets are committed only
// up to its first unacknowledged batch.
//
// Next blocks until a batch is ready or ctx is done. It is the poll loop:
// it fetches, hands records to the decode workers and applies what they
// return, cuts, and commits.
func (s *Source) Next(ctx context.Context) (*schemas.Batch, error) {
	// Joining only now orders every assignment (and so every read of the
	// cut history) after SetCutHistory.
	s.join.Do(func() { s.cl.AddConsumeTopics(s.cfg.topicNames()...) })
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if c := s.popReadyLocked(); c != nil {
			s.mu.Unlock()
			return c.Val.batch, nil
		}
		deadline, hasDeadline := s.pollDeadlineLocked()
		var pollCtx context.Context
		var cancel context.CancelFunc
		if hasDeadline {
			pollCtx, cancel = context.WithDeadline(ctx, deadline)
		} else {
			pollCtx, cancel = context.WithCancel(ctx)
		}
		// Set in the same critical section that looked at s.decoded: a
		// worker handing a chunk back either was seen or sees the cancel.
		s.pollCancel = cancel
		// The read-ahead budget wakes a source paused for it without its
		// lock (an ack of another source frees bytes).
		s.raUser.wake.Store(&cancel)
		s.mu.Unlock()

		fetches := s.cl.PollRecords(pollCtx, 0)

		s.mu.Lock()
		s.pollCancel = nil
		s.raUser.wake.Store(nil)
		s.mu.Unlock()
		cancel()

		err := s.process(ctx, fetches)
		// Revocations may run from here on: every cut, seek and commit
		// that depended on the current assignment is done.
		s.cl.AllowRebalance()
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// pollDeadlineLocked is when the poll must return even without records:
// decoded records wait to be applied, a lingering batch must close, acked
// progress must be committed, or an unrecorded cut must be retried.
func (s *Source) pollDeadlineLocked() (time.Time, bool) {
	now := s.now()
	var d time.Time
	set := func(t time.Time) {
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	if len(s.decoded) > 0 {
		set(now)
	}
	if len(s.unrecorded) > 0 {
		set(now.Add(200 * time.Millisecond))
	}
	for _, p := range s.parts {
		if t, ok := p.plan.LingerDeadline(); ok {
			set(t)
		}
		if len(p.plan.InFlight()) > 0 || p.rewind || p.changes != p.clean {
			set(s.lastCommit.Add(s.cfg.CommitInterval))
		}
	}
	if d.Before(now) && !d.IsZero() {
		d = now
	}
	return d, !d.IsZero()
}

func (s *Source) popReadyLocked() *cut {
	for len(s.ready) > 0 {
		c := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		if c.Val.p.dropped || c.Val.dead {
			continue // revoked or rewound since it was cut
		}
		c.Val.handed = true
		s.m.InFlight.Inc()
		return c
	}
	return nil
}

// process handles one poll: dispatch its records to the decoders, apply
// what they decoded (dead letters, cuts), then record the cuts durably
// before they become ready. It runs while rebalances are blocked.
func (s *Source) process(ctx context.Context, fetches kgo.Fetches) error {
	var closed bool
	fetches.EachError(func(t string, p int32, err error) {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		case errors.Is(err, kgo.ErrClientClosed):
			closed = true
		default:
			s.logger.LogAttrs(ctx, slog.LevelError, "fetch failed", slog.String("topic", t), slog.Int("partition", int(p)), slog.Any("err", err))
		}
	})
	if closed {
		return ErrClosed
	}
	now := s.now()

	s.mu.Lock()
	rewound := s.rewindLocked()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		p := s.parts[tp{fp.Topic, fp.Partition}]
		if p == nil || p.dropped || p.rewind || rewound[p] {
			// Not ours any more, or fetched from before a rewind: a rewound
			// partition's records in this poll continue from the old
			// position, and taking them would cut the plan's ranges empty
			// and commit past records never stored.
			return
		}
		p.hwm = fp.HighWatermark
		p.setLag()
		s.dispatchLocked(p, fp.Records)
	})
	s.applyDecodedLocked(now)
	for _, p := range s.parts {
		if end, ok := p.plan.Lingered(now); ok {
			s.cutLocked(p, end)
		}
	}
	s.pauseLocked()
	pending := slices.Clone(s.unrecorded)
	s.mu.Unlock()

	// A dead letter must be in Kafka before its offset can be committed:
	// wait for the dead letters of the new cuts before they become ready.
	for _, c := range pending {
		if c.Val.dlq == nil {
			continue
		}
		if err := c.Val.dlq.Wait(s.life); err != nil {
			s.m.DLQErrors.Inc()
			s.logger.LogAttrs(ctx, slog.LevelError, "dead-letter produce failed; consuming the range again",
				slog.String("origin", c.Val.batch.Origin.String()), slog.Any("err", err))
			s.mu.Lock()
			if !c.Val.p.dropped && !c.Val.dead {
				s.failLocked(c)
			}
			s.mu.Unlock()
		}
	}

	s.mu.Lock()
	force := len(s.unrecorded) > 0
	s.mu.Unlock()
	// Commit even when the caller's ctx just expired: acknowledged work
	// should not wait for the next call (CommitTimeout bounds it).
	if err := s.commit(context.WithoutCancel(ctx), force); err != nil {
		return nil // logged and counted; retried on the next poll
	}
	return nil
}

// cutLocked closes p's open batch (or an empty one) at end and queues it to
// be recorded.
func (s *Source) cutLocked(p *partition, end int64) {
	b := p.open
	p.open = nil
	if b == nil {
		b = &builder{batch: schemas.NewBatch(schemas.Origin{Topic: p.topic, Partition: p.part}, nil)}
	}
	plan := p.plan.Plan()
	// Checked before Close, which takes the end off the plan.
	b.batch.MaybeStored = len(plan) > 0 && plan[0] == end
	c := p.plan.Close(end, held{p: p, batch: b.batch, dlq: b.dlq, pin: b.in})
	b.batch.Origin.FirstOffset, b.batch.Origin.LastOffset = c.First, c.Last
	b.batch.AtEnd = p.hwm > 0 && c.Last+1 >= p.hwm
	b.batch.SetAck(func(err error) { s.ack(c, err) })
	b.batch.SetAbandoned(func() bool { return s.abandoned(c) })
	s.unrecorded = append(s.unrecorded, c)
	p.tm.Batches.Inc()
	s.m.BatchRows.Observe(float64(len(b.batch.Interactions)))
	p.batchRows = len(b.batch.Interactions)
	s.m.BatchBytes.Observe(float64(b.batch.Bytes))
}

func (s *Source) ack(c *cut, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Val.handed {
		s.m.InFlight.Dec()
	}
	defer s.signalAck()
	p := c.Val.p
	if p.dropped || c.Val.dead || c.Acked {
		return // revoked or rewound meanwhile: the range is delivered again anyway
	}
	if err != nil {
		s.m.Redelivered.Inc()
		s.logger.Warn("batch not stored; consuming it again", "origin", c.Val.batch.Origin.String(), "err", err)
		s.failLocked(c)
		if s.pollCancel != nil {
			s.pollCancel() // seek now rather than after the poll
		}
		return
	}
	p.plan.Ack(c)
	p.changes++
	s.ra.release(s.raUser, batchBytes(c.Val.batch))
	// The cut stays in the plan until its offset is committed (up to
	// commit_interval later), and the budget no longer counts it: it must
	// not keep the batch's rows, or their arena, alive until then.
	c.Val.batch, c.Val.dlq = nil, nil
}

// abandoned reports whether c was given up after it was cut: its
// partition revoked or lost (drop), or c rewound behind an earlier batch
// handed back (failLocked). Its ack is ignored then (ack), and the range
// is consumed again, here or by the partition's new owner.
func (s *Source) abandoned(c *cut) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.Val.p.dropped || c.Val.dead
}

func (s *Source) signalAck() {
	select {
	case s.ackCh <- struct{}{}:
	default:
	}
}

// failLocked rewinds p to c's first offset: c and every later cut become
// the plan (so the replay cuts the same ranges) and are fetched again;
// whatever was fetched or decoded past that point is dropped.
func (s *Source) failLocked(c *cut) {
	p := c.Val.p
	dead := p.plan.Rewind(c)
	if dead == nil {
		return
	}
	for _, x := range dead {
		x.Val.dead = true
	}
	p.open = nil
	p.rewind = true
	p.changes++
	p.gen++
	s.dropQueueLocked(p)
	p.next = p.plan.Pos()
	s.unrecorded = slices.DeleteFunc(s.unrecorded, func(x *cut) bool { return x.Val.dead })
}

// rewindLocked seeks rewound partitions back and returns them. It runs
// while rebalances are blocked, as SetOffsets requires for group consumers.
func (s *Source) rewindLocked() map[*partition]bool {
	var set map[string]map[int32]kgo.EpochOffset
	var rewound map[*partition]bool
	for _, p := range s.parts {
		if !p.rewind || p.dropped {
			continue
		}
		if set == nil {
			set = make(map[string]map[int32]kgo.EpochOffset)
		}
		if set[p.topic] == nil {
			set[p.topic] = make(map[int32]kgo.EpochOffset)
		}
		set[p.topic][p.part] = kgo.EpochOffset{Epoch: -1, Offset: p.plan.Pos()}
		p.rewind = false
		if rewound == nil {
			rewound = make(map[*partition]bool)
		}
		rewound[p] = true
	}
	if set != nil {
		// SetOffsets drops what was buffered for these partitions.
		s.cl.SetOffsets(set)
	}
	return rewound
}

// pauseLocked pauses partitions at their in-flight bound, or with records
// waiting for the decoders, and resumes the others.
func (s *Source) pauseLocked() {
	// Global bounds as well as the per-partition one: with many partitions
	// (7 topics × 12 here) the per-partition bound alone lets gigabytes of
	// decoded batches wait for a slow sink, and the GC pays for all of it.
	// The read-ahead budget is the one that holds across the process's
	// sources (ReadAhead); the row bound is this source's alone.
	bytes, rows := s.heldLocked()
	s.m.ReadAhead.Set(float64(bytes))
	overBudget := s.ra.set(s.raUser, bytes) || rows >= s.cfg.MaxInFlightRows
	// Undecoded records are bounded the same way: a partition whose decoding
	// is behind (a chunk waits behind the one at a worker) fetches no more,
	// and nothing is fetched while a full fetch's worth waits.
	backlog := s.undecoded >= int64(s.cfg.FetchMaxBytes)
	var pause, resume map[string][]int32
	for _, p := range s.parts {
		full := overBudget || backlog || p.plan.Full() || s.work.Waiting(p) > 0
		switch {
		case full && !p.paused:
			if pause == nil {
				pause = make(map[string][]int32)
			}
			pause[p.topic] = append(pause[p.topic], p.part)
			p.paused = true
		case !full && p.paused:
			if resume == nil {
				resume = make(map[string][]int32)
			}
			resume[p.topic] = append(resume[p.topic], p.part)
			p.paused = false
		}
	}
	if pause != nil {
		s.cl.PauseFetchPartitions(pause)
	}
	if resume != nil {
		s.cl.ResumeFetchPartitions(resume)
	}
}
