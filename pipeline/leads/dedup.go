package leads

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/salespulse/salespulse/pipeline/internal/timesort"
	"github.com/salespulse/salespulse/pipeline/internal/watermark"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Dedup is one worker's redelivery filter (pipeline.Stage) on the leads
// topic, before the window: vendors deliver a webhook again when they
// missed its acknowledgement (HubSpot, Zoom, Aircall), and a Twilio
// conversation can report the same call from two legs. A redelivery
// carries the event id of the first, and every copy of an event takes
// the same route, so they meet in one leads partition; Dedup drops all but
// the first there. Without it a redelivered lead.created opens a second
// trigger after the lead was answered, and activity counts the call
// twice.
//
// It remembers the event ids of the last Horizon of the partition's event
// time (the window's out_of_orderness + allowed_lateness: anything older
// is late for the window anyway). A copy later than that is not dropped
// here; the window sends it to late_events. Its state is saved in the
// store with the batch, like the window's, so a restart forgets nothing.
//
// An id is remembered by its 128-bit digest (idKey), in memory and in the
// store: a fixed 16 bytes instead of the id string (36 bytes and more, and
// a string header), which is most of the stage's state in a drain where
// every lead event of the horizon is remembered.
//
// The store holds one record per batch, not per id: the ids first seen in
// the batch ending at offset off are saved under off (in chunks of
// chunkIDs), and the record is deleted once none of its ids is remembered
// any more. A record per id (before) was two changelog records per lead
// event, its save and, a horizon later, its tombstone: most of what the
// leads flow produced to its changelog (benchmarks/README.md, "Dedup
// saves a record per batch").
type Dedup struct {
	l       *Leads
	horizon int64 // ms
	parts   map[partKey]*dpart
	recs    []state.Record
	buf     []byte   // the records' keys and values, one arena per batch
	ids     []seenID // the ids this batch's record holds
	// inBatch is the batch's ids, built only once an id of the batch's
	// own offset comes (a replay of the batch, or a copy within it).
	inBatch map[idKey]struct{}
}

type dpart struct {
	next int64 // first offset expected; else restore
	maxT int64 // the partition's progress: the minimum over its upstreams
	up   *watermark.Upstreams
	seen map[idKey]seen // by event id digest (with a PairOnly mark)
	q    seenQueue
	// saved is the batch records in the store, by their batch's last
	// offset (seen.off of the ids they hold).
	saved map[int64]*idRecord
	// stale are saved records that hold no id of their own any more
	// (restore gives each id to the record of its earliest batch): the
	// next save deletes them.
	stale []staleRecord
	// legacy holds the store keys of state saved a record per id (the id
	// itself, or its digest): the next save deletes them and saves their
	// ids in batch records.
	legacy []string
}

// idRecord is one batch record in the store: n ids are remembered with its
// offset, and it was saved in chunks chunks.
type idRecord struct {
	n, chunks int
}

type staleRecord struct {
	off    int64
	chunks int
}

// chunkIDs bounds the ids one store record holds (24 bytes each: ~96 KiB),
// well under a Kafka record's limit whatever kafka.batch_max_rows is.
const chunkIDs = 4096

// idKey is the first 16 bytes of the SHA-256 of an event id ("\x00"+id for
// a pair-only copy). Collisions are out of reach (2^64 ids for an even
// chance) and the digest is the same in every process, so a replay
// rebuilds the same set.
type idKey [16]byte

func keyOf(id string, pairOnly bool) idKey {
	var b [64]byte // b[0] is the pair-only mark, NUL
	n := 0
	if pairOnly {
		n = 1
	}
	var h [sha256.Size]byte
	switch {
	case n+len(id) <= len(b):
		h = sha256.Sum256(b[:n+copy(b[n:], id)])
	case pairOnly:
		h = sha256.Sum256([]byte("\x00" + id))
	default:
		h = sha256.Sum256([]byte(id))
	}
	return idKey(h[:16])
}

// batchMark starts the state keys of batch records: then the batch's last
// offset and the chunk's number, big-endian (batchKeyLen bytes); the value
// is the ids, each its idKey and its event time (ms, big-endian).
//
// Earlier versions saved a record per id: keyed by digestMark and the 16
// bytes of its idKey, and before that by the id itself ("\x00"+id when
// pair-only), valued by its event time and batch offset. Restore reads
// all three.
const (
	batchMark   = '\x03'
	batchKeyLen = 1 + 8 + 2
	digestMark  = '\x02'
	idEntryLen  = len(idKey{}) + 8
)

func appendBatchKey(dst []byte, off int64, chunk int) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(append(dst, batchMark), uint64(off)), uint16(chunk))
}

