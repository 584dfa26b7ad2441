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
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/salespulse/salespulse/schemas"
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
// Decode is called from one goroutine at a time.
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

// maxMetaBytes keeps commit metadata under Kafka's default
// offset.metadata.max.bytes (4096): a longer plan is cut short and marked
// with metaMore, telling the next owner to read the rest from the history.
const (
	maxMetaBytes = 3500
	metaMore     = "+"
)

// ErrClosed is returned by Next after Close, or when the client closed.
var ErrClosed = errors.New("kafka source closed")

// metaPrefix versions the commit-metadata format "sp1:end1,end2,...".
const metaPrefix = "sp1:"

type tp struct {
	topic string
	part  int32
}

// Source consumes the configured topics in one consumer group.
//
// Next is called from one goroutine; Ack may be called from any goroutine,
// in any order. Close must not run concurrently with Next.
type Source struct {
	cfg      Config
	cl       *kgo.Client
	logger   *slog.Logger
	m        *metrics
	now      func() time.Time
	decoders map[string]Decoder // by topic
	tms      map[string]*topicMetrics
	history  CutHistory // may be nil: then only commit metadata plans cuts

	// life is canceled by Close: it bounds dead-letter produces and the
	// waits in revoke callbacks.
	life     context.Context
	stopLife context.CancelFunc

	commitMu sync.Mutex // serialises commits from Next, revokes and Close

	mu         sync.Mutex
	parts      map[tp]*partition
	ready      []*cut // recorded, not yet handed out, in cut order
	unrecorded []*cut // cut, waiting for their cut to be committed
	pollCancel context.CancelFunc
	lastCommit time.Time
	closed     bool
	ackCh      chan struct{} // signalled on every ack (revoke and Close wait on it)
}

// partition is the state of one owned partition. Guarded by Source.mu.
type partition struct {
	tp
	decoder Decoder
	source  string
	tm      *topicMetrics
	lag     prometheus.Gauge

	pos  int64   // first offset of the next cut; -1 until known
	plan []int64 // ends the next cuts must have (from a previous owner, or a rewind)
	cuts []*cut  // cut and not yet acknowledged, in offset order
	open *builder

	rewind    bool   // pos must be re-fetched: SetOffsets pending
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

type builder struct {
	batch  *schemas.Batch
	first  int64
	opened time.Time
	dlq    *dlqGroup
}

type cut struct {
	p      *partition
	dead   bool // rewound or revoked: its ack is ignored, its range comes again
	batch  *schemas.Batch
	first  int64
	last   int64
	dlq    *dlqGroup
	handed bool
	acked  bool
}

// NewSource connects to the brokers and joins the group lazily (on the
// first Next). decoders maps every configured topic to its decoder;
// extraOpts are appended to cfg.Opts() (e.g. kprom hooks).
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
	opts, err := cfg.Opts()
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:      cfg,
		logger:   logger.With("component", "kafka-source", "group", cfg.Group),
		m:        newMetrics(reg),
		now:      time.Now,
		decoders: decoders,
		tms:      make(map[string]*topicMetrics, len(cfg.Topics)),
		parts:    make(map[tp]*partition),
		ackCh:    make(chan struct{}, 1),
	}
	for t, name := range cfg.Topics {
		s.tms[t] = s.m.forTopic(t, name)
	}
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
	return s, nil
}

