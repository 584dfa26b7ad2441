package pairing

import "slices"

// wake schedules a look at an item at event time t. Items have two kinds:
//
//   - an event wake at the item's first pending event (t == it.sched);
//   - an expiry wake, pushed once per open trigger/request, at the last
//     millisecond before it expires (t == it.open.at+expiry-1).
//
// Any other wake is stale (the item got an earlier event, was answered,
// deleted or recycled) and is skipped. So the queue never writes to items,
// and an answered lead's expiry wake is not pushed again with every event.
type wake struct {
	t  int64
	it *item
}

// The ring holds wakes within ringSize buckets of 2^ringShift ms (4.7 h
// of event time) from the horizon: event wakes, which lie within
// out_of_orderness + allowed_lateness of it. Pushing there is an append
// and taking the due ones a scan of the buckets the horizon passed. The
// rest (expiries, days ahead) goes to a heap.
const (
	ringShift = 16
	ringSize  = 256
)

// wakeQueue yields the wakes before a horizon that never goes back.
type wakeQueue struct {
	ring   [][]wake // ringSize buckets, allocated on first use
	base   int64    // bucket number of the horizon; the ring covers [base, base+ringSize)
	based  bool     // base is set (by the first take)
	inRing int
	far    wakeHeap // wakes beyond the ring, or pushed before the first take
	// take's buffers, reused; the window stage shares them between its
	// partitions' pairers (it runs one at a time), so idle ones do not
	// hold any.
	buf *Scratch
}

// Scratch is finalisation's buffers (see New).
type Scratch struct{ due, far []wake }

// wakeLess orders wakes by time, then family and key.
func wakeLess(a, b *wake) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	if a.it.fam != b.it.fam {
		return a.it.fam < b.it.fam
	}
	return a.it.key < b.it.key
}

func (q *wakeQueue) len() int { return q.inRing + len(q.far) }

func (q *wakeQueue) push(w wake) {
	if b := w.t >> ringShift; q.based && b >= q.base && b < q.base+ringSize {
		if q.ring == nil {
			q.ring = make([][]wake, ringSize)
		}
		i := b & (ringSize - 1)
		q.ring[i] = append(q.ring[i], w)
		q.inRing++
		return
	}
	q.far = append(q.far, w)
	q.far.up(len(q.far) - 1)
}

// sortWakes sorts ws in wakeLess order: by insertion when short (a
// bucket's wakes arrive roughly in time order), else pdqsort, which a
// bucket holding a whole shuffled hour of a busy partition needs.
func sortWakes(ws []wake) {
	if len(ws) > 12 {
		slices.SortFunc(ws, func(a, b wake) int {
			if wakeLess(&a, &b) {
				return -1
			}
			if wakeLess(&b, &a) {
				return 1
			}
			return 0
		})
		return
	}
	for j := 1; j < len(ws); j++ {
		for k := j; k > 0 && wakeLess(&ws[k], &ws[k-1]); k-- {
			ws[k], ws[k-1] = ws[k-1], ws[k]
		}
	}
}

// take removes and returns the wakes before horizon, in wakeLess order:
// facts are emitted in an order that is a function of the state alone, so
// a restored partition emits a replayed batch's facts in the same order.
// Buckets are taken in time order, each sorted, then merged with the
// heap's: cheaper than sorting the batch's wakes as a whole, which cost a
// fifth of the stage. The result is valid until release.
func (q *wakeQueue) take(horizon int64) []wake {
	if q.buf == nil {
		q.buf = &Scratch{}
	}
	due := q.buf.due[:0]
	hb := horizon >> ringShift
	if q.based && q.inRing > 0 && hb >= q.base {
		// Buckets before hb are due entirely; hb's in part. After a jump
		// of more than the ring, every bucket is before hb.
		for k := range min(hb-q.base+1, ringSize) {
			i := (q.base + k) & (ringSize - 1)
			b := q.ring[i]
			keep := b[:0]
			start := len(due)
			for _, w := range b {
				if w.t >= horizon {
					keep = append(keep, w)
				} else {
					due = append(due, w)
				}
			}
			sortWakes(due[start:])
			q.inRing -= len(b) - len(keep)
			clear(b[len(keep):])
			q.ring[i] = keep
		}
	}
	if !q.based || hb > q.base {
		q.base, q.based = hb, true
	}
	if len(q.far) == 0 || q.far[0].t >= horizon {
		q.buf.due = due
		return due
	}
	far := q.buf.far[:0]
	for len(q.far) > 0 && q.far[0].t < horizon {
		far = append(far, q.far[0])
		n := len(q.far) - 1
		q.far[0] = q.far[n]
		q.far[n] = wake{}
		q.far = q.far[:n]
		q.far.down(0)
	}
	// The heap breaks time ties arbitrarily: sort if there are any.
	for j := 1; j < len(far); j++ {
		if far[j].t == far[j-1].t {
			sortWakes(far)
			break
		}
	}
	n := len(due)
	due = append(due, far...)
	if n > 0 {
		// Backward merge of due[:n] and far into due.
		i, j := n-1, len(far)-1
		for k := len(due) - 1; j >= 0; k-- {
			if i >= 0 && wakeLess(&far[j], &due[i]) {
				due[k] = due[i]
				i--
			} else {
				due[k] = far[j]
				j--
			}
		}
	}
	clear(far)
	q.buf.far = far[:0]
	q.buf.due = due
	return due
}

// release drops take's last result: its items may be recycled. Buffers
// grown by one huge batch are not kept (1 MiB).
func (q *wakeQueue) release() {
	for _, d := range []*[]wake{&q.buf.due, &q.buf.far} {
		if cap(*d) > 1<<16 {
			*d = nil
		} else {
			clear(*d)
			*d = (*d)[:0]
		}
	}
}

// compact keeps the wakes live reports true for, so the expiry wakes of
// answered leads (days ahead) cannot outgrow the state they schedule.
func (q *wakeQueue) compact(live func(wake) bool) {
	for i, b := range q.ring {
		keep := b[:0]
		for _, w := range b {
			if live(w) {
				keep = append(keep, w)
			}
		}
		q.inRing -= len(b) - len(keep)
		clear(b[len(keep):])
		q.ring[i] = keep
	}
	w := q.far[:0]
	for _, x := range q.far {
		if live(x) {
			w = append(w, x)
		}
	}
	clear(q.far[len(w):])
	q.far = w
	for i := (len(w) - 2) / 4; i >= 0; i-- {
		w.down(i)
	}
}

// wakeHeap is a 4-ary min-heap by time: typed rather than container/heap,
// whose interface boxing cost allocations, and 4-ary for half the depth.
type wakeHeap []wake

func (h wakeHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 4
		if h[j].t >= h[i].t {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h wakeHeap) down(i int) {
	n := len(h)
	for {
		c := 4*i + 1
		if c >= n {
			return
		}
		m := c
		for k := c + 1; k < min(c+4, n); k++ {
			if h[k].t < h[m].t {
				m = k
			}
		}
		if h[m].t >= h[i].t {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
