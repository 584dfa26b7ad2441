package kafka

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/kafka/internal/deadletter"
	"github.com/salespulse/salespulse/sources/kafka/internal/workers"
)

// Decoding runs on worker goroutines, as in VictoriaMetrics' stream
// parsers: the poll loop hands each partition's fetched records to the
// workers as one chunk and takes the decoded chunk back later, so a slow
// decoder (or a burst of one vendor's fat records) neither stalls fetching
// nor holds the source's lock. A partition has at most one chunk at a
// worker; its later chunks wait in order behind it (workers.Pool keyed by
// partition), so records are applied to the cut planner in offset order.
// Memory stays bounded: a partition with a chunk waiting is paused, and so
// is every partition while the undecoded bytes reach fetch_max_bytes or
// the read-ahead budget is spent (readahead.go).

// chunk is one poll's records of one partition, then their decoding.
type chunk struct {
	p     *partition
	gen   uint64 // p.gen at dispatch: a rewind since makes the chunk stale
	recs  []*kgo.Record
	bytes int64 // values plus record structs: the read-ahead estimate

	// Written by the worker, read by the poll loop after the handover.
	// ints is normally a stretch of the partition's arena right after the
	// previous chunk's (arena.go); batches may view it; it is never reused.
	ints []schemas.Interaction // every record's interactions, in order
	res  []decoded             // one per record
	in   pin                   // the array ints live in (arena.advance)
	kept pin                   // the arena the partition keeps after ch
}

// decoded is one record's decoding: its interactions are
// chunk.ints[previous end:end].
type decoded struct {
	end  int
	err  error
	rule string // the dead-letter rule when it is not derived from err
}

func (s *Source) startDecoders() {
	s.work = workers.New[*partition](s.cfg.DecodeWorkers, func(ch *chunk) {
		s.decodeChunk(ch)
		s.handBack(ch)
	})
}

// decodeChunk decodes every record of ch. It runs on a worker, without
// the source's lock: it reads only ch and the partition's immutable
// decoder, and writes the partition's arena, which only the worker holding
// the partition's chunk touches.
func (s *Source) decodeChunk(ch *chunk) {
	p := ch.p
	ints := p.arena.take(len(ch.recs))
	ch.res = make([]decoded, 0, len(ch.recs))
	for _, r := range ch.recs {
		var d decoded
		if r.Attrs.IsControl() {
			// A transaction marker of a topic SalesPulse writes in
			// transactions: no interaction, but its offset is consumed
			// like a record's, so the commit (and the lag) reach the
			// high watermark.
			d.end = len(ints)
			ch.res = append(ch.res, d)
			continue
		}
		if len(r.Value) > s.cfg.MaxRecordBytes {
			d.err = fmt.Errorf("record of %d bytes exceeds max_record_bytes %d", len(r.Value), s.cfg.MaxRecordBytes)
			d.rule = deadletter.RuleOversized
		} else {
			ints, d.err = decodeSafe(ch.p.decoder, ints, r.Value)
		}
		d.end = len(ints)
		ch.res = append(ch.res, d)
	}
	ch.ints = ints
	ch.in, ch.kept = p.arena.advance(ints)
}

// handBack gives a decoded chunk to the poll loop and wakes its poll.
func (s *Source) handBack(ch *chunk) {
	s.mu.Lock()
	s.decoded = append(s.decoded, ch)
	if len(s.decoded) == 1 && s.pollCancel != nil {
		s.pollCancel()
	}
	s.mu.Unlock()
}

// decodeSafe runs a decoder, turning a panic into an error: one poisonous
// record must not stop every partition of the process. What the decoder
// appended before panicking is discarded (its state is unknown), and so is
// a result that lost earlier records' interactions (a decoder bug that
// would otherwise take good events with it).
func decodeSafe(d Decoder, dst []schemas.Interaction, v []byte) (out []schemas.Interaction, err error) {
	n := len(dst)
	defer func() {
		if r := recover(); r != nil {
			out, err = dst[:n], deadletter.PanicError{V: r}
		}
	}()
	out, err = d.Decode(dst, v)
	if len(out) < n {
		return dst[:n], deadletter.PanicError{V: "decoder returned fewer interactions than it was given"}
	}
	return out, err
}

// dispatchLocked hands one fetched partition's records to the decoders:
// at once if none of p's records are being decoded, else after those.
func (s *Source) dispatchLocked(p *partition, recs []*kgo.Record) {
	if p.next >= 0 {
		k := 0
		for k < len(recs) && recs[k].Offset < p.next {
			k++
		}
		recs = recs[k:]
	}
	if len(recs) == 0 {
		return
	}
	p.next = recs[len(recs)-1].Offset + 1
	ch := &chunk{p: p, gen: p.gen, recs: recs}
	for _, r := range recs {
		ch.bytes += int64(len(r.Value)) + recordSize
	}
	s.undecoded += ch.bytes
	s.work.Submit(p, ch)
}

// dropQueueLocked forgets p's chunks not yet at a worker.
func (s *Source) dropQueueLocked(p *partition) {
	for _, ch := range s.work.Drop(p) {
		s.undecoded -= ch.bytes
	}
}

// applyDecodedLocked takes back the decoded chunks, in the order they
// arrived (in offset order per partition), and adds each to its
// partition's batches unless a rewind or revoke made it stale.
func (s *Source) applyDecodedLocked(now time.Time) {
	done := s.decoded
	s.decoded = nil
	for _, ch := range done {
		p := ch.p
		s.undecoded -= ch.bytes
		if !p.dropped && ch.gen == p.gen {
			p.kept = ch.kept
			s.applyLocked(ch, now)
		}
	}
}

// applyLocked adds ch's decoded records to p's open batch, dead-lettering
// the bad ones, and cuts where the planner says.
func (s *Source) applyLocked(ch *chunk, now time.Time) {
	p := ch.p
	start := 0
	for k, r := range ch.recs {
		d := ch.res[k]
		ints := ch.ints[start:d.end]
		start = d.end
		if p.plan.Stale(r.Offset) {
			continue
		}
		for {
			due := p.plan.Due(r.Offset)
			if len(due) == 0 {
				break
			}
			s.cutLocked(p, due[0])
		}
		if p.open == nil {
			p.open = &builder{batch: schemas.NewBatch(schemas.Origin{Topic: p.topic, Partition: p.part}, nil)}
		}
		b := p.open
		b.batch.Bytes += int64(len(r.Value))
		b.add(ints, ch.in, p.batchRows, s.cfg.BatchMaxRows)
		if !r.Attrs.IsControl() { // a transaction marker is no record of data
			p.tm.Records.Inc()
			p.tm.Bytes.Add(float64(len(r.Value)))
		}
		p.tm.Decoded.Add(float64(len(ints)))
		switch {
		case d.err != nil:
			s.deadLetterLocked(p, b, r, d.err, d.rule)
		case len(ints) == 0 && !r.Attrs.IsControl():
			p.tm.Skipped.Inc()
		}
		if p.plan.Add(r.Offset, len(ints), int64(len(r.Value)), now) {
			s.cutLocked(p, r.Offset)
		}
	}
}
