package window

import (
	"math"
	"slices"
	"strings"

	"github.com/salespulse/salespulse/schemas"
)

// Pairing families: what an item pairs.
const (
	famLead uint8 = 'L' // trigger (lead.created or inbound touch) → first outbound touch
	famAppr uint8 = 'A' // approval.requested → approval.decided
)

// Event kinds. At equal event time openers sort before closers, so a
// response at the trigger's own millisecond answers it.
const (
	kOpen  uint8 = 1
	kClose uint8 = 2
)

// ev is one pairing-relevant event. 80 bytes: it is what an open lead costs
// besides its map entry and ids, so fields are chosen with care.
type ev struct {
	at   int64  // event time, unix milliseconds
	off  int64  // last offset of the batch it came in; restore drops ev with off >= the restore point
	fin  int64  // last offset of the batch that finalised it; -1 while pending
	id   string // event id
	rep  string // trigger/request: the owner rep; response: the responding rep; decision: the approver
	team string
	typ  schemas.Type
	ch   schemas.Channel
	kind uint8
	ok   bool // decision: approved
}

// less orders events as the brute-force definition does: event time, then
// openers first, then event id, then arrival.
func (a *ev) less(b *ev) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if c := strings.Compare(a.id, b.id); c != 0 {
		return c < 0
	}
	return a.off < b.off
}

// item is the pairing state of one lead or one approval.
//
// evs holds the finalised events the state store must still carry (finalised
// in batches not yet known to be committed), then the pending ones (event
// time not yet behind the finalisation horizon), each part in event order.
// base is the state as of the last point known committed: restoring from
// base plus the events below the restore point reproduces the state there.
//
// 160 bytes, a size class: one more field costs 16 bytes per open lead.
type item struct {
	// What finalisation reads first, together: one cache line with open.at.
	evs        []ev
	sched      int64 // time of its event wake: the first pending event; noSched: none
	nfin       int32 // evs[:nfin] are finalised
	hasOpen    bool
	baseSet    bool
	queued     bool // in part.gcq
	dirty      bool // in part.dirty
	deleted    bool
	fam        uint8
	open       ev // valid when hasOpen
	key        string
	base       *ev   // when baseSet: the open event as of the GC point (nil: none); else base == current state
	lastChange int64 // last offset of the batch that last changed the state (incl. expiry); -1 none
}

// noSched is item.sched when nothing is pending.
const noSched = math.MinInt64

// schedule makes it due at t (a pending event) at the latest.
func (p *pairer) schedule(it *item, t int64) {
	if it.sched != noSched && it.sched <= t {
		return
	}
	p.setSched(it, t)
	p.wakes.push(wake{t: t, it: it})
	if p.wakes.len() > 2*(p.live+p.open[0]+p.open[1])+1024 {
		p.wakes.compact(p.liveWake)
	}
}

// reschedule points it's event wake at its first pending event, after an
// advance.
func (p *pairer) reschedule(it *item) {
	if int(it.nfin) == len(it.evs) {
		p.setSched(it, noSched)
		return
	}
	if t := it.evs[it.nfin].at; t != it.sched {
		p.setSched(it, t)
		p.wakes.push(wake{t: t, it: it})
	}
}

func (p *pairer) setSched(it *item, t int64) {
	switch {
	case it.sched == noSched && t != noSched:
		p.live++
	case it.sched != noSched && t == noSched:
		p.live--
	}
	it.sched = t
}

// liveWake reports whether w is one of the two wakes it schedules.
func (p *pairer) liveWake(w wake) bool {
	it := w.it
	return w.t == it.sched || it.hasOpen && w.t == it.open.at+p.expiry[famIndex(it.fam)]-1
}

// emitter receives finalised pairs. Restores pass nil: those facts were
// emitted by the batches that produced them.
type emitter interface {
	pair(fam uint8, key string, open, close *ev)
	expire(fam uint8, key string, open *ev)
}

// pool recycles deleted items and released event arrays: in steady state a
// lead item and its pending array are created and dropped about once per
// event, and allocating them was most of the stage's garbage. Per pairer:
// a stale wake may still point to a recycled item, which must then belong
// to the same pairer.
type pool struct {
	items []*item
	evs   [][]ev
}

// A pool holds a quarter of the live items' count, within [poolMin,
// poolMax]: enough to cover the churn of a batch, never much next to the
// state it serves (at most 4096 × 320 bytes).
const (
	poolMin = 64
	poolMax = 4096
)

func (p *pairer) poolFull(n int) bool {
	return n >= min(poolMax, max(poolMin, (len(p.items[0])+len(p.items[1]))/4))
}

func (p *pairer) getEvs() []ev {
	pl := &p.pool
	if n := len(pl.evs); n > 0 {
		e := pl.evs[n-1]
		pl.evs[n-1] = nil
		pl.evs = pl.evs[:n-1]
		return e
	}
	return make([]ev, 0, 2)
}

