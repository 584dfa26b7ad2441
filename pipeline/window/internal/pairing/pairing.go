// Package pairing is the window stage's per-partition pairing state
// machine: it pairs lead triggers with their first outbound response and
// approval requests with their decision, in event order, finalising what
// lies behind a horizon the caller (the watermark) moves, and expiring
// what stays unanswered. It knows neither Kafka nor the state store nor
// the record format: the caller passes each batch's last offset in,
// restores items from their checkpoints (RestoreItem), and encodes the
// changes Flush hands out.
package pairing

import (
	"math"
	"slices"
	"strings"

	"github.com/salespulse/salespulse/schemas"
)

// Pairing families: what an item pairs. They are also the kind byte of
// the items' state keys.
const (
	Lead     uint8 = 'L' // trigger (lead.created or inbound touch) → first outbound touch
	Approval uint8 = 'A' // approval.requested → approval.decided
)

// Event kinds. At equal event time openers sort before closers, so a
// response at the trigger's own millisecond answers it.
const (
	Open  uint8 = 1
	Close uint8 = 2
)

// Event is one pairing-relevant event. 80 bytes: it is what an open lead
// costs besides its map entry and ids, so fields are chosen with care.
type Event struct {
	At      int64  // event time, unix milliseconds
	Off     int64  // last offset of the batch it came in; restore drops events with Off >= the restore point
	fin     int64  // last offset of the batch that finalised it; -1 while pending
	ID      string // event id
	Rep     string // trigger/request: the owner rep; response: the responding rep; decision: the approver
	Team    string
	Type    schemas.Type
	Channel schemas.Channel
	Kind    uint8 // Open or Close
	OK      bool  // decision: approved
}

// less orders events as the brute-force definition does: event time, then
// openers first, then event id, then arrival.
func (a *Event) less(b *Event) bool {
	if a.At != b.At {
		return a.At < b.At
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c < 0
	}
	return a.Off < b.Off
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
	// What finalisation reads first, together: one cache line with open.At.
	evs        []Event
	sched      int64 // time of its event wake: the first pending event; noSched: none
	nfin       int32 // evs[:nfin] are finalised
	hasOpen    bool
	baseSet    bool
	queued     bool // in part.gcq
	dirty      bool // in part.dirty
	deleted    bool
	fam        uint8
	touched    bool  // in Pairer.touched: received events since the last EmitProvisional
	open       Event // valid when hasOpen
	key        string
	base       *Event // when baseSet: the open event as of the GC point (nil: none); else base == current state
	lastChange int64  // last offset of the batch that last changed the state (incl. expiry); -1 none
}

// noSched is item.sched when nothing is pending.
const noSched = math.MinInt64

