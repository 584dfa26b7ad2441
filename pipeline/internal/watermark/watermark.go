// Package watermark tracks event-time progress across a repartition, the
// way Flink propagates watermarks through a shuffle: a partition of an
// internal topic receives records from many upstream partitions, each
// progressing at its own speed (a backlog, a crashed instance, a slow
// vendor), so the largest event time it has seen says nothing about what
// is still to come. Every upstream task sends, after each batch, a mark
// "my input has reached event time T" to every downstream partition; the
// downstream partition's progress is the minimum over its upstreams.
//
// An upstream that stops sending (an idle source partition: a quiet vendor
// topic) would hold that minimum back for ever; it is left out, until it
// sends again, as Flink's idleness does, once the other upstreams' marks
// were sent more than the idle timeout after its last — but only if its
// last mark said it had consumed all of its input. An upstream that went
// silent behind its input (its instance crashed, its partitions wait for a
// new owner) keeps holding progress back, so a crash never makes events
// late.
//
// Idleness is judged on the marks' send times (the upstreams' wall
// clocks, carried in the log), never on when the downstream reads them: a
// downstream that stalls (its sink down) and then reads a backlog of marks
// decides as it would have live, and a replay decides the same way.
package watermark

import (
	"encoding/binary"
	"math"
	"time"
)

// None is the progress before any mark.
const None = math.MinInt64

// TickID is the upstream id of wall-clock ticks: marks written into a
// quiet stream's partitions (by the app, when every upstream has consumed
// all its input for a while) that move progress on by wall time. A tick is
// a floor, not an upstream: progress is at least the latest tick, whatever
// the upstreams say, except relays' (Relays). Being records in the log,
// ticks make a replay decide as the live run did.
const TickID = "tick"

// Upstreams is one downstream partition's view of its upstreams. Not safe
// for concurrent use.
type Upstreams struct {
	idle    time.Duration
	ups     map[string]*up
	dirty   map[string]bool
	dormant map[string]*dormant // by upstream id
	latest  time.Time           // the newest send time of any mark
	base    time.Time           // the send time of the first mark this view saw
	floor   int64               // the latest tick (None: none)
	relays  map[string]bool     // upstreams the floor does not lift
}

type up struct {
	t     int64         // event time reached, unix ms
	seen  time.Time     // send time of its last mark; zero: none yet (counted from base)
	limit time.Duration // silence after which it is left out (if end)
	end   bool          // its last mark said it had consumed all its input
	heard bool          // end and seen come from a mark this view read (not Expect, not Restore)
}

// dormant is a group of upstreams (a topic's partitions) none of which had
// data when the view was made: nobody waits for them until one reports.
type dormant struct {
	ids   []string
	grace time.Duration
	woken bool
}

// New returns an empty view; idle <= 0 never leaves an upstream out.
func New(idle time.Duration) *Upstreams {
	return &Upstreams{idle: idle, ups: map[string]*up{}, dirty: map[string]bool{}, floor: None}
}

// Expect registers upstreams that will send marks: until one has (or the
// others' marks run grace past the first mark this view saw), the
// progress is None. An upstream that merely has not started yet must hold
// progress back, or its first events would all be late; one that never
// sends (a source partition without data) is left out after grace. grace
// is at most the idle timeout (0: the idle timeout); a negative grace
// registers nothing.
func (u *Upstreams) Expect(ids []string, grace time.Duration) {
	u.expect(ids, grace, time.Time{})
}

func (u *Upstreams) expect(ids []string, grace time.Duration, from time.Time) {
	if grace < 0 {
		return
	}
	if grace == 0 || grace > u.idle {
		grace = u.idle
	}
	for _, id := range ids {
		if u.ups[id] == nil {
			u.ups[id] = &up{t: None, seen: from, limit: grace, end: true}
		}
	}
}

// Relays names upstreams that receive the ticks themselves and pass them
// on in their own marks once they have sent what precedes them: the floor
// does not lift them, so progress waits for each to relay it. The leads
// topic's resolvers are relays: a touch they release when a tick reaches
// its time must arrive before the progress that would fire its lead's
// deadline.
func (u *Upstreams) Relays(ids []string) {
	if u.relays == nil {
		u.relays = map[string]bool{}
	}
	for _, id := range ids {
		u.relays[id] = true
	}
}