// putEvs takes an array no item refers to any more.
func (p *pairer) putEvs(e []ev) {
	if cap(e) == 0 || cap(e) > 8 || p.poolFull(len(p.pool.evs)) {
		return
	}
	clear(e[:cap(e)]) // drop the id strings it points to
	p.pool.evs = append(p.pool.evs, e[:0])
}

// pairer is the pairing state of one partition: pure logic, no Kafka.
type pairer struct {
	expiry [2]int64 // ms, by famIndex
	items  [2]map[string]*item
	wakes  wakeQueue
	gcq    []*item // items with history to drop or to delete, once committed
	dirty  []*item // changed since the last checkpoint (history only)
	tomb   []*item // deleted since the last checkpoint
	intern map[string]string
	pool   pool
	live   int     // items with a pending event (sched != noSched)
	delq   []*item // deleted by finalise, out of the map once it is done
	open   [2]int  // items with an open trigger/request
	// history: keep what a restore needs until gc says it is committed.
	// Off without a state store: finalised events are dropped at once.
	history bool
}

func famIndex(f uint8) int {
	if f == famAppr {
		return 1
	}
	return 0
}

// newPairer returns an empty pairer.
func newPairer(leadExpiryMS, apprExpiryMS int64, history bool) *pairer {
	return &pairer{
		history: history,
		expiry:  [2]int64{leadExpiryMS, apprExpiryMS},
		items:   [2]map[string]*item{{}, {}},
		intern:  map[string]string{},
	}
}

// internStr shares the few distinct rep and team ids between all items.
func (p *pairer) internStr(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := p.intern[s]; ok {
		return v
	}
	if len(p.intern) > 1<<16 {
		clear(p.intern) // not an id set after all: stop sharing rather than grow
	}
	s = strings.Clone(s)
	p.intern[s] = s
	return s
}

func (p *pairer) newItem(fam uint8, key string) *item {
	var it *item
	if n := len(p.pool.items); n > 0 {
		it = p.pool.items[n-1]
		p.pool.items[n-1] = nil
		p.pool.items = p.pool.items[:n-1]
	} else {
		it = new(item)
	}
	*it = item{key: key, fam: fam, lastChange: -1, sched: noSched}
	return it
}

// free recycles a deleted item: nothing due (stale wakes may still point
// to it), not in the dirty, gc or tombstone lists.
func (p *pairer) free(it *item) {
	p.putEvs(it.evs)
	p.setSched(it, noSched)
	if p.poolFull(len(p.pool.items)) {
		return
	}
	*it = item{sched: noSched}
	p.pool.items = append(p.pool.items, it)
}

// add records e for the item (fam, key) as pending.
func (p *pairer) add(fam uint8, key string, e ev) {
	e.rep = p.internStr(e.rep)
	e.team = p.internStr(e.team)
	p.addShared(fam, key, e)
}

// addShared is add for an e whose rep and team strings are already
// shared (interned by the caller): the state keeps them.
func (p *pairer) addShared(fam uint8, key string, e ev) {
	m := p.items[famIndex(fam)]
	it := m[key]
	if it == nil {
		it = p.newItem(fam, strings.Clone(key))
		m[it.key] = it
	}
	e.fin = -1
	if it.evs == nil {
		it.evs = p.getEvs()
	}
	// Insert into the pending part in order; most arrive in order.
	k := len(it.evs)
	for k > int(it.nfin) && e.less(&it.evs[k-1]) {
		k--
	}
	if k == len(it.evs) {
		it.evs = append(it.evs, e)
	} else {
		it.evs = slices.Insert(it.evs, k, e)
	}
	p.schedule(it, e.at)
	p.markDirty(it)
}

func (p *pairer) markDirty(it *item) {
	if p.history && !it.dirty {
		it.dirty = true
		p.dirty = append(p.dirty, it)
	}
}

// finalise makes every item's events with event time < horizon final, in
// event order, and expires opens whose deadline is <= horizon. last is the
// batch's last offset, recorded as the change point.
func (p *pairer) finalise(horizon, last int64, out emitter) {
	for _, w := range p.wakes.take(horizon) {
		if !p.liveWake(w) {
			continue
		}
		if !p.advance(w.it, horizon, last, out) {
			p.reschedule(w.it)
		}
	}
	p.wakes.release()
	// Deleting in one tight loop lets the map's cache misses overlap.
	for _, it := range p.delq {
		delete(p.items[famIndex(it.fam)], it.key)
	}
	for k, it := range p.delq {
		p.free(it)
		p.delq[k] = nil
	}
	p.delq = p.delq[:0]
}

