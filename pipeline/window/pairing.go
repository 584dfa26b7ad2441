package window

import (
	"container/heap"
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
type item struct {
	key        string
	open       ev  // valid when hasOpen
	base       *ev // when baseSet: the open event as of the GC point (nil: none); else base == current state
	evs        []ev
	nfin       int32 // evs[:nfin] are finalised
	hasOpen    bool
	baseSet    bool
	queued     bool // in part.gcq
	dirty      bool // in part.dirty
	deleted    bool
	fam        uint8
	lastChange int64 // last offset of the batch that last changed the state (incl. expiry); -1 none
}

// wake is a scheduled look at an item: at t the item has something due
// (a pending event with at <= t, or an expiry at t+1).
type wake struct {
	t  int64
	it *item
}

type wakeHeap []wake

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].t < h[j].t }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wake)) }
func (h *wakeHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = wake{}
	*h = old[:len(old)-1]
	return w
}

// emitter receives finalised pairs. Restores pass nil: those facts were
// emitted by the batches that produced them.
type emitter interface {
	pair(fam uint8, key string, open, close *ev)
	expire(fam uint8, key string, open *ev)
}

// pairer is the pairing state of one partition: pure logic, no Kafka.
type pairer struct {
	expiry [2]int64 // ms, by famIndex
	items  [2]map[string]*item
	wakes  wakeHeap
	gcq    []*item // items with history to drop or to delete, once committed
	dirty  []*item // changed since the last checkpoint
	tomb   []*item // deleted since the last checkpoint
	intern map[string]string
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

// add records e for the item (fam, key) as pending.
func (p *pairer) add(fam uint8, key string, e ev) {
	m := p.items[famIndex(fam)]
	it := m[key]
	if it == nil {
		it = &item{key: strings.Clone(key), fam: fam, lastChange: -1}
		m[it.key] = it
	}
	e.fin = -1
	e.rep = p.internStr(e.rep)
	e.team = p.internStr(e.team)
	// Insert into the pending part in order; most arrive in order.
	k := len(it.evs)
	for k > int(it.nfin) && e.less(&it.evs[k-1]) {
		k--
	}
	if it.evs == nil {
		it.evs = make([]ev, 0, 2)
	}
	it.evs = slices.Insert(it.evs, k, e)
	heap.Push(&p.wakes, wake{t: e.at, it: it})
	p.markDirty(it)
}

func (p *pairer) markDirty(it *item) {
	if !it.dirty {
		it.dirty = true
		p.dirty = append(p.dirty, it)
	}
}

// finalise makes every item's events with event time < horizon final, in
// event order, and expires opens whose deadline is <= horizon. last is the
// batch's last offset, recorded as the change point.
func (p *pairer) finalise(horizon, last int64, out emitter) {
	for len(p.wakes) > 0 && p.wakes[0].t < horizon {
		w := heap.Pop(&p.wakes).(wake)
		if !w.it.deleted {
			p.advance(w.it, horizon, last, out)
		}
	}
}

func (p *pairer) advance(it *item, horizon, last int64, out emitter) {
	exp := p.expiry[famIndex(it.fam)]
	fi := famIndex(it.fam)
	changed := false
	before := func() {
		if !changed {
			changed = true
			if p.history && !it.baseSet {
				it.baseSet = true
				it.base = nil
				if it.hasOpen {
					b := it.open
					it.base = &b
				}
			}
		}
	}
	for int(it.nfin) < len(it.evs) {
		e := &it.evs[it.nfin]
		if e.at >= horizon {
			break
		}
		before()
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
				heap.Push(&p.wakes, wake{t: e.at + exp - 1, it: it})
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
		before()
		if out != nil {
			out.expire(it.fam, it.key, &it.open)
		}
		it.hasOpen = false
		p.open[fi]--
	}
	if changed && !p.history {
		it.evs = dropPrefix(it.evs, int(it.nfin))
		it.nfin = 0
		if !it.hasOpen && len(it.evs) == 0 {
			it.deleted = true
			delete(p.items[fi], it.key)
		}
		return
	}
	if changed {
		it.lastChange = last
		p.markDirty(it)
		if !it.queued {
			it.queued = true
			p.gcq = append(p.gcq, it)
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
			it.evs = dropPrefix(it.evs, n)
			it.nfin -= int32(n)
			p.markDirty(it)
		}
		if it.nfin == 0 && it.lastChange < committed {
			it.baseSet = false
			it.base = nil
			if !it.hasOpen && len(it.evs) == 0 {
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
	if len(p.wakes) > 64 && len(p.wakes) > 4*(len(p.items[0])+len(p.items[1])) {
		p.compactWakes()
	}
}

// dropPrefix removes evs[:n], releasing the array when nothing is left:
// an open lead should not pay for the events it no longer needs.
func dropPrefix(evs []ev, n int) []ev {
	if n >= len(evs) {
		return nil
	}
	return slices.Delete(evs, 0, n)
}

// compactWakes drops wakes of deleted items, so a heap of stale entries
// cannot outgrow the state it schedules.
func (p *pairer) compactWakes() {
	w := p.wakes[:0]
	for _, x := range p.wakes {
		if !x.it.deleted {
			w = append(w, x)
		}
	}
	clear(p.wakes[len(w):])
	p.wakes = w
	heap.Init(&p.wakes)
}

// restoreItem rebuilds an item from its checkpoint: base and the events
// that came in batches below from, then finalises what was final there.
func (p *pairer) restoreItem(fam uint8, key string, base *ev, evs []ev, from, horizon int64) {
	evs = slices.DeleteFunc(evs, func(e ev) bool { return e.off >= from })
	if base == nil && len(evs) == 0 {
		return
	}
	it := &item{key: key, fam: fam, lastChange: -1}
	p.items[famIndex(fam)][key] = it
	if base != nil {
		it.open = *base
		it.open.rep = p.internStr(it.open.rep)
		it.open.team = p.internStr(it.open.team)
		it.hasOpen = true
		p.open[famIndex(fam)]++
		heap.Push(&p.wakes, wake{t: base.at + p.expiry[famIndex(fam)] - 1, it: it})
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
		heap.Push(&p.wakes, wake{t: evs[k].at, it: it})
	}
	it.evs = evs
	// Finalised "in the batch before from": conservative for gc, which
	// drops it only once from itself is committed.
	p.advance(it, horizon, from-1, nil)
	it.dirty = false
}

// openCount is the number of open leads and approvals.
func (p *pairer) openCount(fam uint8) int { return p.open[famIndex(fam)] }
