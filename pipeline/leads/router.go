package leads

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/internal/watermark"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Leads holds what the per-worker stages share. Safe for concurrent use.
type Leads struct {
	cfg   Config
	fw    state.Forwarder
	parts int32      // partitions of each lead topic
	srcs  []string   // the source partitions ("topic/partition"): the routers
	downs []string   // what the leads partitions hear from: srcs and the contacts partitions
	relay []string   // of downs, the contacts partitions: they relay ticks
	quiet []string   // of srcs, those without data at start
	dorm  [][]string // per topic without data at start, its partitions
	grace time.Duration
	m     *metrics
	log   *slog.Logger
	now   func() time.Time
}

// Topology is what the stages must know of the topics around them.
type Topology struct {
	// Partitions of each lead topic: every upstream task sends its
	// progress marks to all of them.
	Partitions int32
	// Sources are the source topics' partitions, "topic/partition": the
	// routers every contacts and leads partition waits for, for up to
	// leads.idle_timeout until they report.
	Sources []string
	// Quiet are source partitions that never held a record when the
	// instance started, of topics that did: they are waited for only
	// QuietGrace.
	Quiet []string
	// Dormant are the partitions of each source topic that held no record
	// at all when the instance started (a vendor the deployment may not
	// use): not waited for until one of a topic reports, then the others
	// for QuietGrace.
	Dormant    [][]string
	QuietGrace time.Duration
}

// New returns the shared part of the routing stages. cfg gets its
// defaults; fw saves their state and sends their messages.
func New(cfg Config, fw state.Forwarder, topo Topology, reg prometheus.Registerer, log *slog.Logger) (*Leads, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(0, 0); err != nil {
		return nil, err
	}
	if fw == nil {
		return nil, errors.New("leads: a state.Forwarder is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if topo.Partitions <= 0 {
		return nil, errors.New("leads: the lead topics' partition count is required")
	}
	l := &Leads{cfg: cfg, fw: fw, parts: topo.Partitions, srcs: slices.Clone(topo.Sources),
		quiet: slices.Clone(topo.Quiet), dorm: topo.Dormant, grace: topo.QuietGrace,
		m: newMetrics(reg), log: log.With("component", "leads"), now: time.Now}
	l.srcs = slices.DeleteFunc(l.srcs, func(id string) bool {
		return slices.Contains(l.quiet, id) || slices.ContainsFunc(l.dorm, func(g []string) bool { return slices.Contains(g, id) })
	})
	for p := range topo.Partitions {
		l.relay = append(l.relay, UpstreamID(cfg.ContactsTopic, p))
	}
	l.downs = append(slices.Clone(l.srcs), l.relay...)
	return l, nil
}

// Upstreams are the upstream ids a leads partition hears progress from:
// every source partition and every contacts partition, then those of them
// to wait for only the quiet grace (for window.Deps.Upstreams).
func (l *Leads) Upstreams() (ids, quiet []string, dormant [][]string, grace time.Duration) {
	return slices.Clone(l.downs), slices.Clone(l.quiet), l.dorm, l.grace
}

// Relays are the upstreams of a leads partition that relay the wall-clock
// ticks (watermark.Upstreams.Relays): the contacts partitions. The ticker
// writes ticks into both lead topics; a resolver releases the touches a
// tick reaches before its mark passes the tick on, so a leads partition's
// progress never passes a touch still in the contacts topic.
func (l *Leads) Relays() []string { return slices.Clone(l.relay) }

// expect registers the upstreams of a contacts partition (the routers) or
// of a leads partition (the routers and the resolvers, which relay ticks).
func (l *Leads) expect(u *watermark.Upstreams, leadsPartition bool) {
	if leadsPartition {
		u.Expect(l.downs, 0)
		u.Relays(l.relay)
	} else {
		u.Expect(l.srcs, 0)
	}
	u.Expect(l.quiet, l.grace)
	u.Dormant(l.dorm, l.grace)
}

// Partitions is the lead topics' partition count.
func (l *Leads) Partitions() int32 { return l.parts }

// Config returns the configuration with defaults applied.
func (l *Leads) Config() Config { return l.cfg }

// progressKey is the state key of the first input offset not yet
// forwarded, in both stages' namespaces.
const progressKey = "\x00next"

// ErrStraddle: a batch starts below the offset the stage forwarded up to
// and ends above it. The source cuts a replay where the first attempt was
// cut (commit metadata, cut history), so this means the cut plan was lost.
var ErrStraddle = errors.New("batch straddles the offset forwarded up to; its first part was sent already")

// position is one input partition's forwarding progress.
type position struct {
	next   int64 // first offset not forwarded; -1: nothing was
	expect int64 // first offset of the batch expected next; else reload
	// maxT is the event time the input has reached, sent downstream as
	// the progress mark (the router: the largest event time of its
	// source partition; the resolver: the minimum over its upstreams).
	maxT int64
}

// admit loads the partition's progress when b is not the batch expected
// and reports whether b must be forwarded (false: it was, before a
// restart). load is the stage's restore, returning its saved state.
func admit(p *position, b *schemas.Batch, load func() (map[string][]byte, error)) (fresh bool, err error) {
	if p.expect != b.Origin.FirstOffset {
		st, err := load()
		if err != nil {
			return false, err
		}
		p.next, p.maxT = savedProgress(st)
	}
	p.expect = b.Origin.LastOffset + 1
	switch {
	case b.Origin.LastOffset < p.next:
		return false, nil
	case b.Origin.FirstOffset < p.next:
		p.expect = -1
		return false, fmt.Errorf("%s (forwarded up to %d): %w", b.Origin, p.next, ErrStraddle)
	}
	return true, nil
}

// savedProgress reads progressRecord's value from a stage's state: the
// first offset not forwarded (-1: none) and the event time reached.
func savedProgress(st map[string][]byte) (next, maxT int64) {
	next, maxT = -1, watermark.None
	if v := st[progressKey]; len(v) >= 8 {
		next = int64(binary.BigEndian.Uint64(v))
	}
	if v := st[progressKey]; len(v) >= 16 {
		maxT = int64(binary.BigEndian.Uint64(v[8:]))
	}
	return next, maxT
}

func progressRecord(next, maxT int64) state.Record {
	v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(next)), uint64(maxT))
	return state.Record{Key: []byte(progressKey), Value: v}
}