// advance finalises it up to horizon and reports whether it deleted it
// (memory-only mode: nothing open, nothing pending).
func (p *pairer) advance(it *item, horizon, last int64, out emitter) bool {
	fi := famIndex(it.fam)
	exp := p.expiry[fi]
	changed := false
	for int(it.nfin) < len(it.evs) {
		e := &it.evs[it.nfin]
		if e.at >= horizon {
			break
		}
		if !changed {
			changed = true
			p.before(it)
		}
		if it.hasOpen && it.open.at+exp <= e.at {
			if out != nil {
				out.expire(it.fam, it.key, &it.open)
			}
			it.hasOpen = false
			p.open[fi]--
		}
		e.fin = last
		switch e.kind {
		case kOpen:
			if !it.hasOpen {
				it.open = *e
				it.hasOpen = true
				p.open[fi]++
				p.wakes.push(wake{t: e.at + exp - 1, it: it})
			}
		case kClose:
			if it.hasOpen {
				if out != nil {
					out.pair(it.fam, it.key, &it.open, e)
				}
				it.hasOpen = false
				p.open[fi]--
			}
		}
		it.nfin++
	}
	if it.hasOpen && it.open.at+exp <= horizon {
		if !changed {
			changed = true
			p.before(it)
		}
		if out != nil {
			out.expire(it.fam, it.key, &it.open)
		}
		it.hasOpen = false
		p.open[fi]--
	}
	if changed && !p.history {
		it.evs = p.dropPrefix(it.evs, int(it.nfin))
		it.nfin = 0
		if !it.hasOpen && len(it.evs) == 0 {
			p.delq = append(p.delq, it)
			return true
		}
		return false
	}
	if changed {
		it.lastChange = last
		p.markDirty(it)
		if !it.queued {
			it.queued = true
			p.gcq = append(p.gcq, it)
		}
	}
	return false
}

// before records it's base state ahead of its first change since the last
// committed point (history mode).
func (p *pairer) before(it *item) {
	if p.history && !it.baseSet {
		it.baseSet = true
		it.base = nil
		if it.hasOpen {
			b := it.open
			it.base = &b
		}
	}
}

// gc drops history finalised in batches below committed (the consumer
// group's committed offset: no restore can start below it) and deletes
// items with nothing left, queueing their tombstones.
func (p *pairer) gc(committed int64) {
	keep := p.gcq[:0]
	for _, it := range p.gcq {
		if it.deleted {
			continue
		}
		n := 0
		for n < int(it.nfin) && it.evs[n].fin < committed {
			n++
		}
		if n > 0 {
			exp := p.expiry[famIndex(it.fam)]
			b := it.base
			for k := range n {
				e := &it.evs[k]
				if b != nil && b.at+exp <= e.at {
					b = nil
				}
				switch {
				case e.kind == kOpen && b == nil:
					c := *e
					b = &c
				case e.kind == kClose && b != nil:
					b = nil
				}
			}
			it.base = b
			it.evs = p.dropPrefix(it.evs, n)
			it.nfin -= int32(n)
			p.markDirty(it)
		}
		if it.nfin == 0 && it.lastChange < committed {
			it.baseSet = false
			it.base = nil
			if !it.hasOpen && len(it.evs) == 0 {
				// Nothing open or pending: not in the heap. The tombstone
				// list keeps it (not recycled) until the checkpoint.
				it.deleted = true
				delete(p.items[famIndex(it.fam)], it.key)
				p.tomb = append(p.tomb, it)
			}
			it.queued = false
			continue
		}
		keep = append(keep, it)
	}
	clear(p.gcq[len(keep):])
	p.gcq = keep
}

// dropPrefix removes evs[:n], releasing the array (to the pool) when
// nothing is left: an open lead should not pay for the events it no longer
// needs.
func (p *pairer) dropPrefix(evs []ev, n int) []ev {
	if n >= len(evs) {
		p.putEvs(evs)
		return nil
	}
	return slices.Delete(evs, 0, n)
}

// restoreItem rebuilds an item from its checkpoint: base and the events
// that came in batches below from, then finalises what was final there.
func (p *pairer) restoreItem(fam uint8, key string, base *ev, evs []ev, from, horizon int64) {
	evs = slices.DeleteFunc(evs, func(e ev) bool { return e.off >= from })
	if base == nil && len(evs) == 0 {
		return
	}
	it := p.newItem(fam, key)
	p.items[famIndex(fam)][key] = it
	if base != nil {
		it.open = *base
		it.open.rep = p.internStr(it.open.rep)
		it.open.team = p.internStr(it.open.team)
		it.hasOpen = true
		p.open[famIndex(fam)]++
		p.wakes.push(wake{t: base.at + p.expiry[famIndex(fam)] - 1, it: it})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if a.less(&b) {
			return -1
		}
		if b.less(&a) {
			return 1
		}
		return 0
	})
	for k := range evs {
		evs[k].fin = -1
		evs[k].rep = p.internStr(evs[k].rep)
		evs[k].team = p.internStr(evs[k].team)
	}
	it.evs = evs
	// Finalised "in the batch before from": conservative for gc, which
	// drops it only once from itself is committed.
	if p.advance(it, horizon, from-1, nil) {
		return // memory-only mode (tests): nothing left
	}
	p.reschedule(it)
	it.dirty = false
}

// openCount is the number of open leads and approvals.
func (p *pairer) openCount(fam uint8) int { return p.open[famIndex(fam)] }
