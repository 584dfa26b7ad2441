package leads

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/salespulse/salespulse/pipeline/internal/watermark"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Resolver is one worker's resolution stage (pipeline.Stage) on the
// contacts topic. Per partition it keeps the identity table of the
// contact keys hashed there and the touches waiting for one.
//
// Precedence: a touch resolves to the lead whose identity (its
// lead.created, or a lead.updated adding the key) has the latest event
// time at or before the touch's; ties go to the greater lead id. A touch
// is resolved once the partition's progress has reached its time, not
// when it arrives: the source topics are consumed at their own paces, so
// a touch of a fast topic (a call) arrives before identities of a slow
// one (a CRM) that precede it in event time, and resolving it on arrival
// made the answer depend on the pace. That progress (rpart.resT) stops
// waiting for a source partition that had consumed all its input and
// stayed quiet for Config.ResolveIdle. Every identity its source sent in
// order before the touch is known by then; what arrives later is late
// and counts as known from when it arrives. A touch with
// no identity at or before it waits up to Config.Hold of the partition's
// event time, and the first identity at or before it that arrives in that
// time takes it. A converted lead keeps its identities (its later touches
// still reach it and, being answered, change nothing); a merged lead's
// keys move to the master when the master's record is updated with them
// (a later identity wins).
type Resolver struct {
	l     *Leads
	parts map[partKey]*rpart
	msgs  []state.Message
	recs  []state.Record
	buf   []byte
	tmp   schemas.Interaction
	wire  []byte // wireOf's scratch
	due   []due  // the touches a batch resolves at its end, reused
	// release's scratch: the batch's pending entries (appendPending's
	// form) one after another and where each ends; a record's event ids
	// and where each ends.
	pend, pendIDs        []byte
	pendEnds, pendIDEnds []int
}

// due is a touch whose time the partition's progress has reached: one of
// the batch's (i) or one pending from an earlier batch (p).
type due struct {
	i *schemas.Interaction
	p *pending
}

func (d due) at() int64 {
	if d.p != nil {
		return d.p.at
	}
	return d.i.OccurredAt.UnixMilli()
}

func (d due) id() string {
	if d.p != nil {
		return d.p.id
	}
	return d.i.EventID
}

// wireOf returns the wire form of i in an allocation of its own, sized to
// it. Appended to nil, the form (~300 bytes) grew by doubling to 512
// bytes of capacity, and a touch waiting for its lead's identity keeps
// it for leads.hold of event time: with the resolved touches in flight,
// 22–46 MB of a 1M-event drain's peak heap (benchmarks/README.md,
// "Memory").
func (r *Resolver) wireOf(i *schemas.Interaction) []byte {
	r.wire = schemas.AppendWire(r.wire[:0], i)
	return bytes.Clone(r.wire)
}

// rpart is one contacts partition's resolution state.
type rpart struct {
	position // maxT: the partition's progress, the minimum over its upstreams
	// resT is the progress touches are resolved at: maxT, but with the
	// upstreams that had consumed all their input left out after
	// leads.resolve_idle instead of leads.idle_timeout. A touch is
	// resolved once resT reaches it.
	resT  int64
	up    *watermark.Upstreams
	atEnd bool // the last batch was at the partition's end (sent with the marks)
	ids   map[string][]ident
	// swept is the resT of the last sweep of ids for identities past
	// leads.identity_ttl (forget).
	swept   int64
	waiting map[string][]*held // by contact key
	queue   heldQueue          // every waiting touch, earliest first
	pending pendQueue          // touches after the progress, earliest first
	precs   []pendRecord       // the state records that hold them
}

// pending is a touch later than its partition's resT, not resolved yet,
// in its wire form.
type pending struct {
	at   int64
	id   string
	wire []byte
}

// pendRecord is a state record of one batch's pending touches
// (kindPending + the batch's last offset + a chunk number): deleted once
// resT has reached the latest of them, since a touch is resolved exactly
// when resT reaches it, and a restore skips those the saved resT has
// reached.
type pendRecord struct {
	off, last int64
	chunk     uint16
}