// seen is where an event id was first seen: its event time, and the last
// offset of the batch that holds that first occurrence. Keeping the offset
// is what makes a redelivered batch (a crash after this stage saved, before
// the batch was acknowledged) find its own events again rather than drop
// them as copies: only an occurrence in an earlier batch, or earlier in
// the same one, makes a copy.
type seen struct {
	at, off int64
}

// NewDedup returns the filter for one worker; horizon is how long an
// event id is remembered, in event time.
func (l *Leads) NewDedup(horizon time.Duration) *Dedup {
	return &Dedup{l: l, horizon: horizon.Milliseconds(), parts: map[partKey]*dpart{}}
}

// Release drops a partition's remembered ids (pipeline.Releaser): its
// source gave it up. A later batch of it loads them from the store again.
func (d *Dedup) Release(topic string, partition int32) { delete(d.parts, partKey{topic, partition}) }

// Process removes redeliveries from b.Interactions and saves the ids it
// learnt.
func (d *Dedup) Process(ctx context.Context, b *schemas.Batch) error {
	k := partKey{b.Origin.Topic, b.Origin.Partition}
	p := d.parts[k]
	if p == nil || p.next != b.Origin.FirstOffset {
		st, err := d.l.fw.Load(ctx, state.Dedup, k.topic, k.part)
		if err != nil {
			return fmt.Errorf("dedup %s: %w", b.Origin, err)
		}
		up := watermark.New(d.l.cfg.IdleTimeout)
		d.l.expect(up, true)
		p = restoreDedup(st, up)
		d.parts[k] = p
	}
	p.next = -1 // until saved
	d.recs, d.buf, d.ids = d.recs[:0], d.buf[:0], d.ids[:0]
	last := b.Origin.LastOffset
	var cur *idRecord // this batch's record
	listed := false   // d.inBatch holds d.ids
	w := 0
	for r := range b.Interactions {
		it := &b.Interactions[r]
		if it.Watermark {
			// Progress marks go on to the window, which needs them too.
			p.up.Observe(it.EventID, it.OccurredAt.UnixMilli(), it.Stage == schemas.WatermarkAtEnd, it.SentAt)
			if w != r {
				b.Interactions[w] = *it
			}
			w++
			continue
		}
		// A pair-only copy is not a redelivery of the original.
		id := keyOf(it.EventID, it.PairOnly)
		s, ok := p.seen[id]
		switch {
		case ok && s.off < b.Origin.FirstOffset:
			d.l.m.redelivered.Inc()
			continue
		case ok && s.off == last:
			// Either a copy of an event earlier in this batch, dropped
			// like one in an earlier batch, or this batch again after a
			// restart: then the id stays this batch's, and its record is
			// saved again with it.
			if !listed {
				if d.inBatch == nil {
					d.inBatch = map[idKey]struct{}{}
				}
				clear(d.inBatch)
				for _, x := range d.ids {
					d.inBatch[x.id] = struct{}{}
				}
				listed = true
			}
			if _, dup := d.inBatch[id]; dup {
				d.l.m.redelivered.Inc()
				continue
			}
			d.inBatch[id] = struct{}{}
			d.ids = append(d.ids, seenID{id, s.at})
		default:
			at := it.OccurredAt.UnixMilli()
			if !ok {
				p.q.push(seenID{id, at})
			} else {
				// Seen in a batch cut differently before a restart: it
				// is this batch's now.
				d.disown(p, s.off)
			}
			if cur == nil {
				cur = p.record(last)
			}
			cur.n++
			p.seen[id] = seen{at, last}
			d.ids = append(d.ids, seenID{id, at})
			if listed {
				d.inBatch[id] = struct{}{}
			}
		}
		if w != r {
			b.Interactions[w] = *it
		}
		w++
	}
	if w < len(b.Interactions) {
		clear(b.Interactions[w:])
		b.Interactions = b.Interactions[:w]
	}
	if t, ok := p.up.Min(); ok && t > p.maxT {
		p.maxT = t
	}
	// Stale records go first: this batch may save a record under the
	// same offset.
	for _, r := range p.stale {
		d.dropChunks(r.off, 0, r.chunks)
	}
	p.stale = nil
	if len(d.ids) > 0 {
		if cur == nil {
			cur = p.record(last)
		}
		ids := d.ids
		if cur.n != len(ids) {
			// Ids this batch's offset holds that this cut of the batch
			// does not: the record keeps them.
			ids = p.owned(last)
		}
		d.save(cur, last, ids)
	}
	if len(p.legacy) > 0 {
		for _, old := range p.legacy {
			d.recs = append(d.recs, state.Record{Key: []byte(old)})
		}
		p.legacy = nil
		// Every record again, each with all its ids: a legacy id's batch
		// may have a record already.
		byOff := map[int64][]seenID{}
		for id, s := range p.seen {
			byOff[s.off] = append(byOff[s.off], seenID{id, s.at})
		}
		for _, off := range slices.Sorted(maps.Keys(byOff)) {
			ids := byOff[off]
			slices.SortFunc(ids, cmpID)
			d.save(p.record(off), off, ids)
		}
	}
	p.up.Changed(func(id string, v []byte) {
		d.recs = append(d.recs, state.Record{Key: append([]byte{upstreamMark}, id...), Value: v})
	})
	if p.maxT != math.MinInt64 {
		p.q.expire(p.maxT-d.horizon, func(s seenID) {
			if sv, ok := p.seen[s.id]; ok {
				delete(p.seen, s.id)
				d.disown(p, sv.off)
			}
		})
	}
	if len(d.recs) > 0 {
		if err := d.l.fw.Save(ctx, state.Dedup, k.topic, k.part, d.recs); err != nil {
			delete(d.parts, k)
			return fmt.Errorf("dedup %s: %w", b.Origin, err)
		}
	}
	clear(d.recs)
	p.next = b.Origin.LastOffset + 1
	return nil
}