// SetCutHistory makes the source plan the cuts of partitions without its
// own commit metadata from h. Call it before the first Next.
func (s *Source) SetCutHistory(h CutHistory) { s.history = h }

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
// Next blocks until a batch is ready or ctx is done.
func (s *Source) Next(ctx context.Context) (*schemas.Batch, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if c := s.popReadyLocked(); c != nil {
			s.mu.Unlock()
			return c.batch, nil
		}
		deadline, hasDeadline := s.pollDeadlineLocked()
		var pollCtx context.Context
		var cancel context.CancelFunc
		if hasDeadline {
			pollCtx, cancel = context.WithDeadline(ctx, deadline)
		} else {
			pollCtx, cancel = context.WithCancel(ctx)
		}
		s.pollCancel = cancel
		s.mu.Unlock()

		fetches := s.cl.PollRecords(pollCtx, 0)

		s.mu.Lock()
		s.pollCancel = nil
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

// pollDeadlineLocked is when the poll must return even without records: a
// lingering batch must close, acked progress must be committed, or an
// unrecorded cut must be retried.
func (s *Source) pollDeadlineLocked() (time.Time, bool) {
	now := s.now()
	var d time.Time
	set := func(t time.Time) {
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	if len(s.unrecorded) > 0 {
		set(now.Add(200 * time.Millisecond))
	}
	for _, p := range s.parts {
		// A partition at its in-flight bound cannot cut: its linger would
		// only spin the loop until an ack arrives.
		if p.open != nil && len(p.plan) == 0 && len(p.cuts) < s.cfg.MaxInFlightBatches {
			set(p.open.opened.Add(s.cfg.BatchLinger))
		}
		if len(p.cuts) > 0 || p.rewind || p.changes != p.clean {
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
		if c.p.dropped || c.dead {
			continue // revoked or rewound since it was cut
		}
		c.handed = true
		s.m.inFlight.Inc()
		return c
	}
	return nil
}

// process handles one poll's records: decode, dead-letter, cut, then record
// the cuts durably before they become ready. It runs while rebalances are
// blocked.
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
		for _, r := range fp.Records {
			if p.pos >= 0 && r.Offset < p.pos {
				continue
			}
			s.addLocked(p, r, now)
		}
	})
	for _, p := range s.parts {
		if p.open != nil && len(p.plan) == 0 && !now.Before(p.open.opened.Add(s.cfg.BatchLinger)) && len(p.cuts) < s.cfg.MaxInFlightBatches {
			s.cutLocked(p, p.open.batch.Origin.LastOffset)
		}
	}
	s.pauseLocked()
	pending := slices.Clone(s.unrecorded)
	s.mu.Unlock()

	// A dead letter must be in Kafka before its offset can be committed:
	// wait for this poll's dead letters before the cuts become ready.
	for _, c := range pending {
		if c.dlq == nil {
			continue
		}
		if err := c.dlq.wait(s.life); err != nil {
			s.m.dlqErrors.Inc()
			s.logger.LogAttrs(ctx, slog.LevelError, "dead-letter produce failed; consuming the range again",
				slog.String("origin", c.batch.Origin.String()), slog.Any("err", err))
			s.mu.Lock()
			if !c.p.dropped && !c.dead {
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

// addLocked decodes one record into p's open batch, dead-lettering it if
// needed, and cuts where the plan or the size limits say.
func (s *Source) addLocked(p *partition, r *kgo.Record, now time.Time) {
	if p.pos < 0 && p.open == nil {
		// The first record of a partition consumed from the reset offset:
		// planned ends before it are of records already deleted.
		for len(p.plan) > 0 && p.plan[0] < r.Offset {
			p.plan = p.plan[1:]
		}
	}
	for len(p.plan) > 0 && r.Offset > p.plan[0] {
		s.cutLocked(p, p.plan[0])
	}
	if p.open == nil {
		first := p.pos
		if first < 0 {
			first = r.Offset
		}
		p.open = &builder{batch: schemas.NewBatch(schemas.Origin{Topic: p.topic, Partition: p.part, FirstOffset: first}, nil), first: first, opened: now}
	}
	b := p.open
	b.batch.Origin.LastOffset = r.Offset
	b.batch.Bytes += int64(len(r.Value))
	p.tm.records.Inc()
	p.tm.bytes.Add(float64(len(r.Value)))

	if len(r.Value) > s.cfg.MaxRecordBytes {
		s.deadLetterLocked(p, b, r, fmt.Errorf("record of %d bytes exceeds max_record_bytes %d", len(r.Value), s.cfg.MaxRecordBytes), "oversized")
	} else {
		n := len(b.batch.Interactions)
		out, err := decodeSafe(p.decoder, b.batch.Interactions, r.Value)
		b.batch.Interactions = out
		added := len(out) - n
		p.tm.decoded.Add(float64(added))
		switch {
		case err != nil:
			s.deadLetterLocked(p, b, r, err, "")
		case added == 0:
			p.tm.skipped.Inc()
		}
	}

	switch {
	case len(p.plan) > 0:
		if r.Offset == p.plan[0] {
			s.cutLocked(p, r.Offset)
		}
	case len(p.cuts) >= s.cfg.MaxInFlightBatches:
		// Wait for acks; the partition is paused, so the open batch grows
		// by at most what was already fetched.
	case len(b.batch.Interactions) >= s.cfg.BatchMaxRows || b.batch.Bytes >= s.cfg.BatchMaxBytes:
		s.cutLocked(p, r.Offset)
	}
}

// panicError is a decoder panic turned into a dead letter.
type panicError struct{ v any }

func (e panicError) Error() string { return fmt.Sprintf("decoder panic: %v", e.v) }

// decodeSafe runs a decoder, turning a panic into an error: one poisonous
// record must not stop every partition of the process. What the decoder
// appended before panicking is discarded (its state is unknown).
func decodeSafe(d Decoder, dst []schemas.Interaction, v []byte) (out []schemas.Interaction, err error) {
	n := len(dst)
	defer func() {
		if r := recover(); r != nil {
			out, err = dst[:n], panicError{r}
		}
	}()
	return d.Decode(dst, v)
}

// cutLocked closes p's open batch (or an empty one) at end and queues it to
// be recorded.
func (s *Source) cutLocked(p *partition, end int64) {
	b := p.open
	if b == nil {
		first := p.pos
		if first < 0 {
			first = end
		}
		b = &builder{batch: schemas.NewBatch(schemas.Origin{Topic: p.topic, Partition: p.part, FirstOffset: first}, nil), first: first}
	}
	p.open = nil
	if len(p.plan) > 0 && p.plan[0] == end {
		p.plan = p.plan[1:]
	}
	b.batch.Origin.LastOffset = end
	c := &cut{p: p, batch: b.batch, first: b.first, last: end, dlq: b.dlq}
	b.batch.SetAck(func(err error) { s.ack(c, err) })
	p.cuts = append(p.cuts, c)
	p.pos = end + 1
	s.unrecorded = append(s.unrecorded, c)
	p.tm.batches.Inc()
	s.m.batchRows.Observe(float64(len(b.batch.Interactions)))
	s.m.batchBytes.Observe(float64(b.batch.Bytes))
}

func (s *Source) ack(c *cut, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.handed {
		s.m.inFlight.Dec()
	}
	defer s.signalAck()
	p := c.p
	if p.dropped || c.dead || c.acked {
		return // revoked or rewound meanwhile: the range is delivered again anyway
	}
	if err != nil {
		s.m.redelivered.Inc()
		s.logger.Warn("batch not stored; consuming it again", "origin", c.batch.Origin.String(), "err", err)
		s.failLocked(c)
		if s.pollCancel != nil {
			s.pollCancel() // seek now rather than after the poll
		}
		return
	}
	c.acked = true
	p.changes++
	k := 0
	for k < len(p.cuts) && p.cuts[k].acked {
		k++
	}
	if k > 0 {
		p.cuts = slices.Delete(p.cuts, 0, k)
	}
}

func (s *Source) signalAck() {
	select {
	case s.ackCh <- struct{}{}:
	default:
	}
}

// failLocked rewinds p to c's first offset: c and every later cut become
// the plan (so the replay cuts the same ranges) and are fetched again.
func (s *Source) failLocked(c *cut) {
	p := c.p
	k := slices.Index(p.cuts, c)
	if k < 0 {
		return
	}
	ends := make([]int64, 0, len(p.cuts)-k+len(p.plan))
	for _, x := range p.cuts[k:] {
		ends = append(ends, x.last)
	}
	for _, x := range p.cuts[k:] {
		x.dead = true
	}
	p.plan = append(ends, p.plan...)
	p.cuts = p.cuts[:k:k]
	p.pos = c.first
	p.open = nil
	p.rewind = true
	p.changes++
	s.unrecorded = slices.DeleteFunc(s.unrecorded, func(x *cut) bool { return x.dead })
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
		set[p.topic][p.part] = kgo.EpochOffset{Epoch: -1, Offset: p.pos}
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

// pauseLocked pauses partitions at their in-flight bound and resumes the
// ones below it.
func (s *Source) pauseLocked() {
	// A global bound as well as the per-partition one: with many partitions
	// (7 topics × 12 here) the per-partition bound alone lets gigabytes of
	// decoded batches wait for a slow sink, and the GC pays for all of it.
	var rows int
	for _, p := range s.parts {
		for _, c := range p.cuts {
			if !c.acked && !c.dead {
				rows += len(c.batch.Interactions)
			}
		}
	}
	overBudget := rows >= s.cfg.MaxInFlightRows
	var pause, resume map[string][]int32
	for _, p := range s.parts {
		full := overBudget || len(p.cuts) >= s.cfg.MaxInFlightBatches
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

// commitStateLocked is what p's commit says: the first offset not yet
// acknowledged, and the ends of every cut from there on.
func commitStateLocked(p *partition) (int64, string, bool) {
	off := p.pos
	if len(p.cuts) > 0 {
		off = p.cuts[0].first
	}
	if off < 0 {
		return 0, "", false
	}
	b := make([]byte, 0, min(len(metaPrefix)+(len(p.cuts)+len(p.plan))*8, maxMetaBytes+32))
	b = append(b, metaPrefix...)
	n := 0
	for _, c := range p.cuts {
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, c.last, 10)
		n++
	}
	for _, e := range p.plan {
		if len(b) > maxMetaBytes {
			// The rest of a long plan (a replay of many stored batches) is
			// in the cut history; the marker sends the next owner there.
			b = append(b, ',')
			b = append(b, metaMore...)
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, e, 10)
		n++
	}
	return off, string(b), true
}

// parseMeta reads the cut ends a previous owner committed; anything not in
// our format (another tool's commit) means no plan.
func parseMeta(meta string, from int64) []int64 {
	rest, ok := strings.CutPrefix(meta, metaPrefix)
	if !ok || rest == "" {
		return nil
	}
	var ends []int64
	prev := from - 1
	for f := range strings.SplitSeq(rest, ",") {
		e, err := strconv.ParseInt(f, 10, 64)
		if err != nil || e <= prev {
			return ends // keep the valid, increasing prefix
		}
		ends = append(ends, e)
		prev = e
	}
	return ends
}

// commit commits every owned partition whose state changed. With force
// false it only does so once per CommitInterval. On success the unrecorded
// cuts become ready.
func (s *Source) commit(ctx context.Context, force bool) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	now := s.now()
	if !force && now.Sub(s.lastCommit) < s.cfg.CommitInterval {
		s.mu.Unlock()
		return nil
	}
	changes := make(map[*partition]uint64, len(s.parts))
	for _, p := range s.parts {
		changes[p] = p.changes
	}
	offs, metas, states := s.commitSetLocked(func(p *partition) bool { return !p.dropped })
	recorded := slices.Clone(s.unrecorded)
	s.mu.Unlock()

	err := s.commitSync(ctx, offs, metas)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCommit = now
	if err != nil {
		return err
	}
	for p, st := range states {
		p.committed = st
		if off, err := strconv.ParseInt(st[:strings.IndexByte(st, '/')], 10, 64); err == nil {
			p.commitOff = off
			p.setLag()
		}
	}
	for p, n := range changes {
		p.clean = n
	}
	for _, c := range recorded {
		if c.p.dropped || c.dead {
			continue
		}
		s.ready = append(s.ready, c)
	}
	s.unrecorded = slices.DeleteFunc(s.unrecorded, func(c *cut) bool { return slices.Contains(recorded, c) })
	return nil
}

func (s *Source) commitSetLocked(include func(*partition) bool) (map[string]map[int32]kgo.EpochOffset, map[tp]string, map[*partition]string) {
	offs := make(map[string]map[int32]kgo.EpochOffset)
	metas := make(map[tp]string)
	states := make(map[*partition]string)
	for _, p := range s.parts {
		if !include(p) {
			continue
		}
		off, meta, ok := commitStateLocked(p)
		if !ok {
			continue
		}
		st := strconv.FormatInt(off, 10) + "/" + meta
		if st == p.committed {
			continue
		}
		if offs[p.topic] == nil {
			offs[p.topic] = make(map[int32]kgo.EpochOffset)
		}
		offs[p.topic][p.part] = kgo.EpochOffset{Epoch: -1, Offset: off}
		metas[p.tp] = meta
		states[p] = st
	}
	return offs, metas, states
}

// commitSync commits offs with their metadata and reports the first
// failure, request-level or per partition.
func (s *Source) commitSync(ctx context.Context, offs map[string]map[int32]kgo.EpochOffset, metas map[tp]string) error {
	if len(offs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
	defer cancel()
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				pp := &t.Partitions[j]
				if m, ok := metas[tp{t.Topic, pp.Partition}]; ok {
					pp.Metadata = &m
				}
			}
		}
		return nil
	})
	var cerr error
	s.cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		s.m.commitErrors.Inc()
		s.logger.LogAttrs(ctx, slog.LevelError, "offset commit failed", slog.Any("err", cerr))
		return fmt.Errorf("commit offsets: %w", cerr)
	}
	return nil
}

func (s *Source) partitionLocked(topic string, part int32) *partition {
	k := tp{topic, part}
	if p := s.parts[k]; p != nil {
		return p
	}
	p := &partition{
		tp:        k,
		decoder:   s.decoders[topic],
		source:    s.cfg.Topics[topic],
		tm:        s.tms[topic],
		lag:       s.m.lagFor(topic, part),
		pos:       -1,
		commitOff: -1,
	}
	s.parts[k] = p
	return p
}

func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range assigned {
		for _, part := range ps {
			s.partitionLocked(t, part)
		}
	}
	s.logger.Info("partitions assigned", "partitions", assigned)
}