// pendChunk bounds a pending record's value, well under Kafka's default
// 1 MB message limit: in a catch-up a batch leaves thousands pending.
const pendChunk = 256 << 10

// ident is one lead a contact key belongs to, from an identity at At.
// Customer: the "lead" is an existing customer's contact
// (schemas.Interaction.Customer), and so are the touches resolved to it.
type ident struct {
	At       int64
	Lead     string
	Customer bool
}

// held is a touch waiting for its contact's identity.
type held struct {
	key  string // contact key
	at   int64
	id   string // event id
	wire []byte
	ix   int // in the queue; -1 once gone
}

// State keys: progress (progressKey), identities 'i'+contact key, waiting
// touches 'h'+contact key+0x00+event id, pending touches 'q'+the last
// offset (8 bytes, big-endian) of the batch they came in+a chunk number
// (2 bytes).
const (
	kindIdent    = 'i'
	kindHeld     = 'h'
	kindUpstream = 'u'
	kindPending  = 'q'
)

// NewResolver returns a Resolver for one pipeline worker.
func (l *Leads) NewResolver() *Resolver { return &Resolver{l: l, parts: map[partKey]*rpart{}} }

// Process resolves b's touches, learns its identities, sends on what is
// due and saves the partition's state, in one transaction. b loses its
// progress marks and ticks, as in the window stage (they are no
// interactions), and is stored nowhere (the contacts topic's interactions
// were stored from the source topics).
func (r *Resolver) Process(ctx context.Context, b *schemas.Batch) error {
	k := partKey{b.Origin.Topic, b.Origin.Partition}
	p := r.parts[k]
	if p == nil {
		p = &rpart{position: position{next: -1, expect: -1, maxT: watermark.None}, resT: watermark.None}
		r.parts[k] = p
	}
	fresh, err := admit(&p.position, b, func() (map[string][]byte, error) {
		st, err := r.l.fw.Load(ctx, state.Resolve, k.topic, k.part)
		if err == nil {
			err = r.restore(p, st)
		}
		return st, err
	})
	if err != nil || !fresh {
		if err == nil {
			r.l.m.skipped.Add(float64(len(b.Interactions)))
		}
		return err
	}
	r.msgs, r.recs, r.buf = r.msgs[:0], r.recs[:0], r.buf[:0]
	r.due = r.due[:0]
	var out []outMsg
	for n := range b.Interactions {
		i := &b.Interactions[n]
		switch {
		case i.Watermark && i.EventID == NudgeID:
			if r.l.cfg.ResolveIdle > 0 {
				p.resT = max(p.resT, i.OccurredAt.UnixMilli())
			}
		case i.Watermark:
			p.up.Observe(i.EventID, i.OccurredAt.UnixMilli(), i.Stage == schemas.WatermarkAtEnd, i.SentAt)
		case Identity(i):
			out = r.learn(p, i, out)
		case Touch(i):
			if p.resT != watermark.None && i.OccurredAt.UnixMilli() <= p.resT {
				out = r.resolve(p, i, out) // late: the progress passed it
			} else {
				r.due = append(r.due, due{i: i})
			}
		}
	}
	// The partition's event time moves with its slowest upstream, not
	// with the events it happened to receive first (docs/leads.md).
	advanced := b.AtEnd != p.atEnd
	p.atEnd = b.AtEnd
	if t, ok := p.up.Min(); ok && t > p.maxT {
		p.maxT, advanced = t, true
	}
	p.resT = max(p.resT, p.maxT)
	if r.l.cfg.ResolveIdle > 0 {
		if t, ok := p.up.MinIdle(r.l.cfg.ResolveIdle); ok && t > p.resT {
			p.resT = t
		}
	}
	out = r.release(p, b.Origin.LastOffset, out)
	b.Interactions = slices.DeleteFunc(b.Interactions, func(i schemas.Interaction) bool { return i.Watermark })
	r.expire(p)
	r.forget(p)
	p.up.Changed(func(id string, v []byte) {
		r.recs = append(r.recs, state.Record{Key: append([]byte{kindUpstream}, id...), Value: v})
	})
	r.recs = append(r.recs, resolverProgress(b.Origin.LastOffset+1, p.maxT, p.resT))
	for _, o := range out {
		r.msgs = append(r.msgs, state.Message{Topic: r.l.cfg.LeadsTopic, Key: []byte(o.key), Value: o.val})
	}
	if advanced && p.maxT != watermark.None {
		r.msgs = r.l.marks(r.msgs, r.l.cfg.LeadsTopic, upstreamID(b.Origin), p.maxT, b.AtEnd)
	}
	err = r.l.fw.Forward(ctx, state.Resolve, k.topic, k.part, r.recs, r.msgs)
	clear(r.msgs)
	clear(r.recs)
	if err != nil {
		r.drop(k)
		return fmt.Errorf("resolve %s: %w", b.Origin, err)
	}
	p.next = b.Origin.LastOffset + 1
	w, pn := r.waitingAll()
	r.l.m.waiting.Set(float64(w))
	r.l.m.pending.Set(float64(pn))
	return nil
}