// record is the batch record of offset off, new if there is none.
func (p *dpart) record(off int64) *idRecord {
	r := p.saved[off]
	if r == nil {
		r = &idRecord{}
		p.saved[off] = r
	}
	return r
}

// owned is every remembered id of the batch ending at off, in a
// deterministic order (the slow path: a pass over every id).
func (p *dpart) owned(off int64) []seenID {
	var ids []seenID
	for id, s := range p.seen {
		if s.off == off {
			ids = append(ids, seenID{id, s.at})
		}
	}
	slices.SortFunc(ids, cmpID)
	return ids
}

// disown forgets one id of the record of offset off, and deletes the
// record from the store with its last id.
func (d *Dedup) disown(p *dpart, off int64) {
	r := p.saved[off]
	if r == nil {
		return
	}
	if r.n--; r.n <= 0 {
		d.dropChunks(off, 0, r.chunks)
		delete(p.saved, off)
	}
}

// save writes ids as the record of offset off, replacing what r held.
func (d *Dedup) save(r *idRecord, off int64, ids []seenID) {
	chunks := 0
	for len(ids) > 0 {
		n := min(len(ids), chunkIDs)
		// Slices capped at their end: a later append that grows the
		// arena copies it rather than writing into them.
		k0 := len(d.buf)
		d.buf = appendBatchKey(d.buf, off, chunks)
		k1 := len(d.buf)
		d.buf = slices.Grow(d.buf, n*idEntryLen)
		for _, s := range ids[:n] {
			d.buf = binary.BigEndian.AppendUint64(append(d.buf, s.id[:]...), uint64(s.at))
		}
		d.recs = append(d.recs, state.Record{Key: d.buf[k0:k1:k1], Value: d.buf[k1:len(d.buf):len(d.buf)]})
		ids = ids[n:]
		chunks++
	}
	d.dropChunks(off, chunks, r.chunks)
	r.chunks = chunks
}

// dropChunks deletes chunks [from, to) of the record of offset off from
// the store.
func (d *Dedup) dropChunks(off int64, from, to int) {
	for c := from; c < to; c++ {
		k0 := len(d.buf)
		d.buf = appendBatchKey(d.buf, off, c)
		d.recs = append(d.recs, state.Record{Key: d.buf[k0:len(d.buf):len(d.buf)]})
	}
}

// restoreDedup rebuilds a partition from its saved records. An id in more
// than one belongs to the earliest batch: records of later batches are
// left over from batches cut differently before a restart, which their
// replay saves again.
func restoreDedup(st map[string][]byte, up *watermark.Upstreams) *dpart {
	p := &dpart{maxT: math.MinInt64, up: up, seen: make(map[idKey]seen, len(st)), saved: map[int64]*idRecord{}}
	claim := func(id idKey, at, off int64) {
		if s, ok := p.seen[id]; !ok || off < s.off {
			p.seen[id] = seen{at, off}
		}
	}
	for key, v := range st {
		switch {
		case len(key) > 0 && key[0] == upstreamMark:
			up.Restore(key[1:], v)
		case len(key) == batchKeyLen && key[0] == batchMark:
			off := int64(binary.BigEndian.Uint64([]byte(key[1:9])))
			r := p.record(off)
			r.chunks = max(r.chunks, int(binary.BigEndian.Uint16([]byte(key[9:])))+1)
			for ; len(v) >= idEntryLen; v = v[idEntryLen:] {
				claim(idKey(v[:16]), int64(binary.BigEndian.Uint64(v[16:])), off)
			}
		case len(v) >= 16:
			var id idKey
			if len(key) == 1+len(id) && key[0] == digestMark {
				id = idKey([]byte(key[1:]))
			} else {
				id = keyOf(key, false) // the key is the id, with its pair-only mark
			}
			off := int64(binary.BigEndian.Uint64(v[8:]))
			claim(id, int64(binary.BigEndian.Uint64(v)), off)
			p.record(off)
			p.legacy = append(p.legacy, key)
		}
	}
	for id, s := range p.seen {
		p.saved[s.off].n++
		p.q.push(seenID{id, s.at})
	}
	for off, r := range p.saved {
		if r.n == 0 {
			delete(p.saved, off)
			if r.chunks > 0 {
				p.stale = append(p.stale, staleRecord{off, r.chunks})
			}
		}
	}
	slices.SortFunc(p.stale, func(a, b staleRecord) int { return cmp.Compare(a.off, b.off) })
	slices.Sort(p.legacy) // saved in the same order on every replay
	p.q.seal()
	return p
}

