package kafka

import (
	"context"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// ReadAhead is a memory budget, in bytes, for what the sources sharing it
// have fetched and decoded but the consumer has not yet acknowledged:
// records waiting for a decode worker, open batches, and batches cut,
// queued or being processed. It is the one bound on the pipeline's
// transient memory that does not depend on how many partitions, topics or
// flows a process reads: the row and batch bounds (max_in_flight_rows,
// max_in_flight_batches) are per source and per partition, and one
// process runs three sources (internal/app's ingest, contacts and leads
// flows), each with dozens of partitions.
//
// Why bytes and why shared: a decoded interaction is a 448-byte struct
// plus its strings, and everything read ahead of the sink lives until its
// batch is acknowledged. With GOGC=200 the heap grows to three times what
// lives, so read-ahead multiplied: 1.2 GB live, 3.6 GB RSS in a 1M-event
// drain before this budget (benchmarks/README.md, "Memory").
//
// A source over its share pauses fetching, as for max_in_flight_rows: a
// source pauses when the sources together hold the whole budget and it
// holds at least its fair share (budget ÷ sources), so a busy flow may
// borrow what an idle one does not use, and no flow is starved by
// another (the leads flow reads what the ingest flow forwards: a starved
// one would stall the drain). The bound is soft: a poll's records are
// decoded and cut even when they overshoot it, and one batch is always
// allowed per source.
//
// Estimates, not measurements: a decoded row counts interactionSize plus
// its record's value bytes (its strings are no longer than the JSON they
// came from), and a batch the whole decode array it is a view of
// (heldLocked); an undecoded record counts its value plus recordSize.
type ReadAhead struct {
	limit int64

	mu    sync.Mutex
	users []*readAheadUser
}

// readAheadUser is one source's slot.
type readAheadUser struct {
	held    atomic.Int64 // estimated bytes, recomputed by every poll, lowered by acks
	waiting atomic.Bool  // paused for the budget: wake it when bytes free up
	// wake cancels the source's current poll (nil between polls), so a
	// paused source looks at the budget again at once instead of after its
	// next commit interval.
	wake atomic.Pointer[context.CancelFunc]
}

// Sizes the estimates use.
const (
	interactionSize = int64(unsafe.Sizeof(schemas.Interaction{}))
	recordSize      = int64(unsafe.Sizeof(kgo.Record{}))
)

// NewReadAhead returns a budget of limit bytes for the sources that
// SetReadAhead it. limit <= 0 means unbounded.
func NewReadAhead(limit int64) *ReadAhead { return &ReadAhead{limit: limit} }

// Limit is the budget in bytes (<= 0: unbounded).
func (r *ReadAhead) Limit() int64 { return r.limit }

func (r *ReadAhead) join() *readAheadUser {
	u := &readAheadUser{}
	r.mu.Lock()
	r.users = append(r.users, u)
	r.mu.Unlock()
	return u
}

func (r *ReadAhead) leave(u *readAheadUser) {
	r.mu.Lock()
	for k, x := range r.users {
		if x == u {
			r.users = append(r.users[:k], r.users[k+1:]...)
			break
		}
	}
	r.mu.Unlock()
	r.wakeWaiting() // its bytes are free, and the others' shares larger
}

// Held is the estimated bytes the sources hold together.
func (r *ReadAhead) Held() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var total int64
	for _, u := range r.users {
		total += u.held.Load()
	}
	return total
}

// set records that u holds held bytes and reports whether u must pause:
// the sources together are at the limit and u holds its fair share.
func (r *ReadAhead) set(u *readAheadUser, held int64) (pause bool) {
	u.held.Store(held)
	if r.limit <= 0 {
		return false
	}
	r.mu.Lock()
	var total int64
	for _, x := range r.users {
		total += x.held.Load()
	}
	n := int64(max(len(r.users), 1))
	r.mu.Unlock()
	pause = total >= r.limit && held >= r.limit/n
	u.waiting.Store(pause)
	return pause
}

// release lowers u's bytes by n (an acknowledged batch; the next poll
// recomputes them exactly) and wakes the sources paused for the budget
// once it has room.
func (r *ReadAhead) release(u *readAheadUser, n int64) {
	if n <= 0 || r.limit <= 0 {
		return
	}
	u.held.Add(-n)
	if r.Held() < r.limit {
		r.wakeWaiting()
	}
}

func (r *ReadAhead) wakeWaiting() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.users {
		if u.waiting.Load() {
			if w := u.wake.Load(); w != nil {
				(*w)()
			}
		}
	}
}

// batchBytes is the estimate of what a decoded batch holds.
func batchBytes(b *schemas.Batch) int64 {
	return int64(len(b.Interactions))*interactionSize + b.Bytes
}

// SetReadAhead makes the source share r with the other sources given it,
// instead of the budget of its own kafka.read_ahead_bytes. Call it before
// the first Next.
func (s *Source) SetReadAhead(r *ReadAhead) {
	s.ra.leave(s.raUser)
	s.ra, s.raUser = r, r.join()
}

// ReadAhead is the budget the source counts against: give it to the
// process's other sources (SetReadAhead) to share it.
func (s *Source) ReadAhead() *ReadAhead { return s.ra }

// heldLocked is the source's read-ahead estimate: undecoded records,
// decoded chunks not yet applied, open batches, and batches cut and not
// yet acknowledged. A batch that is a view of a decode arena
// (applyLocked) keeps all of that arena alive, not just its rows: each
// array counts once, whole, however many batches view it, and so does
// the arena a partition keeps for its next chunk. Without the arrays the
// estimate was half of what lived (a 1M-event drain: 112 MiB counted,
// ~250 MB of decoded interactions in the heap profile); counting arenas
// from a batch's first row only, and not the arenas partitions kept, it
// was 40-60 % of it (benchmarks/README.md, "Memory").
func (s *Source) heldLocked() (bytes int64, rows int) {
	bytes = s.undecoded
	pinned := make(map[uintptr]struct{})
	array := func(p pin) {
		if _, ok := pinned[p.at]; !ok && p.at != 0 {
			pinned[p.at] = struct{}{}
			bytes += int64(p.cap) * interactionSize
		}
	}
	add := func(b *schemas.Batch, p pin) {
		bytes += b.Bytes
		if p.at == 0 {
			bytes += int64(cap(b.Interactions)) * interactionSize
			return
		}
		array(p)
	}
	for _, p := range s.parts {
		array(p.kept)
		if p.open != nil {
			add(p.open.batch, p.open.in)
		}
		for _, c := range p.plan.InFlight() {
			if !c.Acked && !c.Val.dead {
				rows += len(c.Val.batch.Interactions)
				add(c.Val.batch, c.Val.pin)
			}
		}
	}
	return bytes, rows
}
