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
// A source pauses fetching when one more fetch could take the sources
// together over the budget, unless it holds less than its floor
// (floorLocked: half the budget for the source it was made for, the
// ingest flow's; a quarter for the sources sharing it together): a busy
// flow may borrow what the others do not use, but every flow keeps its
// floor, so none is starved by another (the leads flow reads what the
// ingest flow forwards: a starved one would stall the drain). In the sum
// an idle source counts as its floor, so what is borrowed never eats
// into another's floor, and the sources together hold at most the
// budget. Beyond it only: a source with nothing in flight may always
// fetch (it could not make progress otherwise), and a fetch may land
// after its source decided to pause, before franz-go drops it. (Until
// December 2026 a source paused only at its fair share of a full
// budget, so flows under their share overshot it: with 256 MiB the
// sources held 326-485 MB at a drain's peak, benchmarks/README.md,
// "Memory".)
//
// What a source holds includes what it has not decoded yet: the records
// of the fetch a source may be receiving (franz-go buffers one per
// broker until it is polled: FetchMaxBytes on the wire, several times
// that decompressed and as Records) count from the moment the source
// lets it fetch, at the size its recent fetches had in memory per byte
// on the wire (fetchSizes).
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
	fetch   atomic.Int64 // bytes a fetch in flight may bring: 0 while paused
	owner   bool         // the source the budget is of (floorLocked)
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

func (r *ReadAhead) join(owner bool) *readAheadUser {
	u := &readAheadUser{owner: owner}
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

// Held is the estimated bytes the sources hold together, fetches in
// flight included.
func (r *ReadAhead) Held() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var total int64
	for _, u := range r.users {
		total += u.held.Load() + u.fetch.Load()
	}
	return total
}

// floorLocked is what u may hold whatever the others hold: half the
// budget for the source it is of (internal/app's ingest flow, whose
// insert groups need it), and for each source that shares it
// (SetReadAhead) half of an equal share of the other half; the last
// quarter is borrowed by whoever needs it.
func (r *ReadAhead) floorLocked(u *readAheadUser) int64 {
	owners, sharers := 0, 0
	for _, x := range r.users {
		if x.owner {
			owners++
		} else {
			sharers++
		}
	}
	rest := r.limit
	if owners > 0 {
		if u.owner {
			return r.limit / int64(2*owners)
		}
		rest = r.limit / 2
	}
	return rest / int64(2*max(sharers, 1))
}

// set records that u holds held bytes and would be sent up to fetch more
// if it went on fetching, and reports whether u must pause instead: it
// holds more than its floor, and the sources together (each counted at
// least at its floor) would exceed the budget. A source with nothing in
// flight (idle: nothing an acknowledgement would free) never pauses.
func (r *ReadAhead) set(u *readAheadUser, held, fetch int64, idle bool) (pause bool) {
	u.held.Store(held)
	if r.limit <= 0 {
		return false
	}
	r.mu.Lock()
	floor := r.floorLocked(u)
	var others int64
	for _, x := range r.users {
		if x != u {
			others += max(x.held.Load()+x.fetch.Load(), r.floorLocked(x))
		}
	}
	r.mu.Unlock()
	mine := held + fetch
	pause = !idle && mine > floor && others+mine > r.limit
	if pause {
		fetch = 0
	}
	u.fetch.Store(fetch)
	u.waiting.Store(pause)
	return pause
}

// release lowers u's bytes by n (an acknowledged batch; the next poll
// recomputes them exactly) and wakes the sources paused for the budget:
// whether the room suffices for one depends on what it holds (set).
func (r *ReadAhead) release(u *readAheadUser, n int64) {
	if n <= 0 || r.limit <= 0 {
		return
	}
	u.held.Add(-n)
	r.wakeWaiting()
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
	s.ra, s.raUser = r, r.join(false)
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
//
// busy reports whether anything but the partitions' arenas is held.
func (s *Source) heldLocked() (bytes int64, rows int, busy bool) {
	bytes = s.undecoded
	busy = s.undecoded > 0
	pinned := make(map[uintptr]struct{})
	array := func(p pin) {
		if _, ok := pinned[p.at]; !ok && p.at != 0 {
			pinned[p.at] = struct{}{}
			bytes += int64(p.cap) * interactionSize
		}
	}
	add := func(b *schemas.Batch, p pin) {
		busy = true
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
			add(p.open.batch, p.open.pinned())
		}
		for _, c := range p.plan.InFlight() {
			if !c.Acked && !c.Val.dead {
				rows += len(c.Val.batch.Interactions)
				add(c.Val.batch, c.Val.pin)
			}
		}
	}
	return bytes, rows, busy
}

// fetchSizes learns what a fetch costs in memory per byte on the wire,
// from the record batches franz-go reads (kgo.HookFetchBatchRead): a
// compressed batch is decompressed into a buffer of its own, which its
// records' values point into; an uncompressed one keeps the fetch
// response's buffer; every record is a recordSize Record besides. For
// s2-compressed canonical JSON of ~300 bytes per event that is ~6× the
// wire bytes, so a fetch_max_bytes of 8 MiB meant ~50 MB per flow that
// the budget did not see until it was polled.
type fetchSizes struct {
	mu         sync.Mutex
	wire, held int64 // decayed sums over the recent batches
	perWire    atomic.Int64
}

// perWireScale is the fixed-point scale of fetchSizes.perWire.
const perWireScale = 1024

// defaultPerWire is the ratio assumed before the first batch is read:
// that of s2-compressed canonical JSON, the common input.
const defaultPerWire = 6 * perWireScale

var _ kgo.HookFetchBatchRead = (*fetchSizes)(nil)

func (f *fetchSizes) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	if m.CompressedBytes <= 0 {
		return
	}
	held := int64(m.CompressedBytes) + int64(m.NumRecords)*recordSize
	if m.CompressionType != 0 {
		held = int64(m.UncompressedBytes) + int64(m.NumRecords)*recordSize
	}
	f.mu.Lock()
	f.wire += int64(m.CompressedBytes)
	f.held += held
	if f.wire > 64<<20 { // forget slowly: halve the sums every 64 MiB read
		f.wire, f.held = f.wire/2, f.held/2
	}
	f.perWire.Store(f.held * perWireScale / f.wire)
	f.mu.Unlock()
}

// bytes is what n bytes on the wire are estimated to hold in memory.
func (f *fetchSizes) bytes(n int64) int64 {
	r := f.perWire.Load()
	if r == 0 {
		r = defaultPerWire
	}
	return n * max(r, perWireScale) / perWireScale
}

// fetchReserveLocked is what the fetches the source may have in flight
// can bring: fetch_max_bytes per broker it fetches from (franz-go keeps
// one fetch per broker buffered until it is polled), at the recent
// batches' size in memory.
func (s *Source) fetchReserveLocked() int64 {
	brokers := max(min(len(s.cl.DiscoveredBrokers()), len(s.parts)), 1)
	return int64(brokers) * s.sizes.bytes(int64(s.cfg.FetchMaxBytes))
}