// upstreamMark starts the state keys of upstream progress; event ids
// never start with a NUL byte... but a pair-only id does ("\x00"+id), so
// progress keys use 0x01.
const upstreamMark = '\x01'

type seenID struct {
	id idKey
	at int64
}

// seenQueue holds the remembered ids until they expire, as sorted runs:
// the ids first seen in one batch, sorted by event time, are one run, and
// a min-heap orders the runs by their oldest id. Expiring walks the
// oldest runs from their front. A heap of every id (before) paid a cache
// miss per level for each expired id: with hundreds of thousands
// remembered in a drain, its pops were a third of the stage
// (BenchmarkDedup; benchmarks/README.md, "Dedup's expiry queue").
type seenQueue struct {
	pending []seenID  // ids pushed since the last seal
	runs    []seenRun // min-heap by first()
	keys    []uint64  // seal's scratch
}

// seenRun is a sorted run of ids; ids[off:] are not expired yet.
type seenRun struct {
	ids []seenID
	off int
}

func (r *seenRun) first() seenID { return r.ids[r.off] }

func (s seenID) less(o seenID) bool { return cmpID(s, o) < 0 }

// cmpID orders ids by event time, then digest: the runs' heap order, and
// the order of a record rebuilt from memory.
func cmpID(a, b seenID) int {
	if c := cmp.Compare(a.at, b.at); c != 0 {
		return c
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// cmpAt orders ids by event time alone: expiry takes every id older than
// a limit, so ties need no order; sortByAt keeps them in arrival order,
// so the tombstones of one save come in the same order on every replay.
func cmpAt(a, b seenID) int { return cmp.Compare(a.at, b.at) }

// push remembers s, to expire once its event time is before an expire's
// limit.
func (q *seenQueue) push(s seenID) { q.pending = append(q.pending, s) }

// seal makes the pending ids a run of their own.
func (q *seenQueue) seal() {
	if len(q.pending) == 0 {
		return
	}
	ids := make([]seenID, len(q.pending))
	q.keys = sortByAt(ids, q.pending, q.keys)
	q.pending = q.pending[:0]
	q.runs = append(q.runs, seenRun{ids: ids})
	for j := len(q.runs) - 1; j > 0; {
		parent := (j - 1) / 2
		if !q.runs[j].first().less(q.runs[parent].first()) {
			break
		}
		q.runs[j], q.runs[parent] = q.runs[parent], q.runs[j]
		j = parent
	}
}

// sortByAt writes src into dst (as long) sorted by event time, ties in
// src's order, and returns keys for reuse: packed (timesort.Permute), a
// lead-topic batch's ids being merged from many upstreams, or, for a span
// of times too wide to pack, by cmpAt.
func sortByAt(dst, src []seenID, keys []uint64) []uint64 {
	keys, ok := timesort.Permute(dst, src, func(s *seenID) int64 { return s.at }, keys)
	if !ok {
		copy(dst, src)
		slices.SortStableFunc(dst, cmpAt)
	}
	return keys
}

// expire hands every id whose event time is before limit to f, oldest
// run first and in event-time order within a run, and forgets them.
func (q *seenQueue) expire(limit int64, f func(seenID)) {
	q.seal()
	for len(q.runs) > 0 && q.runs[0].first().at < limit {
		r := &q.runs[0]
		for r.off < len(r.ids) && r.ids[r.off].at < limit {
			f(r.ids[r.off])
			r.off++
		}
		switch {
		case r.off == len(r.ids):
			n := len(q.runs) - 1
			q.runs[0] = q.runs[n]
			q.runs[n] = seenRun{}
			q.runs = q.runs[:n]
		case r.off > len(r.ids)/2:
			// Most of the run has expired: keep only the rest, so a run
			// holds at most twice the memory of its live ids.
			r.ids, r.off = slices.Clone(r.ids[r.off:]), 0
		}
		q.down(0)
	}
}

func (q *seenQueue) down(j int) {
	h := q.runs
	for {
		l := 2*j + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r].first().less(h[l].first()) {
			c = r
		}
		if !h[c].first().less(h[j].first()) {
			return
		}
		h[j], h[c] = h[c], h[j]
		j = c
	}
}
