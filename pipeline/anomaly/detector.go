// Package anomaly detects what a sales manager must act on — discounts
// beyond authority, leads left unanswered past their SLA, approvals piling
// up, reps whose discounts, response times or activity stand out — and
// turns it into alerts (schemas.Alert) in Batch.Alerts.
//
// Detection is driven by event time only: deadlines fire when a partition's
// watermark (largest event time seen minus Config.OutOfOrder) passes them,
// never by the wall clock, so a replay of the same records fires the same
// alerts with the same ids at the same event times. Alert rows carry the
// event time of each transition; the sinks write them to salespulse.alerts
// and to the Kafka topic sales.alerts, from which sinks/alert's Dispatcher
// pages the managers.
package anomaly

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Deps are what the detectors need from outside to survive restarts.
type Deps struct {
	// State checkpoints each partition's detector state (namespace
	// state.Anomaly) and tells the committed offsets below which history
	// may be dropped. Nil disables checkpointing: state lives in memory
	// only and is lost on restart or rebalance (unit tests, dev).
	State state.Store
	// Clock is wall time for restore metrics. Default time.Now. Detection
	// itself never reads it.
	Clock func() time.Time
}

// Detector holds what all workers share: configuration, matrix, org index,
// state store and metrics. Each pipeline worker gets its own Stage
// from NewStage.
type Detector struct {
	cfg    Config
	matrix *Matrix
	idx    *schemas.Index
	deps   Deps
	m      *metrics
	log    *slog.Logger
}