type outMsg struct {
	key string
	val []byte
}

// release resolves the touches the progress has reached, this batch's
// and those pending from earlier ones, earliest first, and keeps the rest
// pending, saved in one record for the batch (its last offset off).
func (r *Resolver) release(p *rpart, off int64, out []outMsg) []outMsg {
	reached := func(at int64) bool { return p.resT != watermark.None && at <= p.resT }
	var later []due
	n := 0
	for _, d := range r.due {
		if reached(d.at()) {
			r.due[n] = d
			n++
		} else {
			later = append(later, d) // not kept: made wire forms below
		}
	}
	r.due = r.due[:n]
	for len(p.pending) > 0 && reached(p.pending[0].at) {
		r.due = append(r.due, due{p: heap.Pop(&p.pending).(*pending)})
	}
	slices.SortStableFunc(r.due, func(a, b due) int {
		if c := cmp.Compare(a.at(), b.at()); c != 0 {
			return c
		}
		return strings.Compare(a.id(), b.id())
	})
	for _, d := range r.due {
		i := d.i
		if i == nil {
			if err := schemas.DecodeWire(&r.tmp, d.p.wire); err != nil {
				continue // written by this stage: cannot happen
			}
			i = &r.tmp
		}
		out = r.resolve(p, i, out)
	}
	clear(r.due)
	r.due = r.due[:0]
	// Records whose touches are all resolved go.
	keep := p.precs[:0]
	for _, pr := range p.precs {
		if reached(pr.last) {
			r.recs = append(r.recs, state.Record{Key: pendKey(pr.off, pr.chunk)})
		} else {
			keep = append(keep, pr)
		}
	}
	p.precs = keep
	if len(later) == 0 {
		return out
	}
	// The entries are written once into the scratch, then each record's
	// into a value of its own size, which its pending touches' ids and
	// wire forms point into: a record and its touches, not an allocation
	// per touch (BenchmarkResolverPendingTouch).
	buf, ends := r.pend[:0], r.pendEnds[:0]
	for _, d := range later {
		r.wire = schemas.AppendWire(r.wire[:0], d.i)
		buf = appendPending(buf, &pending{at: d.at(), id: d.i.EventID, wire: r.wire})
		ends = append(ends, len(buf))
	}
	r.pend, r.pendEnds = buf, ends
	for from, first, chunk := 0, 0, uint16(0); first < len(ends); chunk++ {
		n := 1 // a record ends at the first entry that takes it to pendChunk
		for first+n < len(ends) && ends[first+n-1]-from < pendChunk {
			n++
		}
		to := ends[first+n-1]
		v := bytes.Clone(buf[from:to])
		pts := make([]pending, 0, n)
		ids, idEnds := r.pendIDs[:0], r.pendIDEnds[:0]
		pr := pendRecord{off: off, last: watermark.None, chunk: chunk}
		decodePending(v, func(at int64, id, wire []byte) { // cannot fail: written above
			pts = append(pts, pending{at: at, wire: wire})
			ids = append(ids, id...)
			idEnds = append(idEnds, len(ids))
			pr.last = max(pr.last, at)
		})
		all, start := string(ids), 0 // one string for the record's ids
		for k := range pts {
			pts[k].id = all[start:idEnds[k]]
			start = idEnds[k]
			heap.Push(&p.pending, &pts[k])
		}
		r.pendIDs, r.pendIDEnds = ids, idEnds
		p.precs = append(p.precs, pr)
		r.recs = append(r.recs, state.Record{Key: pendKey(off, chunk), Value: v})
		from, first = to, first+n
	}
	return out
}