// marks appends a progress mark of upstream id at event time t to every
// partition of topic; end: the upstream has consumed all its input.
func (l *Leads) marks(msgs []state.Message, topic, id string, t int64, end bool) []state.Message {
	m := schemas.Interaction{EventID: id, OccurredAt: time.UnixMilli(t).UTC(), Source: "salespulse", Watermark: true, SentAt: l.now().UTC()}
	if end {
		m.Stage = schemas.WatermarkAtEnd
	}
	v := schemas.AppendWire(nil, &m)
	for p := range l.parts {
		msgs = append(msgs, state.Message{Topic: topic, Value: v, Partition: p})
	}
	return msgs
}

// UpstreamID names an upstream partition in progress marks: "topic/partition".
func UpstreamID(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}

func upstreamID(o schemas.Origin) string { return UpstreamID(o.Topic, o.Partition) }

type partKey struct {
	topic string
	part  int32
}

// Router is one worker's routing stage (pipeline.Stage) on the source
// topics. It must run after pseudonymisation: it sends interactions on
// and their contact keys are what it routes by.
type Router struct {
	l     *Leads
	parts map[partKey]*position
	msgs  []state.Message
	buf   []byte      // the messages' values and keys, one arena per batch
	spans []routeSpan // where in buf each message is, reused per batch
}

// routeSpan is where one message's key (k0:k1) and value (v0:v1) are in
// the Router's buf, until buf stops growing and they can be sliced.
type routeSpan struct {
	topic          string
	k0, k1, v0, v1 int
}

// NewRouter returns a Router for one pipeline worker.
func (l *Leads) NewRouter() *Router { return &Router{l: l, parts: map[partKey]*position{}} }

// Release drops a partition's position (pipeline.Releaser): its source
// gave it up. A later batch of it loads the position again.
func (r *Router) Release(topic string, partition int32) { delete(r.parts, partKey{topic, partition}) }