// New returns a Detector. matrix may be nil (discount rules off); idx is
// the org file's index (nil: no managers, roles or regions are known).
// With deps.State, each partition's state is checkpointed to it and
// restored on assignment. cfg's defaults are applied before it is checked.
func New(cfg Config, matrix *Matrix, idx *schemas.Index, deps Deps, reg prometheus.Registerer, log *slog.Logger) (*Detector, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if matrix != nil {
		if err := matrix.Validate(); err != nil {
			return nil, fmt.Errorf("new anomaly detector: authorization matrix: %w", err)
		}
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Detector{cfg: cfg, matrix: matrix, idx: idx, deps: deps, m: newMetrics(reg), log: log.With("component", "anomaly")}, nil
}

// NewStage returns a pipeline stage for one worker. It keeps state per
// topic/partition without locks: the pipeline hands all batches of a
// partition to the same worker, in offset order.
func (d *Detector) NewStage() *Stage {
	return &Stage{d: d, parts: map[partKey]*partState{}}
}

// Stage is the anomaly detection pipeline.Stage of one worker.
type Stage struct {
	d     *Detector
	parts map[partKey]*partState
	recs  []state.Record
	buf   []byte
}

type partKey struct {
	topic     string
	partition int32
}

// Process runs every detector over b's interactions in offset order,
// appends the alert transitions they caused to b.Alerts and, with a
// state store, checkpoints the partition's state before returning (so before
// b can be acknowledged).
//
// A batch whose offsets this stage has already processed (a redelivery
// after a failed write) does not change the state again; the alerts it
// produced the first time are appended again if still remembered (the last
// 64 batches per partition), so the sinks see the same rows. With a
// state store, any other batch that does not start where the partition's
// last one ended (assignment, restart, an older redelivery) first restores
// the state as of its first offset from the store: alert transitions of
// earlier offsets are not emitted again, those of later ones are emitted
// again identically.
func (s *Stage) Process(ctx context.Context, b *schemas.Batch) error {
	k := partKey{b.Origin.Topic, b.Origin.Partition}
	p := s.parts[k]
	if p != nil && p.seen && b.Origin.LastOffset < p.next {
		found := false
		for _, r := range p.recent {
			if r.origin == b.Origin {
				b.Alerts = append(b.Alerts, r.alerts...)
				found = true
			}
		}
		if found || s.d.deps.State == nil {
			s.d.m.replayed.Inc()
			return nil
		}
	}
	switch {
	case s.d.deps.State != nil && (p == nil || p.next != b.Origin.FirstOffset):
		var err error
		if p, err = s.restore(ctx, b.Origin); err != nil {
			return err
		}
	case p == nil:
		p = newPartState(s.d, b.Origin)
		s.parts[k] = p
	}
	next := p.next
	p.next = -1 // until this batch is checkpointed: a failure must restore
	first := len(b.Alerts)
	p.touch(kindMeta, "")
	p.out = b
	for k := range b.Interactions {
		p.apply(&b.Interactions[k])
	}
	p.out = nil
	if err := s.checkpoint(ctx, p, b.Origin.LastOffset); err != nil {
		b.Alerts = b.Alerts[:first]
		if s.d.deps.State == nil {
			p.next = next
		}
		return err
	}
	p.seen, p.next = true, b.Origin.LastOffset+1
	emitted := append([]schemas.Alert(nil), b.Alerts[first:]...)
	if len(p.recent) < 64 {
		p.recent = append(p.recent, recentBatch{b.Origin, emitted})
	} else {
		p.recent[p.recentNext] = recentBatch{b.Origin, emitted}
		p.recentNext = (p.recentNext + 1) % 64
	}
	s.d.m.openLeads.Set(float64(len(p.leads)))
	return nil
}

type recentBatch struct {
	origin schemas.Origin
	alerts []schemas.Alert
}

// partState is everything one partition's detectors remember.
type partState struct {
	d         *Detector
	cfg       *Config
	out       *schemas.Batch
	topic     string
	partition int32

	// Checkpointing (nil maps without a state store): versions per key
	// since the committed offset, keys touched by the current batch.
	hist      map[skey]*keyHist
	dirty     map[skey]struct{}
	dirtyList []skey
	committed int64 // known committed offset
	gcAt      int64 // committed as of the last history drop

	seen       bool
	next       int64
	recent     []recentBatch
	recentNext int

	gen       uint32 // subject generations, so stale deadlines are skipped
	maxT      time.Time
	deadlines deadlineHeap
	lastSweep time.Time

	leads      map[string]*lead
	quotes     map[string]*quote   // by quote event id, awaiting approval
	byMatch    map[string][]string // account|rep|discount -> unlinked quote event ids, oldest first
	byApproval map[string]string   // approval id -> linked quote event id
	approvals  map[string]*approval
	teams      map[string]*teamStats
	episodes   map[string]*episode // rule|rep -> current or last outlier/activity episode
	activity   activityState
	scratch    []float64
}

func newPartState(d *Detector, o schemas.Origin) *partState {
	p := &partState{
		d: d, cfg: &d.cfg, topic: o.Topic, partition: o.Partition, next: -1, committed: -1, gcAt: -1,
		leads: map[string]*lead{}, quotes: map[string]*quote{}, byMatch: map[string][]string{}, byApproval: map[string]string{},
		approvals: map[string]*approval{}, teams: map[string]*teamStats{}, episodes: map[string]*episode{},
		activity: activityState{windows: map[int64]map[string]*winCounts{}, shares: map[string]map[string]*repShare{}},
	}
	if d.deps.State != nil {
		p.hist, p.dirty = map[skey]*keyHist{}, map[skey]struct{}{}
	}
	return p
}

func (p *partState) watermark() time.Time { return p.maxT.Add(-p.cfg.OutOfOrder) }

// apply advances the watermark with i's event time, fires what became due,
// then feeds i to the detectors.
func (p *partState) apply(i *schemas.Interaction) {
	t := i.OccurredAt
	if t.After(p.maxT) {
		p.maxT = t
		p.advance(p.watermark())
	} else if t.Before(p.watermark()) {
		p.d.m.late.Inc()
	}
	if i.LeadID != "" {
		switch {
		case i.Type == schemas.TypeLeadCreated || i.Type.Inbound():
			p.leadTrigger(i)
		case i.Type.Outbound(): // includes meeting.held
			p.leadAnswer(i)
		}
	}
	if p.d.matrix != nil {
		switch i.Type {
		case schemas.TypeQuoteCreated:
			p.quoteCreated(i)
		case schemas.TypeApprovalRequested:
			p.approvalRequested(i)
		case schemas.TypeApprovalDecided:
			p.approvalDecided(i)
		}
	} else {
		switch i.Type {
		case schemas.TypeApprovalRequested:
			p.approvalRequested(i)
		case schemas.TypeApprovalDecided:
			p.approvalDecided(i)
		}
	}
	if !p.cfg.Outliers.Disabled && i.Type == schemas.TypeQuoteCreated && i.RepID != "" {
		if d, ok := discountOf(i); ok {
			p.observe(RuleDiscountOutlier, i.RepID, p.teamOf(i), d, i)
		}
	}
	if !p.cfg.Activity.Disabled {
		p.countActivity(i)
	}
}

// advance fires every deadline strictly before the watermark w: all events
// up to w are assumed seen, so a lead answered at its deadline exactly is
// still in time.
func (p *partState) advance(w time.Time) {
	for len(p.deadlines) > 0 && p.deadlines[0].at.Before(w) {
		dl := heap.Pop(&p.deadlines).(deadline)
		switch dl.kind {
		case dlSLA, dlEscalate:
			p.leadDue(dl)
		case dlQuote:
			p.quoteDue(dl)
		case dlBacklog:
			p.backlogDue(dl)
		}
	}
	if !p.cfg.Activity.Disabled {
		p.closeWindows(w)
	}
	if w.Sub(p.lastSweep) >= time.Hour {
		p.sweep(w)
		p.lastSweep = w
	}
}

// sweep forgets state older than ForgetAfter.
func (p *partState) sweep(w time.Time) {
	cut := w.Add(-p.cfg.ForgetAfter)
	for id, l := range p.leads {
		if l.at.Before(cut) {
			p.touch(kindLead, id)
			delete(p.leads, id)
			p.d.m.forgotten.Inc()
		}
	}
	for id, q := range p.quotes {
		if q.at.Before(cut) {
			p.dropQuote(id, q)
			p.d.m.forgotten.Inc()
		}
	}
	for id, a := range p.approvals {
		if a.at.Before(cut) {
			p.touch(kindApproval, id)
			delete(p.approvals, id)
			p.d.m.forgotten.Inc()
		}
	}
}

// emit appends a transition to the batch being processed.
func (p *partState) emit(t *tracked, s schemas.AlertState, at time.Time) {
	a, ok := t.to(s, at)
	if !ok {
		return
	}
	if s == schemas.AlertPending && !p.cfg.EmitPending {
		return
	}
	p.d.m.alert(a.Rule, a.State, a.Severity).Inc()
	p.out.Alerts = append(p.out.Alerts, a)
}

// who fills rep, team and the manager to page: the rep's team manager, else
// the named team's manager.
func (p *partState) who(t *tracked, rep, team string) {
	t.a.RepID = rep
	if team == "" {
		team = p.d.idx.TeamOf(rep)
	}
	t.a.TeamID = team
	t.a.ManagerID = p.d.idx.ManagerOf(rep)
	if t.a.ManagerID == "" {
		if tm := p.d.idx.Team(team); tm != nil {
			t.a.ManagerID = tm.ManagerID
		}
	}
}

func (p *partState) teamOf(i *schemas.Interaction) string {
	if i.TeamID != "" {
		return i.TeamID
	}
	return p.d.idx.TeamOf(i.RepID)
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func dur(d time.Duration) string { return d.Round(time.Second).String() }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Deadlines: a min-heap on time; entries whose subject moved on are skipped
// when popped (gen no longer matches).

const (
	dlSLA = iota
	dlEscalate
	dlQuote
	dlBacklog
)

type deadline struct {
	at   time.Time
	kind uint8
	gen  uint32
	key  string
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(a, b int) bool {
	if !h[a].at.Equal(h[b].at) {
		return h[a].at.Before(h[b].at)
	}
	if h[a].kind != h[b].kind {
		return h[a].kind < h[b].kind
	}
	return h[a].key < h[b].key
}
func (h deadlineHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *deadlineHeap) Push(x any)   { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (p *partState) schedule(at time.Time, kind uint8, gen uint32, key string) {
	heap.Push(&p.deadlines, deadline{at: at, kind: kind, gen: gen, key: key})
}