func pendKey(off int64, chunk uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64([]byte{kindPending}, uint64(off)), chunk)
}

// appendPending: the touch's time (8 bytes), then its event id and wire
// form, each with a uvarint length.
func appendPending(b []byte, pt *pending) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(pt.at))
	b = binary.AppendUvarint(b, uint64(len(pt.id)))
	b = append(b, pt.id...)
	b = binary.AppendUvarint(b, uint64(len(pt.wire)))
	return append(b, pt.wire...)
}

// decodePending calls f with each touch of a record's value: id and wire
// alias b.
func decodePending(b []byte, f func(at int64, id, wire []byte)) error {
	next := func() ([]byte, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return nil, false
		}
		v := b[w : w+int(n) : w+int(n)]
		b = b[w+int(n):]
		return v, true
	}
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("truncated")
		}
		at := int64(binary.BigEndian.Uint64(b))
		b = b[8:]
		id, ok := next()
		if !ok {
			return fmt.Errorf("truncated")
		}
		wire, ok := next()
		if !ok {
			return fmt.Errorf("truncated")
		}
		f(at, id, wire)
	}
	return nil
}

// learn adds i's contact keys to the identity table and releases the
// touches that waited for them.
func (r *Resolver) learn(p *rpart, i *schemas.Interaction, out []outMsg) []outMsg {
	at := i.OccurredAt.UnixMilli()
	// i.LeadID cloned, once: identities are kept for leads.identity_ttl
	// of event time, and a substring would pin the block DecodeWire made
	// for all the record's ids.
	lead := ""
	ttl := r.l.cfg.IdentityTTL.Milliseconds()
	for _, key := range [...]string{i.Keys.Email, i.Keys.Phone, i.Keys.Mobile} {
		if key == "" {
			continue
		}
		ids := p.ids[key]
		e := ident{At: at, Lead: i.LeadID, Customer: i.Customer}
		if slices.Contains(ids, e) {
			continue // the same identity by another of its keys, or a retry
		}
		if lead == "" {
			lead = strings.Clone(i.LeadID)
		}
		e.Lead = lead
		r.l.m.identities.Inc()
		ids = append(ids, e)
		slices.SortFunc(ids, cmpIdent)
		if len(ids) > r.l.cfg.MaxLeadsPerContact {
			ids = slices.Delete(ids, 0, len(ids)-r.l.cfg.MaxLeadsPerContact)
		}
		p.ids[strings.Clone(key)] = ids
		r.recs = append(r.recs, state.Record{Key: append([]byte{kindIdent}, key...), Value: encodeIdents(ids)})

		// Waiting touches at or after the identity are its lead's.
		w := p.waiting[key]
		keep := w[:0]
		for _, h := range w {
			if h.at < at || ttl >= 0 && h.at-ttl > at {
				keep = append(keep, h)
				continue
			}
			if err := schemas.DecodeWire(&r.tmp, h.wire); err == nil {
				r.tmp.LeadID = i.LeadID
				r.tmp.Customer = i.Customer
				r.tmp.PairOnly = true
				out = append(out, outMsg{key: i.LeadID, val: r.wireOf(&r.tmp)})
				r.l.m.touchLate.Inc()
			}
			r.unhold(p, h)
		}
		clear(w[len(keep):])
		if len(keep) == 0 {
			delete(p.waiting, key)
		} else {
			p.waiting[key] = keep
		}
	}
	return out
}

