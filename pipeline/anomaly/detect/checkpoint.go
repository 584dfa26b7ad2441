package detect

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Checkpointing. Every piece of a partition's detector state is one
// key in the state store (namespace state.Anomaly): an open lead, a quote
// awaiting approval, an approval awaiting its decision, a quote-matching
// list, an alert episode, an outlier ring buffer, an activity window, a
// team's activity shares and the partition's meta (watermark, sweep time,
// generation counter).
//
// A record's value is not the key's latest state but its versions since
// the consumer group's committed offset: (last offset of the batch that
// produced it, state or "absent"), oldest first, starting with the version
// in force at the committed offset. A restore at offset F takes, per key,
// the newest version produced by a batch ending before F: exactly the state
// after the batches below F, whatever was checkpointed beyond F before the
// crash. Versions below the committed offset are dropped as it advances (no
// restore can start below it); a key whose only remaining version is
// "absent" is tombstoned then, so compaction forgets closed items.
//
// Versions are copy-on-write: the first mutation of a key after its history
// was dropped captures its prior state (touch), so memory holds history only
// for keys changed since the last commit.

// State key kinds of this package; detectors register the others
// (Detector.Kinds). A key is the kind byte followed by the id; the store
// scopes keys by input partition. The store's migration of the old
// changelog topic rewrites keys "topic/partition/kind/id" to exactly this,
// so kinds and value encodings never change meaning.
const (
	KindMeta    = 'M' // id "": watermark, sweep time, generation counter
	KindEpisode = 'E' // rule\x00subject: outlier or activity episode
)

// Key names one piece of state of a partition.
type Key struct {
	Kind byte
	ID   string
}

// Version is a key's state after the batch ending at Last; Val nil means
// absent. Last -1: in force since before the committed offset.
type Version struct {
	Last int64
	Val  []byte
}

type keyHist struct {
	vers    []Version
	written bool // the store holds a record for the key
	pending bool // the record must be rewritten at the next checkpoint
	dirty   bool // touched by the current batch: in Partition.dirtyList
}

// dirtyKey is a key the current batch touched, with its history, so the
// checkpoint does not look it up again.
type dirtyKey struct {
	k Key
	h *keyHist
}

// Touch must be called before a piece of state is changed: it captures the
// state as it was (the base a restore below this batch needs) and marks it
// for the checkpoint. A no-op without a state store.
func (p *Partition) Touch(kind byte, id string) {
	if p.hist == nil {
		return
	}
	// One lookup: the mark lives on the key's history, which a touch
	// creates anyway, instead of in a second map of the batch's keys
	// (one more Key hashed per touch and per checkpointed key:
	// BenchmarkTouchCheckpoint -8 %).
	k := Key{kind, id}
	h := p.hist[k]
	if h == nil {
		h = &keyHist{vers: []Version{{Last: -1, Val: p.Encode(nil, k)}}}
		p.hist[k] = h
	} else if h.dirty {
		return
	}
	h.dirty = true
	p.dirtyList = append(p.dirtyList, dirtyKey{k, h})
}

// recordKey appends the state key of k: its kind, then its id.
func recordKey(dst []byte, k Key) []byte {
	dst = append(dst, k.Kind)
	return append(dst, k.ID...)
}

// restore rebuilds o's partition state as of o.FirstOffset from the state
// store: versions produced by batches at or after it are ignored,
// because those batches are about to be processed again.
func (s *Stage) restore(ctx context.Context, o schemas.Origin) (*Partition, error) {
	d := s.r
	store := d.opts.State
	start := d.opts.Clock()
	p := d.newPartition(o)
	// Load first: it may claim the partition, and the committed offset
	// asked after it is then the newest the store knows.
	recs, err := store.Load(ctx, state.Anomaly, o.Topic, o.Partition)
	if err != nil {
		return nil, fmt.Errorf("restore anomaly state %s: %w", o, err)
	}
	committed, err := store.Committed(ctx, o.Topic, o.Partition)
	if err != nil {
		return nil, fmt.Errorf("restore anomaly state %s: committed offset: %w", o, err)
	}
	from := o.FirstOffset
	p.committed = min(committed, from)
	p.gcAt = p.committed
	n := 0
	for rk, v := range recs {
		if rk == "" {
			continue
		}
		k := Key{rk[0], rk[1:]}
		vers, err := DecodeVersions(v)
		if err != nil {
			return nil, fmt.Errorf("restore anomaly state %s: key %q: %w", o, rk, err)
		}
		j := -1
		for i := range vers {
			if vers[i].Last < from {
				j = i
			}
		}
		future := j < len(vers)-1
		if j >= 0 && vers[j].Val != nil {
			if err := p.Decode(k, vers[j].Val); err != nil {
				return nil, fmt.Errorf("restore anomaly state %s: key %q: %w", o, rk, err)
			}
			n++
		}
		if !future && j >= 0 && vers[j].Last < p.committed {
			continue // final: nothing to remember
		}
		h := &keyHist{written: true, pending: future}
		if j < 0 {
			h.vers = []Version{{Last: -1}}
		} else {
			b := 0
			for i := 0; i <= j; i++ {
				if vers[i].Last < p.committed {
					b = i
				}
			}
			h.vers = slices.Clone(vers[b : j+1])
		}
		p.hist[k] = h
		if future { // drop what a run beyond from checkpointed
			h.dirty = true
			p.dirtyList = append(p.dirtyList, dirtyKey{k, h})
		}
	}
	p.Rebuild()
	s.parts[partKey{o.Topic, o.Partition}] = p
	el := d.opts.Clock().Sub(start)
	d.m.restored.Inc()
	d.m.restoreSeconds.Observe(el.Seconds())
	d.log.Info("anomaly state restored", "origin", o.String(), "keys", n, "committed", committed, "duration", el)
	return p, nil
}

