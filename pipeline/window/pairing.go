package window

import (
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
// evs holds the finalised events the changelog must still carry (finalised
// in batches not yet known to be committed), then the pending ones (event
// time not yet behind the finalisation horizon), each part in event order.
// base is the state as of the last point known committed: restoring from
// base plus the events below the restore point reproduces the state there.
//
// 152 bytes (size class 160): keep new fields in the padding after nfin.
type item struct {
	key        string
	open       ev  // valid when hasOpen
	base       *ev // when baseSet: the open event as of the GC point (nil: none); else base == current state
	evs        []ev
	lastChange int64 // last offset of the batch that last changed the state (incl. expiry); -1 none
	nfin       int32 // evs[:nfin] are finalised
	hidx       int32 // position in pairer.wakes; -1 while nothing is due
	hasOpen    bool
	baseSet    bool
	queued     bool // in part.gcq
	dirty      bool // in part.dirty
	deleted    bool
	fam        uint8
}

// due is the event time at which it next has something to finalise: its
// first pending event, or the last millisecond before its open expires.
func (it *item) due(exp int64) (int64, bool) {
	t, ok := int64(0), false
	if int(it.nfin) < len(it.evs) {
		t, ok = it.evs[it.nfin].at, true
	}
	if it.hasOpen && (!ok || it.open.at+exp-1 < t) {
		t, ok = it.open.at+exp-1, true
	}
	return t, ok
}

// wake schedules an item: at t it has something due. Every item is in the
// heap at most once (item.hidx), so the heap is as small as the state it
// schedules and needs no compaction.
type wake struct {
	t  int64
	it *item
}

// wakeHeap is a binary min-heap by (t, family, key). Typed rather than
// container/heap: the interface boxing cost two allocations per event. The
// key tie-break makes the order facts are emitted in a function of the
// state alone, so a restored partition emits a replayed batch's facts in
// the same order.
type wakeHeap []wake

func (h wakeHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.t != b.t {
		return a.t < b.t
	}
	if a.it.fam != b.it.fam {
		return a.it.fam < b.it.fam
	}
	return a.it.key < b.it.key
}

func (h wakeHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].it.hidx = int32(i)
	h[j].it.hidx = int32(j)
}

func (h wakeHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h wakeHeap) down(i int) {
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h.swap(i, j)
		i = j
	}
}

// schedule makes it due at t at the latest.
func (p *pairer) schedule(it *item, t int64) {
	if it.hidx >= 0 {
		if t < p.wakes[it.hidx].t {
			p.wakes[it.hidx].t = t
			p.wakes.up(int(it.hidx))
		}
		return
	}
	it.hidx = int32(len(p.wakes))
	p.wakes = append(p.wakes, wake{t: t, it: it})
	p.wakes.up(int(it.hidx))
}

// reschedule puts it, just advanced, at its next due time, or takes it out
// of the heap when nothing is due.
func (p *pairer) reschedule(it *item) {
	t, ok := it.due(p.expiry[famIndex(it.fam)])
	i := int(it.hidx)
	if i < 0 {
		if ok {
			p.schedule(it, t)
		}
		return
	}
	if ok {
		old := p.wakes[i].t
		p.wakes[i].t = t
		if t < old {
			p.wakes.up(i)
		} else {
			p.wakes.down(i)
		}
		return
	}
	n := len(p.wakes) - 1
	if i != n {
		p.wakes.swap(i, n)
	}
	p.wakes[n] = wake{}
	p.wakes = p.wakes[:n]
	it.hidx = -1
	if i != n {
		p.wakes.down(i)
		p.wakes.up(i)
	}
}

// emitter receives finalised pairs. Restores pass nil: those facts were
// emitted by the batches that produced them.
type emitter interface {
	pair(fam uint8, key string, open, close *ev)
	expire(fam uint8, key string, open *ev)
}

// pool recycles deleted items and released event arrays: in steady state a
// lead item and its pending array are created and dropped about once per
// event, and allocating them was most of the stage's garbage. One pool per
// Stage, shared by its partitions (a Stage is single-goroutine).
type pool struct {
	items []*item
	evs   [][]ev
	max   int // bound of each list; 0: poolMin
}

// poolMin is the least a pool may hold. The Stage raises the bound to a
// fraction of its live items, so a pool covers the churn of a batch yet
// never holds much next to the state it serves.
const poolMin = 1024

func (pl *pool) full(n int) bool { return n >= max(pl.max, poolMin) }

func (pl *pool) getEvs() []ev {
	if n := len(pl.evs); n > 0 {
		e := pl.evs[n-1]
		pl.evs[n-1] = nil
		pl.evs = pl.evs[:n-1]
		return e
	}
	return make([]ev, 0, 2)
}

// putEvs takes an array no item refers to any more.
func (pl *pool) putEvs(e []ev) {
	if cap(e) == 0 || cap(e) > 8 || pl.full(len(pl.evs)) {
		return
	}
	clear(e[:cap(e)]) // drop the id strings it points to
	pl.evs = append(pl.evs, e[:0])
}

// pairer is the pairing state of one partition: pure logic, no Kafka.
type pairer struct {
	expiry [2]int64 // ms, by famIndex
	items  [2]map[string]*item
	wakes  wakeHeap
	gcq    []*item // items with history to drop or to delete, once committed
	dirty  []*item // changed since the last checkpoint (history only)
	tomb   []*item // deleted since the last checkpoint
	intern map[string]string
	pool   *pool
	open   [2]int // items with an open trigger/request
	// history: keep what a restore needs until gc says it is committed.
	// Off without a changelog: finalised events are dropped at once.
	history bool
}

func famIndex(f uint8) int {
	if f == famAppr {
		return 1
	}
	return 0
}

// newPairer returns an empty pairer with a private pool; the Stage
// replaces it with the one its partitions share.
func newPairer(leadExpiryMS, apprExpiryMS int64, history bool) *pairer {
	return &pairer{
		history: history,
		expiry:  [2]int64{leadExpiryMS, apprExpiryMS},
		items:   [2]map[string]*item{{}, {}},
		intern:  map[string]string{},
		pool:    &pool{},
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
	*it = item{key: key, fam: fam, lastChange: -1, hidx: -1}
	return it
}

// free recycles a deleted item that nothing refers to any more: not in
// the heap (nothing due), nor in the dirty, gc or tombstone lists.
func (p *pairer) free(it *item) {
	p.pool.putEvs(it.evs)
	if p.pool.full(len(p.pool.items)) {
		return
	}
	*it = item{hidx: -1}
	p.pool.items = append(p.pool.items, it)
}

// add records e for the item (fam, key) as pending.
func (p *pairer) add(fam uint8, key string, e ev) {
	m := p.items[famIndex(fam)]
	it := m[key]
	if it == nil {
		it = p.newItem(fam, strings.Clone(key))
		m[it.key] = it
	}
	e.fin = -1
	e.rep = p.internStr(e.rep)
	e.team = p.internStr(e.team)
	if it.evs == nil {
		it.evs = p.pool.getEvs()
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
	for len(p.wakes) > 0 && p.wakes[0].t < horizon {
		it := p.wakes[0].it
		if p.advance(it, horizon, last, out) {
			continue // deleted, and already out of the heap
		}
		p.reschedule(it)
	}
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
			if it.hidx >= 0 {
				p.reschedule(it) // nothing due: takes it out of the heap
			}
			delete(p.items[fi], it.key)
			p.free(it)
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
		p.pool.putEvs(evs)
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
