// Package cuts plans where a Kafka partition's offsets are cut into
// batches. It is pure bookkeeping — offsets, counts and time passed in —
// so every rule the source's exactly-once design rests on is testable
// without a broker.
//
// A batch is one partition's contiguous offset range. Before a batch is
// handed out, its end is committed as offset metadata (Meta); a new owner
// of the partition reads those ends back (ParseMeta) and cuts its first
// batches at exactly the same offsets, so a replay produces the same
// schemas.Origin and therefore the same ClickHouse insert_deduplication_token
// as the attempt that may already be stored. Where no such metadata exists,
// the ends come from the ranges the sink already stored (FromHistory).
package cuts

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kafka caps commit metadata at offset.metadata.max.bytes (4096 by
// default): a longer plan is cut short and marked with MetaMore, telling
// the next owner to read the rest from the cut history.
const (
	MetaPrefix   = "sp1:" // versions the format "sp1:end1,end2,..."
	MetaMore     = "+"
	maxMetaBytes = 3500
)

// Limits are when an unplanned batch closes.
type Limits struct {
	MaxRows     int           // a batch closes once it holds this many rows,
	MaxBytes    int64         // … or this many record bytes,
	Linger      time.Duration // … or this long after its first record.
	MaxInFlight int           // at this many unacknowledged cuts, nothing new is cut
}

// Range is a closed offset range [First, Last].
type Range struct{ First, Last int64 }

// Cut is one batch cut and not yet acknowledged. Val is the caller's
// payload (the batch itself).
type Cut[T any] struct {
	Range
	Acked bool
	Val   T
}

// Planner plans the cuts of one partition. Records are added in offset
// order; the caller closes its open batch wherever the planner says and
// tells it about acknowledgements. It is not safe for concurrent use.
type Planner[T any] struct {
	lim  Limits
	pos  int64   // first offset of the next cut; -1 until known
	plan []int64 // ends the next cuts must have (from a previous owner, or a rewind)
	cuts []*Cut[T]

	open   bool // a record was added since the last cut
	first  int64
	last   int64
	rows   int
	bytes  int64
	opened time.Time
}

// New returns a planner that knows nothing of the partition yet: the first
// record added (from the reset offset) starts its first cut.
func New[T any](lim Limits) *Planner[T] {
	return &Planner[T]{lim: lim, pos: -1}
}

// Resume starts the partition at a committed offset with the metadata
// committed beside it (any string; another tool's means no plan).
func (p *Planner[T]) Resume(off int64, meta string) {
	p.pos = off
	p.plan = ParseMeta(meta, off)
}

// Replan merges ends (from the cut history) into the plan and, when start
// is known (≥ 0), moves the position there.
func (p *Planner[T]) Replan(start int64, ends []int64) {
	if start >= 0 {
		p.pos = start
	}
	p.plan = MergeEnds(p.plan, ends)
}

// Pos is the first offset of the next cut, -1 if not known yet.
func (p *Planner[T]) Pos() int64 { return p.pos }

// Plan is the ends the next cuts must have. The caller must not modify it.
func (p *Planner[T]) Plan() []int64 { return p.plan }

// Planned reports whether the next cut's end is fixed by the plan.
func (p *Planner[T]) Planned() bool { return len(p.plan) > 0 }

// InFlight is the cuts not yet acknowledged, in offset order. The caller
// must not modify the slice.
func (p *Planner[T]) InFlight() []*Cut[T] { return p.cuts }

// Full reports whether the partition is at its in-flight bound: nothing
// unplanned is cut until an acknowledgement arrives.
func (p *Planner[T]) Full() bool { return len(p.cuts) >= p.lim.MaxInFlight }

// Open reports whether records were added since the last cut.
func (p *Planner[T]) Open() bool { return p.open }

// Due returns the planned ends before off: the caller closes its open
// batch at each, in order, before adding the record at off. For the first
// record of a partition consumed from the reset offset, planned ends
// before it are of records already deleted and are dropped.
func (p *Planner[T]) Due(off int64) []int64 {
	if p.pos < 0 && !p.open {
		for len(p.plan) > 0 && p.plan[0] < off {
			p.plan = p.plan[1:]
		}
	}
	k := 0
	for k < len(p.plan) && p.plan[k] < off {
		k++
	}
	return p.plan[:k]
}

// Stale reports whether off lies before the next cut: such a record was
// already cut (or lies before where this owner starts) and is skipped.
func (p *Planner[T]) Stale(off int64) bool { return p.pos >= 0 && off < p.pos }

// Add adds the record at off, which decoded into rows rows from bytes
// bytes, to the open batch, opening one at now if none is. It reports
// whether the batch must close at off: the plan says so, or (without a
// plan, below the in-flight bound) a size limit is reached. Call Due
// first.
func (p *Planner[T]) Add(off int64, rows int, bytes int64, now time.Time) bool {
	if !p.open {
		p.open, p.rows, p.bytes, p.opened = true, 0, 0, now
		p.first = p.pos
		if p.first < 0 {
			p.first = off // the first record consumed from the reset offset
		}
	}
	p.last = off
	p.rows += rows
	p.bytes += bytes
	switch {
	case len(p.plan) > 0:
		return p.plan[0] == off
	case p.Full():
		// Wait for acks; the caller pauses the partition, so the open
		// batch grows by at most what was already fetched.
		return false
	}
	return p.rows >= p.lim.MaxRows || p.bytes >= p.lim.MaxBytes
}

// LingerDeadline is when the open batch closes for lingering, if it can.
// A partition at its in-flight bound cannot cut: its linger would only
// spin the caller's loop until an acknowledgement arrives.
func (p *Planner[T]) LingerDeadline() (time.Time, bool) {
	if !p.open || len(p.plan) > 0 || p.Full() {
		return time.Time{}, false
	}
	return p.opened.Add(p.lim.Linger), true
}

// Lingered returns the end at which the open batch closes because it
// lingered until now.
func (p *Planner[T]) Lingered(now time.Time) (int64, bool) {
	d, ok := p.LingerDeadline()
	if !ok || now.Before(d) {
		return 0, false
	}
	return p.last, true
}

// Close closes the open batch (or an empty one: a planned range whose
// records are gone) at end, with payload v, and returns the cut.
func (p *Planner[T]) Close(end int64, v T) *Cut[T] {
	first := p.pos
	switch {
	case p.open:
		first = p.first
	case first < 0:
		first = end
	}
	p.open = false
	if len(p.plan) > 0 && p.plan[0] == end {
		p.plan = p.plan[1:]
	}
	c := &Cut[T]{Range: Range{first, end}, Val: v}
	p.cuts = append(p.cuts, c)
	p.pos = end + 1
	return c
}

// Ack marks c acknowledged and forgets the acknowledged prefix of the
// in-flight cuts: the commit may move past them.
func (p *Planner[T]) Ack(c *Cut[T]) {
	c.Acked = true
	k := 0
	for k < len(p.cuts) && p.cuts[k].Acked {
		k++
	}
	if k > 0 {
		p.cuts = slices.Delete(p.cuts, 0, k)
	}
}

// Rewind goes back to c's first offset: c and every later cut become the
// plan again (so the replay cuts the same ranges) and are returned, for
// the caller to drop. It returns nil if c is not in flight.
func (p *Planner[T]) Rewind(c *Cut[T]) []*Cut[T] {
	k := slices.Index(p.cuts, c)
	if k < 0 {
		return nil
	}
	dead := slices.Clone(p.cuts[k:])
	ends := make([]int64, 0, len(dead)+len(p.plan))
	for _, x := range dead {
		ends = append(ends, x.Last)
	}
	p.plan = append(ends, p.plan...)
	p.cuts = p.cuts[:k:k]
	p.pos = c.First
	p.open = false
	return dead
}

// Commit is what the partition's commit says: the first offset not yet
// acknowledged, and as metadata the ends of every cut from there on. ok is
// false while the position is unknown (nothing to commit).
func (p *Planner[T]) Commit() (off int64, meta string, ok bool) {
	off = p.pos
	if len(p.cuts) > 0 {
		off = p.cuts[0].First
	}
	if off < 0 {
		return 0, "", false
	}
	b := make([]byte, 0, min(len(MetaPrefix)+(len(p.cuts)+len(p.plan))*8, maxMetaBytes+32))
	b = append(b, MetaPrefix...)
	n := 0
	for _, c := range p.cuts {
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, c.Last, 10)
		n++
	}
	for _, e := range p.plan {
		if len(b) > maxMetaBytes {
			// The rest of a long plan (a replay of many stored batches) is
			// in the cut history; the marker sends the next owner there.
			b = append(b, ',')
			b = append(b, MetaMore...)
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

// Complete reports whether commit metadata is a whole plan of ours: if not
// (no commit, another tool's commit, or a plan cut short), the next owner
// must also ask the cut history.
func Complete(off int64, meta string) bool {
	return off >= 0 && strings.HasPrefix(meta, MetaPrefix) && !strings.HasSuffix(meta, MetaMore)
}

// ParseMeta reads the cut ends a previous owner committed at from;
// anything not in our format (another tool's commit) means no plan.
func ParseMeta(meta string, from int64) []int64 {
	rest, ok := strings.CutPrefix(meta, MetaPrefix)
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

// FromHistory turns the stored batch ranges of one partition into the
// ends the next cuts must have, starting at from (-1: not known yet, the
// reset offset). A gap between stored batches (a batch that stored no
// rows, or was never stored) becomes one batch of its own. Ranges
// overlapping an earlier one (the database already holds two cuttings of
// these offsets) are skipped. start is from, or the first offset of the
// stored batch from falls into: consuming that whole batch again repeats
// its token, where consuming its tail alone would store the tail twice.
func FromHistory(stored []Range, from int64) (start int64, ends []int64) {
	stored = slices.Clone(stored)
	slices.SortFunc(stored, func(a, b Range) int {
		if a.First != b.First {
			return cmpInt(a.First, b.First)
		}
		return cmpInt(a.Last, b.Last)
	})
	start = from
	if from > 0 {
		for _, r := range stored {
			if r.First < from && r.Last >= from {
				start = r.First
				break
			}
		}
	}
	prev := max(start, 0) - 1
	for _, r := range stored {
		if r.First <= prev || r.Last < r.First {
			continue
		}
		if r.First-1 > prev && r.First > max(start, 0) {
			ends = append(ends, r.First-1)
		}
		ends = append(ends, r.Last)
		prev = r.Last
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

// MergeEnds merges two increasing lists of cut ends into one, without
// repeats.
func MergeEnds(a, b []int64) []int64 {
	if len(a) == 0 {
		return b
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