// cmpIdent orders identities by time, then lead id: the last one at or
// before a touch wins.
func cmpIdent(a, b ident) int {
	if a.At != b.At {
		if a.At < b.At {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Lead, b.Lead)
}

// resolve sends touch i on: to its lead when one is known, else
// unresolved (and it waits for an identity).
func (r *Resolver) resolve(p *rpart, i *schemas.Interaction, out []outMsg) []outMsg {
	key := ContactKey(i.Keys)
	at := i.OccurredAt.UnixMilli()
	if id, ok := best(p.ids[key], at, r.l.cfg.IdentityTTL.Milliseconds()); ok {
		i.LeadID, i.Customer = id.Lead, id.Customer
		r.l.m.touchResolved.Inc()
		return append(out, outMsg{key: id.Lead, val: r.wireOf(i)})
	}
	r.l.m.touchUnresolved.Inc()
	wire := r.wireOf(i)
	out = append(out, outMsg{key: RouteKey(i), val: wire})
	if at+r.l.cfg.Hold.Milliseconds() < p.maxT {
		return out // already beyond the hold
	}
	h := &held{key: strings.Clone(key), at: at, id: strings.Clone(i.EventID), wire: wire}
	for _, o := range p.waiting[key] {
		if o.id == h.id {
			return out // a webhook retry of a touch already waiting
		}
	}
	p.waiting[h.key] = append(p.waiting[h.key], h)
	heap.Push(&p.queue, h)
	v := binary.BigEndian.AppendUint64(nil, uint64(at))
	r.recs = append(r.recs, state.Record{Key: heldKey(h), Value: append(v, wire...)})
	return out
}

// best is the latest identity at or before at, unless it is older than
// ttl (ms; negative: none is too old); false for none. The rule applies
// whether or not forget has swept the identity yet, so a touch resolves
// the same way whenever the sweep ran.
func best(ids []ident, at, ttl int64) (ident, bool) {
	for k := len(ids) - 1; k >= 0; k-- {
		if ids[k].At <= at {
			if ttl >= 0 && ids[k].At < at-ttl {
				return ident{}, false
			}
			return ids[k], true
		}
	}
	return ident{}, false
}

// forgetMax bounds the identity records one batch deletes or rewrites
// (its transaction), when a long stretch of event time expires many at
// once; the sweep goes on with the next batch.
const forgetMax = 4096

// forget drops the identities older than leads.identity_ttl before the
// partition's resolution progress, in memory and in the store: no touch
// it has not resolved can use them any more (best). It sweeps every
// identity_ttl/16 of event time, so an identity lives at most that much
// longer than its TTL.
func (r *Resolver) forget(p *rpart) {
	ttl := r.l.cfg.IdentityTTL.Milliseconds()
	if ttl < 0 || p.resT == watermark.None || p.resT-p.swept < ttl/16 {
		return
	}
	cut := p.resT - ttl
	n := 0
	for key, ids := range p.ids {
		k := 0
		for k < len(ids) && ids[k].At < cut {
			k++
		}
		if k == 0 {
			continue
		}
		if n == forgetMax {
			return // not swept to the end: again at the next batch
		}
		n++
		r.l.m.forgotten.Add(float64(k))
		rk := append([]byte{kindIdent}, key...)
		if k == len(ids) {
			delete(p.ids, key)
			r.recs = append(r.recs, state.Record{Key: rk})
			continue
		}
		ids = slices.Delete(ids, 0, k)
		p.ids[key] = ids
		r.recs = append(r.recs, state.Record{Key: rk, Value: encodeIdents(ids)})
	}
	p.swept = p.resT
}

func heldKey(h *held) []byte {
	k := make([]byte, 0, 2+len(h.key)+len(h.id))
	return append(append(append(append(k, kindHeld), h.key...), 0), h.id...)
}

// unhold forgets h and deletes it from the store.
func (r *Resolver) unhold(p *rpart, h *held) {
	if h.ix >= 0 {
		heap.Remove(&p.queue, h.ix)
	}
	r.recs = append(r.recs, state.Record{Key: heldKey(h)})
}

// expire drops the touches whose hold has passed.
func (r *Resolver) expire(p *rpart) {
	if p.maxT == watermark.None {
		return // no progress yet
	}
	limit := p.maxT - r.l.cfg.Hold.Milliseconds()
	for len(p.queue) > 0 && p.queue[0].at < limit {
		h := heap.Pop(&p.queue).(*held)
		w := p.waiting[h.key]
		if k := slices.Index(w, h); k >= 0 {
			w = slices.Delete(w, k, k+1)
		}
		if len(w) == 0 {
			delete(p.waiting, h.key)
		} else {
			p.waiting[h.key] = w
		}
		r.recs = append(r.recs, state.Record{Key: heldKey(h)})
		r.l.m.expired.Inc()
	}
}

// restore rebuilds p from the store's state of its partition.
func (r *Resolver) restore(p *rpart, st map[string][]byte) error {
	p.ids = map[string][]ident{}
	p.waiting = map[string][]*held{}
	p.queue = p.queue[:0]
	p.pending, p.precs = p.pending[:0], p.precs[:0]
	// The saved progress (admit reads it after this returns): the
	// pending touches it reached were resolved in the same transaction.
	p.resT = savedResolution(st)
	p.up = watermark.New(r.l.cfg.IdleTimeout)
	r.l.expect(p.up, false)
	for k, v := range st {
		switch {
		case len(k) > 1 && k[0] == kindUpstream:
			p.up.Restore(k[1:], v)
		case len(k) > 1 && k[0] == kindIdent:
			ids, err := decodeIdents(v)
			if err != nil {
				return fmt.Errorf("identity %q: %w", k[1:], err)
			}
			p.ids[k[1:]] = ids
		case len(k) > 1 && k[0] == kindHeld:
			key, id, ok := strings.Cut(k[1:], "\x00")
			if !ok || len(v) < 8 {
				return fmt.Errorf("waiting touch %q: malformed", k)
			}
			h := &held{key: key, id: id, at: int64(binary.BigEndian.Uint64(v)), wire: v[8:]}
			p.waiting[key] = append(p.waiting[key], h)
			heap.Push(&p.queue, h)
		case len(k) == 11 && k[0] == kindPending:
			pr := pendRecord{off: int64(binary.BigEndian.Uint64([]byte(k[1:9]))), chunk: binary.BigEndian.Uint16([]byte(k[9:])), last: watermark.None}
			err := decodePending(v, func(at int64, id, wire []byte) {
				pr.last = max(pr.last, at)
				if p.resT == watermark.None || at > p.resT {
					heap.Push(&p.pending, &pending{at: at, id: string(id), wire: wire})
				}
			})
			if err != nil {
				return fmt.Errorf("pending touches %x: %w", k[1:], err)
			}
			p.precs = append(p.precs, pr)
		}
	}
	return nil
}

// resolverProgress is progressRecord with resT as a third field.
func resolverProgress(next, maxT, resT int64) state.Record {
	pr := progressRecord(next, maxT)
	pr.Value = binary.BigEndian.AppendUint64(pr.Value, uint64(resT))
	return pr
}

// savedResolution reads resT from resolverProgress's value; a record
// written before resT existed resolved at maxT.
func savedResolution(st map[string][]byte) int64 {
	if v := st[progressKey]; len(v) >= 24 {
		return int64(binary.BigEndian.Uint64(v[16:]))
	}
	_, maxT := savedProgress(st)
	return maxT
}

func (r *Resolver) drop(k partKey) { delete(r.parts, k) }

// Release drops a partition's identities and touches (pipeline.Releaser):
// its source gave it up, and another instance resolves them now. A later
// batch of it loads them from the store again. The gauges stop counting
// them.
func (r *Resolver) Release(topic string, partition int32) {
	r.drop(partKey{topic, partition})
	w, pn := r.waitingAll()
	r.l.m.waiting.Set(float64(w))
	r.l.m.pending.Set(float64(pn))
}

func (r *Resolver) waitingAll() (waiting, pending int) {
	for _, p := range r.parts {
		waiting += len(p.queue)
		pending += len(p.pending)
	}
	return waiting, pending
}

// encodeIdents: per identity, At as 8 bytes, then (only in the customer
// form) a flags byte, then the lead id with a uvarint length. The
// customer form, used when some identity is a customer's, starts with
// identsCustomer; the plain form, which records written before customers
// had, starts with At's first byte, 0 for any time after 1970 and before
// the year 2^56 ms brings.
func encodeIdents(ids []ident) []byte {
	var b []byte
	flags := slices.ContainsFunc(ids, func(e ident) bool { return e.Customer })
	if flags {
		b = append(b, identsCustomer)
	}
	for _, e := range ids {
		b = binary.BigEndian.AppendUint64(b, uint64(e.At))
		if flags {
			var f byte
			if e.Customer {
				f |= identCustomer
			}
			b = append(b, f)
		}
		b = binary.AppendUvarint(b, uint64(len(e.Lead)))
		b = append(b, e.Lead...)
	}
	return b
}

const (
	identsCustomer = 0x01 // first byte of the customer form
	identCustomer  = 1 << 0
)

func decodeIdents(b []byte) ([]ident, error) {
	var out []ident
	flags, head := len(b) > 0 && b[0] == identsCustomer, 8 // head: bytes before the id's length
	if flags {
		b, head = b[1:], 9
	}
	for len(b) > 0 {
		if len(b) < head+1 {
			return nil, fmt.Errorf("truncated")
		}
		e := ident{At: int64(binary.BigEndian.Uint64(b))}
		if flags {
			e.Customer = b[8]&identCustomer != 0
		}
		n, w := binary.Uvarint(b[head:])
		if w <= 0 || uint64(len(b)-head-w) < n {
			return nil, fmt.Errorf("truncated")
		}
		e.Lead = string(b[head+w : head+w+int(n)])
		out = append(out, e)
		b = b[head+w+int(n):]
	}
	return out, nil
}

// heldQueue is a min-heap of waiting touches by event time.
type heldQueue []*held

func (q heldQueue) Len() int { return len(q) }
func (q heldQueue) Less(a, b int) bool {
	if q[a].at != q[b].at {
		return q[a].at < q[b].at
	}
	return q[a].id < q[b].id
}
func (q heldQueue) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].ix, q[b].ix = a, b
}
func (q *heldQueue) Push(x any) {
	h := x.(*held)
	h.ix = len(*q)
	*q = append(*q, h)
}
func (q *heldQueue) Pop() any {
	old := *q
	h := old[len(old)-1]
	old[len(old)-1] = nil
	h.ix = -1
	*q = old[:len(old)-1]
	return h
}

// pendQueue is a min-heap of pending touches by event time, then id.
type pendQueue []*pending

func (q pendQueue) Len() int { return len(q) }
func (q pendQueue) Less(a, b int) bool {
	if q[a].at != q[b].at {
		return q[a].at < q[b].at
	}
	return q[a].id < q[b].id
}
func (q pendQueue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }
func (q *pendQueue) Push(x any)   { *q = append(*q, x.(*pending)) }
func (q *pendQueue) Pop() any {
	old := *q
	pt := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return pt
}