// Process sends b's interactions on, in one transaction with the offset
// it reached; b is left as it is (the ingest pipeline's sink stores its
// raw rows).
func (r *Router) Process(ctx context.Context, b *schemas.Batch) error {
	k := partKey{b.Origin.Topic, b.Origin.Partition}
	p := r.parts[k]
	if p == nil {
		p = &position{next: -1, expect: -1, maxT: watermark.None}
		r.parts[k] = p
	}
	fresh, err := admit(p, b, func() (map[string][]byte, error) {
		return r.l.fw.Load(ctx, state.Route, k.topic, k.part)
	})
	if err != nil || !fresh {
		if err == nil {
			r.l.m.skipped.Add(float64(len(b.Interactions)))
		}
		return err
	}
	maxT := r.route(b, p.maxT)
	if maxT != watermark.None {
		// After the batch's messages: a downstream partition sees this
		// source's events before the mark that says they are all there.
		id := upstreamID(b.Origin)
		r.msgs = r.l.marks(r.l.marks(r.msgs, r.l.cfg.ContactsTopic, id, maxT, b.AtEnd), r.l.cfg.LeadsTopic, id, maxT, b.AtEnd)
	}
	recs := [1]state.Record{progressRecord(b.Origin.LastOffset+1, maxT)}
	err = r.l.fw.Forward(ctx, state.Route, k.topic, k.part, recs[:], r.msgs)
	clear(r.msgs)
	if err != nil {
		delete(r.parts, k) // load again: the transaction's fate is unknown
		return fmt.Errorf("route %s: %w", b.Origin, err)
	}
	p.next, p.maxT = b.Origin.LastOffset+1, maxT
	return nil
}

// route fills r.msgs with b's messages and returns the event time the
// source partition reached (maxT before b, for none).
func (r *Router) route(b *schemas.Batch, maxT int64) int64 {
	r.msgs, r.buf = r.msgs[:0], r.buf[:0]
	// Values and keys go into one arena; its slices are taken once it has
	// stopped growing. The spans are kept for the next batch: grown anew
	// each time, they were 240 MB per 1M events in a default drain.
	spans := r.spans[:0]
	cfg := &r.l.cfg
	var contacts, leadsN int
	// Broadcast copies (account.updated): spans sent to one partition each.
	type bcastAt struct {
		span int
		part int32
	}
	var bcast []bcastAt
	for n := range b.Interactions {
		i := &b.Interactions[n]
		maxT = max(maxT, i.OccurredAt.UnixMilli())
		v0 := len(r.buf)
		r.buf = schemas.AppendWire(r.buf, i)
		v1 := len(r.buf)
		add := func(topic, key string) {
			k0 := len(r.buf)
			r.buf = append(r.buf, key...)
			spans = append(spans, routeSpan{topic, k0, len(r.buf), v0, v1})
		}
		switch {
		case Identity(i):
			// One copy per contact key: each lands in that key's
			// partition of the contacts topic, where that key's touches
			// are resolved. A lead.created also goes to the lead's
			// partition; a lead.updated is only an identity.
			seen := [3]string{}
			for x, key := range [...]string{i.Keys.Email, i.Keys.Phone, i.Keys.Mobile} {
				if key == "" || key == seen[0] || key == seen[1] {
					continue
				}
				seen[x] = key
				add(cfg.ContactsTopic, key)
				contacts++
			}
			if i.Type == schemas.TypeLeadCreated {
				add(cfg.LeadsTopic, i.LeadID)
				leadsN++
			}
		case Touch(i):
			add(cfg.ContactsTopic, ContactKey(i.Keys))
			contacts++
		case i.Type == schemas.TypeLeadUpdated:
			// A contact change without contact keys (a cleared field)
			// teaches nothing and is no activity.
		case i.Type == schemas.TypeAccountUpdated:
			// The account directory is small and every leads partition
			// matches market signals against all of it (docs/signals.md):
			// one copy per partition, so a signal keyed anywhere finds
			// its account, and each partition's directory is a pure
			// function of its own log.
			for p := range r.l.parts {
				k0 := len(r.buf)
				spans = append(spans, routeSpan{cfg.LeadsTopic, k0, k0, v0, v1})
				bcast = append(bcast, bcastAt{len(spans) - 1, p})
			}
			leadsN += int(r.l.parts)
		default:
			add(cfg.LeadsTopic, RouteKey(i))
			leadsN++
		}
	}
	for _, s := range spans {
		r.msgs = append(r.msgs, state.Message{Topic: s.topic, Key: r.buf[s.k0:s.k1:s.k1], Value: r.buf[s.v0:s.v1:s.v1]})
	}
	for _, b := range bcast {
		r.msgs[b.span].Key, r.msgs[b.span].Partition = nil, b.part
	}
	r.l.m.routedContacts.Add(float64(contacts))
	r.l.m.routedLeads.Add(float64(leadsN))
	r.spans = spans
	return maxT
}