// Rebuild lets each detector derive what is not checkpointed.
func (p *Partition) Rebuild() {
	for _, st := range p.states {
		if r, ok := st.(Rebuilder); ok {
			r.Rebuild()
		}
	}
}

// checkpoint appends this batch's version of every changed key, drops
// history below the committed offset, and saves the changed records in one
// Save: the batch may be acknowledged only once its state is durable.
func (s *Stage) checkpoint(ctx context.Context, p *Partition, last int64) error {
	d := s.r
	if p.hist == nil {
		return nil
	}
	// The store caches the committed offset: asking per batch is cheap.
	if c, err := d.opts.State.Committed(ctx, p.topic, p.partition); err != nil {
		d.log.Warn("committed offset unknown; keeping anomaly state history", "topic", p.topic, "partition", p.partition, "err", err)
	} else if c > p.committed {
		p.committed = c
	}
	// Keys and values go into one buffer, each slice capped so that later
	// appends cannot write into it.
	s.recs = s.recs[:0]
	s.buf = s.buf[:0]
	add := func(k Key, vers []Version) {
		k0 := len(s.buf)
		s.buf = recordKey(s.buf, k)
		v0 := len(s.buf)
		var val []byte
		if vers != nil {
			s.buf = AppendVersions(s.buf, vers)
			val = s.buf[v0:len(s.buf):len(s.buf)]
		}
		s.recs = append(s.recs, state.Record{Key: s.buf[k0:v0:v0], Value: val})
	}
	for _, d := range p.dirtyList {
		h := d.h
		val := p.Encode(nil, d.k)
		prev := h.vers[len(h.vers)-1].Val
		if (val == nil) != (prev == nil) || !bytes.Equal(val, prev) {
			h.vers = append(h.vers, Version{Last: last, Val: val})
			h.pending = true
		}
	}
	if p.committed > p.gcAt {
		p.gcAt = p.committed
		for k, h := range p.hist {
			b := -1
			for i := range h.vers {
				if h.vers[i].Last < p.committed {
					b = i
				}
			}
			if b > 0 {
				h.vers = append(h.vers[:0], h.vers[b:]...)
			}
			if b < 0 || len(h.vers) > 1 {
				continue
			}
			// Final as of the committed offset: forget it; a closed
			// item's record becomes a tombstone.
			switch {
			case h.vers[0].Val == nil && (h.written || h.pending):
				add(k, nil)
			case h.vers[0].Val != nil && h.pending: // a restore's rewrite
				add(k, h.vers)
			}
			delete(p.hist, k)
			h.pending = false // forgotten: written above if at all, not again below
		}
	}
	for _, d := range p.dirtyList {
		if h := d.h; h.pending {
			add(d.k, h.vers)
			h.pending, h.written = false, true
		}
		d.h.dirty = false
	}
	clear(p.dirtyList) // no history pinned past its deletion
	p.dirtyList = p.dirtyList[:0]
	if len(s.recs) == 0 {
		return nil
	}
	err := d.opts.State.Save(ctx, state.Anomaly, p.topic, p.partition, s.recs)
	clear(s.recs) // the buffer is reused; the records must not pin old ones
	if err != nil {
		// Another instance owns the partition now (fenced), or the save's
		// outcome is unknown (store unavailable): this state is stale.
		// Forget it; the batch is consumed again and loads the store.
		delete(s.parts, partKey{p.topic, p.partition})
		return fmt.Errorf("checkpoint anomaly state %s/%d: %w", p.topic, p.partition, err)
	}
	// What was written is counted by the store
	// (salespulse_state_*_written_total{namespace="anomaly"}).
	return nil
}
