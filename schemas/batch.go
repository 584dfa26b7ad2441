package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Origin names the Kafka records a batch was built from: one partition's
// contiguous offset range. Offsets are inclusive on both ends.
type Origin struct {
	Topic       string
	Partition   int32
	FirstOffset int64
	LastOffset  int64
}

// String renders "topic/partition/first-last".
func (o Origin) String() string {
	b := make([]byte, 0, len(o.Topic)+32)
	b = append(b, o.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(o.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, o.FirstOffset, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, o.LastOffset, 10)
	return string(b)
}

// DedupToken is the insert_deduplication_token for the rows this origin
// produced in table. It depends only on (topic, partition, offset range,
// table), so replaying the same offsets after a crash sends the same token
// and ClickHouse drops the repeated block instead of counting it twice.
func (o Origin) DedupToken(table string) string {
	h := sha256.New()
	h.Write([]byte("salespulse/v1\x00"))
	h.Write([]byte(o.String()))
	h.Write([]byte{0})
	h.Write([]byte(table))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// Batch is what flows from a source through the pipeline to the sinks: the
// valid interactions decoded from one partition's offset range, in offset
// order. Invalid records never reach a Batch; the source dead-letters them
// and counts them in Rejected, so a batch of only bad records still moves
// the offsets forward.
//
// A Batch is owned by whoever holds it; after Ack the source may reuse it,
// so sinks must not keep references to its slices past Write.
type Batch struct {
	Origin       Origin
	Interactions []Interaction
	Rejected     int   // records of this range that were dead-lettered
	Bytes        int64 // record value bytes in this range, for metrics and sizing
	// AtEnd: the range reached the partition's high watermark as known
	// when it was cut (the partition was caught up). Stages that propagate
	// event time use it to tell a quiet partition from a lagging one.
	AtEnd bool
	// MaybeStored: the range was cut where a previous attempt cut it (a
	// recorded plan from commit metadata or a rewind, or the cut history
	// of stored rows), so that attempt may have stored its rows already.
	// A sink that stores rows under a key other than this Origin (grouped
	// inserts) must look before it writes; one keyed by the Origin alone
	// (a per-batch dedup token) need not.
	MaybeStored bool

	// Derived by the pipeline before the sinks see the batch.
	Aggregates []AggregateRows // partial aggregate states, one entry per rollup table
	Late       []Interaction   // events beyond the allowed lateness, kept for the late-data table
	Alerts     []Alert         // alerts raised while processing this batch
	// Progress is the partition's event-time progress after this batch
	// when the input merges upstreams that send progress marks (the lead
	// topics): the window sets it (zero before any), later stages move
	// their clocks by it rather than by the events they see.
	Progress time.Time

	ack       func(error)
	abandoned func() bool
}

// AggregateRows is one KBI table's rows for a batch. Table is one of the
// Table* constants and Rows its row type (TableActivity holds ActivityRows);
// the ClickHouse sink owns how each becomes columns.
type AggregateRows struct {
	Table string
	Rows  Rows
}

// NewBatch returns a batch for origin whose Ack calls ack.
func NewBatch(origin Origin, ack func(error)) *Batch {
	return &Batch{Origin: origin, ack: ack}
}

// SetAck replaces the acknowledgement callback (for sources reusing batches).
func (b *Batch) SetAck(ack func(error)) { b.ack = ack }

// Ack tells the source the batch is done: err == nil means every sink has
// durably stored what it produced and its offsets may be committed; a non-nil
// err means it was not stored and must be delivered again. Ack is called
// exactly once per batch.
func (b *Batch) Ack(err error) {
	if b.ack != nil {
		f := b.ack
		b.ack = nil
		f(err)
	}
}

// SetAbandoned sets what Abandoned asks (for sources that can take a
// batch back after handing it out).
func (b *Batch) SetAbandoned(f func() bool) { b.abandoned = f }

// Abandoned reports whether the source has given b up since it handed b
// out: its partition was revoked or lost (the new owner consumes the range
// again), or b or an earlier batch of its partition was handed back (Ack
// with an error) and the range comes again. b's Ack is then ignored.
// Processing it further only races the attempt that counts: a stage
// loading the partition's state claims the partition back from its new
// owner (state.Store.Load fences earlier claims), so the owner's saves
// fail and the state it reads next holds what this stale attempt wrote.
// Check it before each step that claims or writes; it is safe to call
// from any goroutine. Always false for a batch whose source never sets it.
func (b *Batch) Abandoned() bool { return b.abandoned != nil && b.abandoned() }

// TracksAbandon reports whether b's source says when it gives b up
// (SetAbandoned): then Abandoned is all a consumer needs to know about
// batches queued behind one handed back.
func (b *Batch) TracksAbandon() bool { return b.abandoned != nil }

// Len is the number of valid interactions.
func (b *Batch) Len() int { return len(b.Interactions) }

// Reset clears b for reuse, keeping slice capacity.
func (b *Batch) Reset() {
	for k := range b.Interactions {
		b.Interactions[k].Reset()
	}
	b.Interactions = b.Interactions[:0]
	b.Late = b.Late[:0]
	b.Alerts = b.Alerts[:0]
	b.Aggregates = b.Aggregates[:0]
	b.Origin = Origin{}
	b.Rejected = 0
	b.Bytes = 0
	b.AtEnd = false
	b.MaybeStored = false
	b.Progress = time.Time{}
	b.ack = nil
	b.abandoned = nil
}