// schedule makes it due at t (a pending event) at the latest.
func (p *Pairer) schedule(it *item, t int64) {
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
func (p *Pairer) reschedule(it *item) {
	if int(it.nfin) == len(it.evs) {
		p.setSched(it, noSched)
		return
	}
	if t := it.evs[it.nfin].At; t != it.sched {
		p.setSched(it, t)
		p.wakes.push(wake{t: t, it: it})
	}
}

func (p *Pairer) setSched(it *item, t int64) {
	switch {
	case it.sched == noSched && t != noSched:
		p.live++
	case it.sched != noSched && t == noSched:
		p.live--
	}
	it.sched = t
}

// liveWake reports whether w is one of the two wakes it schedules.
func (p *Pairer) liveWake(w wake) bool {
	it := w.it
	return w.t == it.sched || it.hasOpen && w.t == it.open.At+p.expiry[famIndex(it.fam)]-1
}

// Emitter receives finalised pairs and expiries. The events are valid
// during the call only. Restores pass nil: those facts were emitted by the
// batches that produced them.
type Emitter interface {
	Pair(fam uint8, key string, open, close *Event)
	Expire(fam uint8, key string, open *Event)
}

// ProvisionalEmitter receives provisional facts: pairs that are not final
// yet, keyed by (fam, key, open.ID), and retractions of such keys. The
// caller writes them with a version (the batch's last offset) into a
// table that keeps each key's latest version, so a later tentative pair
// of the same opener replaces the earlier one and a retraction deletes
// it. A retraction may name a key that never had a row: it must be
// harmless. The events are valid during the call only.
//
// An Emitter passed to Finalise that also implements ProvisionalEmitter
// gets the retractions finalisation makes (a final pair replaces its
// provisional row; a finalised trigger that lost its pair to an earlier
// one); EmitProvisional hands out the rest.
type ProvisionalEmitter interface {
	Provisional(fam uint8, key string, open, close *Event)
	Retract(fam uint8, key string, open *Event)
}

// pool recycles deleted items and released event arrays: in steady state a
// lead item and its pending array are created and dropped about once per
// event, and allocating them was most of the stage's garbage. Per Pairer:
// a stale wake may still point to a recycled item, which must then belong
// to the same Pairer.
type pool struct {
	items []*item
	evs   [][]Event
}

// A pool holds a quarter of the live items' count, within [poolMin,
// poolMax]: enough to cover the churn of a batch, never much next to the
// state it serves (at most 4096 × 320 bytes).
const (
	poolMin = 64
	poolMax = 4096
)

func (p *Pairer) poolFull(n int) bool {
	return n >= min(poolMax, max(poolMin, (len(p.items[0])+len(p.items[1]))/4))
}

func (p *Pairer) getEvs() []Event {
	pl := &p.pool
	if n := len(pl.evs); n > 0 {
		e := pl.evs[n-1]
		pl.evs[n-1] = nil
		pl.evs = pl.evs[:n-1]
		return e
	}
	return make([]Event, 0, 2)
}

// putEvs takes an array no item refers to any more.
func (p *Pairer) putEvs(e []Event) {
	if cap(e) == 0 || cap(e) > 8 || p.poolFull(len(p.pool.evs)) {
		return
	}
	clear(e[:cap(e)]) // drop the id strings it points to
	p.pool.evs = append(p.pool.evs, e[:0])
}

// Pairer is the pairing state of one partition: pure logic, no Kafka. It
// is not safe for concurrent use.
type Pairer struct {
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
	// touched are the items that received events since the last
	// EmitProvisional (their item.touched is set).
	touched []*item
	// history: keep what a restore needs until gc says it is committed.
	// Off without a state store: finalised events are dropped at once.
	history bool
}

func famIndex(f uint8) int {
	if f == Approval {
		return 1
	}
	return 0
}

// New returns an empty pairer. With history, it keeps what a restore
// needs (finalised events, base states) until GC says it is committed, and
// Flush hands out the changes; without, finalised events are dropped at
// once. Pairers that run one at a time (one goroutine's) may share scratch;
// nil gives the pairer its own.
func New(leadExpiryMS, apprExpiryMS int64, history bool, scratch *Scratch) *Pairer {
	return &Pairer{
		history: history,
		expiry:  [2]int64{leadExpiryMS, apprExpiryMS},
		items:   [2]map[string]*item{{}, {}},
		intern:  map[string]string{},
		wakes:   wakeQueue{buf: scratch},
	}
}

// Intern shares the few distinct rep and team ids between all items.
func (p *Pairer) Intern(s string) string {
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

func (p *Pairer) newItem(fam uint8, key string) *item {
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
func (p *Pairer) free(it *item) {
	p.putEvs(it.evs)
	p.setSched(it, noSched)
	if p.poolFull(len(p.pool.items)) {
		return
	}
	*it = item{sched: noSched}
	p.pool.items = append(p.pool.items, it)
}

// Add records e for the item (fam, key) as pending.
func (p *Pairer) Add(fam uint8, key string, e Event) {
	e.Rep = p.Intern(e.Rep)
	e.Team = p.Intern(e.Team)
	p.AddShared(fam, key, e)
}

// AddShared is Add for an e whose rep and team strings are already
// shared (interned by the caller): the state keeps them.
func (p *Pairer) AddShared(fam uint8, key string, e Event) {
	m := p.items[famIndex(fam)]
	it := m[key]
	if it == nil {
		it = p.newItem(fam, strings.Clone(key))
		m[it.key] = it
	}
	e.fin = -1
	if !it.touched {
		it.touched = true
		p.touched = append(p.touched, it)
	}
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
	p.schedule(it, e.At)
	p.markDirty(it)
}

func (p *Pairer) markDirty(it *item) {
	if p.history && !it.dirty {
		it.dirty = true
		p.dirty = append(p.dirty, it)
	}
}

// Finalise makes every item's events with event time < horizon final, in
// event order, and expires opens whose deadline is <= horizon. last is the
// batch's last offset, recorded as the change point.
//
// When out also implements ProvisionalEmitter, it is told which
// provisional keys finalisation retracts.
func (p *Pairer) Finalise(horizon, last int64, out Emitter) {
	pv, _ := out.(ProvisionalEmitter)
	for _, w := range p.wakes.take(horizon) {
		if !p.liveWake(w) {
			continue
		}
		if !p.advance(w.it, horizon, last, out, pv) {
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
//
// With pv, it retracts the provisional rows finalisation ends, as far as
// an earlier batch can have written them (a key that arrived in this
// batch, Off == last, had none): the row of each pair it makes final, and
// that of a trigger it finds already open (an earlier trigger took its
// pair). EmitProvisional retracts the rest, for the items a batch
// touched; an item no batch touched since its last EmitProvisional
// finalises exactly the tentative pairs it had then.
func (p *Pairer) advance(it *item, horizon, last int64, out Emitter, pv ProvisionalEmitter) bool {
	fi := famIndex(it.fam)
	exp := p.expiry[fi]
	changed := false
	for int(it.nfin) < len(it.evs) {
		e := &it.evs[it.nfin]
		if e.At >= horizon {
			break
		}
		if !changed {
			changed = true
			p.before(it)
		}
		if it.hasOpen && it.open.At+exp <= e.At {
			if out != nil {
				out.Expire(it.fam, it.key, &it.open)
			}
			it.hasOpen = false
			p.open[fi]--
		}
		e.fin = last
		switch e.Kind {
		case Open:
			if !it.hasOpen {
				it.open = *e
				it.hasOpen = true
				p.open[fi]++
				p.wakes.push(wake{t: e.At + exp - 1, it: it})
			} else if pv != nil && e.Off < last && e.ID != it.open.ID {
				// Not the open trigger's id: a redelivered copy of it must
				// not retract its row.
				pv.Retract(it.fam, it.key, e)
			}
		case Close:
			if it.hasOpen {
				if out != nil {
					out.Pair(it.fam, it.key, &it.open, e)
				}
				if pv != nil && (it.open.Off < last || e.Off < last) {
					pv.Retract(it.fam, it.key, &it.open)
				}
				it.hasOpen = false
				p.open[fi]--
			}
		}
		it.nfin++
	}
	if it.hasOpen && it.open.At+exp <= horizon {
		if !changed {
			changed = true
			p.before(it)
		}
		if out != nil {
			out.Expire(it.fam, it.key, &it.open)
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
func (p *Pairer) before(it *item) {
	if p.history && !it.baseSet {
		it.baseSet = true
		it.base = nil
		if it.hasOpen {
			b := it.open
			it.base = &b
		}
	}
}

// GC drops history finalised in batches below committed (the consumer
// group's committed offset: no restore can start below it) and deletes
// items with nothing left, queueing their tombstones.
func (p *Pairer) GC(committed int64) {
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
				if b != nil && b.At+exp <= e.At {
					b = nil
				}
				switch {
				case e.Kind == Open && b == nil:
					c := *e
					b = &c
				case e.Kind == Close && b != nil:
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
func (p *Pairer) dropPrefix(evs []Event, n int) []Event {
	if n >= len(evs) {
		p.putEvs(evs)
		return nil
	}
	return slices.Delete(evs, 0, n)
}

// RestoreItem rebuilds an item from its checkpoint (as Flush handed it
// out): base and the events that came in batches below from, then
// finalises what was final there (horizon). It takes evs. Call
// ForgetChanges after the last one: the restored state is the store's.
func (p *Pairer) RestoreItem(fam uint8, key string, base *Event, evs []Event, from, horizon int64) {
	evs = slices.DeleteFunc(evs, func(e Event) bool { return e.Off >= from })
	if base == nil && len(evs) == 0 {
		return
	}
	it := p.newItem(fam, key)
	p.items[famIndex(fam)][key] = it
	if base != nil {
		it.open = *base
		it.open.Rep = p.Intern(it.open.Rep)
		it.open.Team = p.Intern(it.open.Team)
		it.hasOpen = true
		p.open[famIndex(fam)]++
		p.wakes.push(wake{t: base.At + p.expiry[famIndex(fam)] - 1, it: it})
	}
	slices.SortFunc(evs, func(a, b Event) int {
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
		evs[k].Rep = p.Intern(evs[k].Rep)
		evs[k].Team = p.Intern(evs[k].Team)
	}
	it.evs = evs
	// Finalised "in the batch before from": conservative for gc, which
	// drops it only once from itself is committed.
	if p.advance(it, horizon, from-1, nil, nil) {
		return // memory-only mode (tests): nothing left
	}
	p.reschedule(it)
	it.dirty = false
}

// EmitProvisional hands out the provisional facts of the items that
// received events since the last call, as of now (call it after the
// batch's Finalise), and forgets which those were. last is the batch's
// last offset.
//
// It does not change the state: from each such item's open trigger (if
// any) it walks the pending events in order by the rules of finalisation
// (an open trigger expires before an event at or after its deadline; a
// trigger opens when none is open; a response answers the open one). Each
// pair it finds goes to out.Provisional. Triggers that arrived in an
// earlier batch and open no pair now are retracted, the open trigger
// included: a late, earlier event may have taken the pair they had.
// Items no batch touched keep their rows: finalisation follows the same
// walk (see advance). With out nil it only forgets. Cost: the touched
// items' pending events; nothing for the others.
func (p *Pairer) EmitProvisional(last int64, out ProvisionalEmitter) {
	for k, it := range p.touched {
		p.touched[k] = nil
		// A recycled item (finalise deleted it) is zeroed: not touched,
		// and it had nothing pending or open anyway.
		if !it.touched {
			continue
		}
		it.touched = false
		if out != nil {
			p.tentative(it, last, out)
		}
	}
	p.touched = p.touched[:0]
}

// tentative emits it's provisional pairs and retractions (EmitProvisional).
func (p *Pairer) tentative(it *item, last int64, out ProvisionalEmitter) {
	exp := p.expiry[famIndex(it.fam)]
	var cur *Event
	if it.hasOpen {
		cur = &it.open
	}
	for k := int(it.nfin); k < len(it.evs); k++ {
		e := &it.evs[k]
		if cur != nil && cur.At+exp <= e.At {
			p.retract(it, cur, last, out)
			cur = nil
		}
		switch e.Kind {
		case Open:
			if cur == nil {
				cur = e
			} else {
				// Ignored while another is open. A redelivered copy of
				// the open one (same id) is retracted before that one's
				// pair is emitted below, which then wins (same version,
				// written later).
				p.retract(it, e, last, out)
			}
		case Close:
			if cur != nil {
				out.Provisional(it.fam, it.key, cur, e)
				cur = nil
			}
		}
	}
	if cur != nil {
		p.retract(it, cur, last, out)
	}
}

// retract retracts open's provisional row unless open arrived in batch
// last: then no earlier batch wrote one.
func (p *Pairer) retract(it *item, open *Event, last int64, out ProvisionalEmitter) {
	if open.Off < last {
		out.Retract(it.fam, it.key, open)
	}
}

// OpenCount is the number of open leads (Lead) or approvals (Approval).
func (p *Pairer) OpenCount(fam uint8) int { return p.open[famIndex(fam)] }

// Flush hands out the changes since the last Flush, for the state store:
// put for each changed item, with its checkpoint (base: its open event as
// of the GC point, nil none; evs: every event not yet dropped, in order),
// valid during the call only; then del for each item deleted. Deleted items
// are recycled after del.
func (p *Pairer) Flush(put func(fam uint8, key string, base *Event, evs []Event), del func(fam uint8, key string)) {
	for _, it := range p.dirty {
		it.dirty = false
		if it.deleted {
			continue
		}
		base := it.base
		if !it.baseSet {
			base = nil
			if it.hasOpen {
				base = &it.open
			}
		}
		put(it.fam, it.key, base, it.evs)
	}
	for _, it := range p.tomb {
		del(it.fam, it.key)
		p.free(it)
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	clear(p.tomb)
	p.tomb = p.tomb[:0]
}

// ForgetChanges drops the changes Flush would hand out: after a restore
// (the state is the store's) or without a store.
func (p *Pairer) ForgetChanges() {
	for _, it := range p.dirty {
		it.dirty = false
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	clear(p.tomb)
	p.tomb = p.tomb[:0]
}

// EventCount is the number of events the item (fam, key) keeps: pending
// ones and finalised ones not yet committed. 0: no such item.
func (p *Pairer) EventCount(fam uint8, key string) int {
	if it := p.items[famIndex(fam)][key]; it != nil {
		return len(it.evs)
	}
	return 0
}