// Dormant registers groups of upstreams (each a topic's partitions) that
// had no data at all when the instance started, a vendor the deployment
// may not use: they hold progress back only once one of a group reports,
// and then the group's others for grace (the rest of a topic starting a
// moment later), as Expect does.
func (u *Upstreams) Dormant(groups [][]string, grace time.Duration) {
	if u.dormant == nil {
		u.dormant = map[string]*dormant{}
	}
	for _, g := range groups {
		d := &dormant{ids: g, grace: grace}
		for _, id := range g {
			u.dormant[id] = d
		}
	}
}

// Observe records a mark of upstream id at event time t (ms), sent at
// sent by its upstream; end says the upstream had consumed all its input.
// Marks of one upstream only move forward.
func (u *Upstreams) Observe(id string, t int64, end bool, sent time.Time) {
	if id == TickID {
		if t > u.floor {
			u.floor = t
			u.dirty[TickID] = true
		}
		return
	}
	if u.base.IsZero() {
		u.base = sent
	}
	if sent.After(u.latest) {
		u.latest = sent
	}
	if d := u.dormant[id]; d != nil && !d.woken {
		d.woken = true
		u.expect(d.ids, d.grace, sent)
	}
	x := u.ups[id]
	if x == nil {
		x = &up{t: t}
		u.ups[id] = x
		u.dirty[id] = true
	} else if t > x.t || x.t == None {
		x.t = t
		u.dirty[id] = true
	}
	x.seen, x.limit, x.end, x.heard = sent, u.idle, end, true
}

// Min is the progress of the partition: the smallest event time its
// active upstreams reached; ok is false before any mark, or while an
// active upstream has not reported.
func (u *Upstreams) Min() (t int64, ok bool) { return u.MinIdle(u.idle) }

// MinIdle is Min with a shorter idle timeout (at most the view's own): an
// upstream whose last mark said it had consumed all its input is left out
// once the others' marks were sent idle after it. The lead resolver
// resolves touches at such a progress (docs/leads.md, "When a touch is
// resolved"): a source partition that is caught up is not waited for
// long, one that lags behind its input still is. An upstream this view
// has not heard from since it was made (expected, or restored after a
// restart: it may have been lagging) keeps its own timeout.
func (u *Upstreams) MinIdle(idle time.Duration) (t int64, ok bool) {
	t = math.MaxInt64
	relayed := int64(math.MaxInt64)
	for id, x := range u.ups {
		if u.idle > 0 && x.end {
			seen := x.seen
			if seen.IsZero() {
				seen = u.base
			}
			limit := x.limit
			if x.heard {
				limit = min(limit, max(idle, 0))
			}
			if !seen.IsZero() && u.latest.Sub(seen) > limit {
				continue
			}
		}
		if u.relays[id] {
			relayed = min(relayed, x.t)
			continue
		}
		t, ok = min(t, x.t), true
	}
	switch {
	case ok && t != None:
		t = max(t, u.floor)
	case u.floor != None:
		t, ok = u.floor, true
	default:
		t, ok = None, false
	}
	if relayed == None {
		return None, false // a relay that has not reported holds it back
	}
	if relayed != math.MaxInt64 {
		if !ok {
			return relayed, true
		}
		t = min(t, relayed)
	}
	return t, ok
}

// Changed calls f with every upstream whose progress moved since the last
// call, and its value encoded for a state store, then forgets the changes.
func (u *Upstreams) Changed(f func(id string, val []byte)) {
	for id := range u.dirty {
		if id == TickID {
			f(id, binary.BigEndian.AppendUint64(nil, uint64(u.floor)))
			continue
		}
		if t := u.ups[id].t; t != None {
			f(id, binary.BigEndian.AppendUint64(nil, uint64(t)))
		}
	}
	clear(u.dirty)
}

// Restore sets upstream id's progress from a value Changed produced: like
// an expected upstream, it holds progress back until it reports or the
// others' marks run the idle timeout past the first mark seen after the
// restore (a quiet source partition sends nothing after a restart).
func (u *Upstreams) Restore(id string, val []byte) bool {
	if len(val) != 8 {
		return false
	}
	t := int64(binary.BigEndian.Uint64(val))
	if id == TickID {
		u.floor = max(u.floor, t)
		return true
	}
	if x := u.ups[id]; x == nil || x.t < t {
		u.ups[id] = &up{t: t, limit: u.idle, end: true}
	}
	return true
}