// onOffsetsFetched learns where each new partition starts and which cuts
// its previous owner made but did not see acknowledged; for partitions
// without such a plan it asks the cut history.
func (s *Source) onOffsetsFetched(ctx context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	need := make(map[string][]int32)
	from := make(map[tp]int64)
	s.mu.Lock()
	set := func(topic string, part int32, off int64, meta *string) {
		if topic == "" || s.decoders[topic] == nil {
			return
		}
		p := s.partitionLocked(topic, part)
		p.start = -1
		if m := derefOr(meta); off < 0 || !strings.HasPrefix(m, metaPrefix) || strings.HasSuffix(m, metaMore) {
			if _, dup := from[p.tp]; !dup { // a response may list a partition twice (group and top-level fields)
				need[topic] = append(need[topic], part)
			}
			from[p.tp] = off
		}
		if off < 0 {
			return // nothing committed: start at the reset offset, no plan
		}
		p.pos = off
		p.plan = nil
		if meta != nil {
			p.plan = parseMeta(*meta, off)
		}
		p.committed = strconv.FormatInt(off, 10) + "/" + derefOr(meta)
		p.commitOff = off
		if len(p.plan) > 0 {
			s.logger.Info("replaying previous cuts", "topic", topic, "partition", part, "from", off, "ends", p.plan)
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, pp := range t.Partitions {
				set(t.Topic, pp.Partition, pp.Offset, pp.Metadata)
			}
		}
	}
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			set(t.Topic, pp.Partition, pp.Offset, pp.Metadata)
		}
	}
	s.mu.Unlock()
	if s.history == nil || len(need) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	for topic, parts := range need {
		origins, err := s.history.StoredOrigins(ctx, topic, parts)
		if err != nil {
			// Cutting without the history could store a replayed range
			// under new tokens: count it twice. Rejoin and try again.
			s.logger.Error("load cut history failed; rejoining the group to retry", "topic", topic, "err", err)
			return fmt.Errorf("load cut history of %s: %w", topic, err)
		}
		byPart := make(map[int32][]schemas.Origin)
		for _, o := range origins {
			byPart[o.Partition] = append(byPart[o.Partition], o)
		}
		s.mu.Lock()
		for _, part := range parts {
			p := s.parts[tp{topic, part}]
			if p == nil || p.dropped {
				continue
			}
			off := from[p.tp]
			start, ends := planFromHistory(byPart[part], off)
			if start != off {
				p.pos, p.start = start, start
			}
			p.plan = mergeEnds(p.plan, ends)
			if len(ends) > 0 {
				s.logger.Info("replaying stored cuts from the history", "topic", topic, "partition", part,
					"committed", off, "from", start, "cuts", len(ends))
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// adjustOffsets starts a partition earlier than its commit when the commit
// falls inside a stored batch (offsets reset by a tool to an arbitrary
// offset): consuming the whole batch again repeats its token, where
// consuming its tail alone would store that tail a second time.
func (s *Source) adjustOffsets(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range offs {
		for part := range ps {
			if p := s.parts[tp{t, part}]; p != nil && p.start >= 0 {
				ps[part] = kgo.NewOffset().At(p.start)
				p.start = -1
			}
		}
	}
	return offs, nil
}

// planFromHistory turns stored batch origins of one partition into the
// ends the next cuts must have, starting at from (-1: not known yet, the
// reset offset). A gap between stored batches (a batch that stored no rows,
// or was never stored) becomes one batch of its own. Origins overlapping an
// earlier one (the database already holds two cuttings of these offsets)
// are skipped. start is from, or the first offset of the stored batch from
// falls into.
func planFromHistory(origins []schemas.Origin, from int64) (start int64, ends []int64) {
	slices.SortFunc(origins, func(a, b schemas.Origin) int {
		if a.FirstOffset != b.FirstOffset {
			return cmpInt(a.FirstOffset, b.FirstOffset)
		}
		return cmpInt(a.LastOffset, b.LastOffset)
	})
	start = from
	if from > 0 {
		for _, o := range origins {
			if o.FirstOffset < from && o.LastOffset >= from {
				start = o.FirstOffset
				break
			}
		}
	}
	prev := max(start, 0) - 1
	for _, o := range origins {
		if o.FirstOffset <= prev || o.LastOffset < o.FirstOffset {
			continue
		}
		if o.FirstOffset-1 > prev && o.FirstOffset > max(start, 0) {
			ends = append(ends, o.FirstOffset-1)
		}
		ends = append(ends, o.LastOffset)
		prev = o.LastOffset
	}
	return start, ends
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mergeEnds merges two increasing lists of cut ends into one, without
// repeats.
func mergeEnds(a, b []int64) []int64 {
	if len(a) == 0 {
		return b
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// onRevoked gives partitions up cleanly: wait (bounded) for their handed-out
// batches, commit what was acknowledged together with the pending cuts, and
// drop the rest, which the new owner consumes again with the same cuts.
func (s *Source) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	want := make(map[tp]bool)
	for t, ps := range revoked {
		for _, p := range ps {
			want[tp{t, p}] = true
		}
	}
	s.waitAcked(ctx, s.cfg.RevokeTimeout, func(p *partition) bool { return want[p.tp] })

	s.commitMu.Lock()
	s.mu.Lock()
	offs, metas, _ := s.commitSetLocked(func(p *partition) bool { return want[p.tp] && !p.dropped })
	s.mu.Unlock()
	if err := s.commitSync(ctx, offs, metas); err != nil {
		s.logger.Warn("commit on revoke failed; unacknowledged work is redelivered", "err", err)
	}
	s.commitMu.Unlock()
	s.drop(want)
	s.logger.Info("partitions revoked", "partitions", revoked)
}

func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	want := make(map[tp]bool)
	for t, ps := range lost {
		for _, p := range ps {
			want[tp{t, p}] = true
		}
	}
	s.drop(want)
	s.logger.Warn("partitions lost; their in-flight batches will be redelivered to the new owner", "partitions", lost)
}

func (s *Source) drop(which map[tp]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range which {
		p := s.parts[k]
		if p == nil {
			continue
		}
		p.dropped = true
		delete(s.parts, k)
		s.m.dropLag(k.topic, k.part)
	}
	s.unrecorded = slices.DeleteFunc(s.unrecorded, func(c *cut) bool { return c.p.dropped })
	s.ready = slices.DeleteFunc(s.ready, func(c *cut) bool { return c.p.dropped })
}

// waitAcked waits until no handed-out batch of a matching partition is
// unacknowledged, or timeout, or ctx is done.
func (s *Source) waitAcked(ctx context.Context, timeout time.Duration, match func(*partition) bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		busy := 0
		for _, p := range s.parts {
			if !match(p) {
				continue
			}
			for _, c := range p.cuts {
				if c.handed && !c.acked {
					busy++
				}
			}
		}
		s.mu.Unlock()
		if busy == 0 {
			return
		}
		select {
		case <-s.ackCh:
		case <-t.C:
			s.logger.Warn("gave up waiting for in-flight batches", "batches", busy)
			return
		case <-ctx.Done():
			return
		}
	}
}

// Close waits (bounded by ctx) for handed-out batches to be acknowledged,
// commits acknowledged offsets, leaves the group and closes the client.
// Unacknowledged batches are redelivered to whoever owns their partitions
// next, cut at the same offsets.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.waitAcked(ctx, time.Hour, func(*partition) bool { return true })
	s.commitMu.Lock()
	s.mu.Lock()
	offs, metas, _ := s.commitSetLocked(func(p *partition) bool { return !p.dropped })
	s.mu.Unlock()
	err := s.commitSync(ctx, offs, metas)
	s.commitMu.Unlock()

	// Leaving runs onRevoked for what we still own (one more, now no-op,
	// commit) so the group rebalances at once instead of after the
	// session timeout.
	s.cl.Close()
	s.stopLife()
	return err
}
