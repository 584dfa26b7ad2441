// Package detect runs anomaly detectors per input partition: it keeps each
// partition's watermark and deadline heap, hands every interaction and due
// deadline to the detectors, emits their alert transitions, and checkpoints
// and restores their state through a state.Store. It knows no rule: the
// detectors (pipeline/anomaly) implement Detector and say which state key
// kinds they own; the machinery here is shared by all of them.
//
// Detection is driven by event time only: deadlines fire when a
// partition's watermark (largest event time seen minus
// Options.OutOfOrder) passes them, never by the wall clock, so a replay of
// the same records fires the same alerts at the same event times.
package detect

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// Detector is one rule family (lead SLA, approvals, outliers …). It keeps
// no per-partition state itself: NewState makes that, once per partition.
type Detector interface {
	// Kinds are the state key kinds (one byte each, see Key) whose
	// checkpoint encoding the detector's states own. KindMeta and
	// KindEpisode belong to this package.
	Kinds() []byte
	// NewState returns the detector's empty state for partition p; q
	// schedules its deadlines on p's heap.
	NewState(p *Partition, q Queue) State
}

// State is one detector's state for one partition. The partition's
// goroutine calls it; it needs no locks.
type State interface {
	// Apply feeds one interaction, after every deadline before the new
	// watermark fired. Call p.Touch before changing a piece of state.
	Apply(i *schemas.Interaction)
	// Encode appends the checkpoint encoding of k (one of the detector's
	// kinds); ok is false when the state holds nothing under k. Equal
	// states must encode to equal bytes (iterate maps in key order).
	Encode(b []byte, k Key) (out []byte, ok bool)
	// Decode sets k's state from r. It must call r.Done before storing
	// anything, so a corrupt record never leaves half a state behind.
	Decode(k Key, r *Reader) error
}

// Optional capabilities of a State.
type (
	// Dueer fires the state's deadlines (popped with the kind, gen and key
	// it scheduled; stale ones are its to skip).
	Dueer interface{ Due(dl Deadline) }
	// Advancer is told every new watermark, after the deadlines before it
	// fired (tumbling windows close here).
	Advancer interface{ Advance(w time.Time) }
	// Forgetter drops what was opened before cut (Options.ForgetAfter),
	// bounding memory on streams where answers never come.
	Forgetter interface{ Forget(cut time.Time) }
	// Rebuilder derives what is not checkpointed (deadlines, orders) after
	// a restore has decoded every key.
	Rebuilder interface{ Rebuild() }
	// Observer scores the measurements other detectors publish with
	// Partition.Observe (a rep's discount, response time …).
	Observer interface {
		Observe(metric, rep, team string, x float64, i *schemas.Interaction)
	}
	// Orderer applies events in event-time order behind merged upstreams
	// (Options.Progress): at the end of every batch it is told the
	// partition's progress and the batch's last offset, before the
	// deadlines the progress passed fire, and applies what it held back
	// that the progress reached.
	Orderer interface {
		Reached(progress time.Time, last int64)
	}
)

// Options configure the runner.
type Options struct {
	// OutOfOrder is the bounded out-of-orderness of a partition.
	OutOfOrder time.Duration
	// ForgetAfter is how long opened state is kept (Forgetter).
	ForgetAfter time.Duration
	// EmitPending also emits pending transitions.
	EmitPending bool
	// Index is the org file's index (nil: no managers, teams or roles).
	Index *schemas.Index
	// State checkpoints each partition's detector state (namespace
	// state.Anomaly). Nil keeps state in memory only.
	State state.Store
	// Clock is wall time for restore metrics. Default time.Now.
	Clock func() time.Time
	// Progress moves each partition's clock by Batch.Progress at the end
	// of each batch instead of by the event times it sees (an input that
	// merges upstreams progressing at their own speeds).
	Progress bool
}

// Runner holds what all workers share: options, detectors, metrics.
type Runner struct {
	opts  Options
	dets  []Detector
	owner [256]int8 // state key kind -> index in dets; -1 unknown
	m     *metrics
	log   *slog.Logger
}

// New returns a runner of dets, in this order: interactions and same-time
// deadlines reach them in list order, so the order of the alerts a batch
// emits follows it.
func New(opts Options, dets []Detector, reg prometheus.Registerer, log *slog.Logger) (*Runner, error) {
	r := &Runner{opts: opts, dets: dets}
	for k := range r.owner {
		r.owner[k] = -1
	}
	r.owner[KindMeta], r.owner[KindEpisode] = -2, -2
	for i, d := range dets {
		for _, k := range d.Kinds() {
			if r.owner[k] != -1 {
				return nil, fmt.Errorf("new anomaly detectors: state kind %q claimed twice", k)
			}
			r.owner[k] = int8(i)
		}
	}
	if r.opts.Clock == nil {
		r.opts.Clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.m, r.log = newMetrics(reg), log
	return r, nil
}

// NewStage returns a pipeline stage for one worker. It keeps state per
// topic/partition without locks: the pipeline hands all batches of a
// partition to the same worker, in offset order.
func (r *Runner) NewStage() *Stage {
	return &Stage{r: r, parts: map[partKey]*Partition{}}
}

// Stage is the anomaly detection pipeline.Stage of one worker.
type Stage struct {
	r     *Runner
	parts map[partKey]*Partition
	recs  []state.Record
	buf   []byte
}

type partKey struct {
	topic     string
	partition int32
}

// Release drops a partition's state (pipeline.Releaser): its source gave
// it up, and another instance owns it now. With a state store a later
// batch of it restores the state there, as after any gap in its offsets.
func (s *Stage) Release(topic string, partition int32) {
	delete(s.parts, partKey{topic, partition})
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
	store := s.r.opts.State
	if p != nil && p.seen && b.Origin.LastOffset < p.next {
		found := false
		for _, r := range p.recent {
			if r.origin == b.Origin {
				b.Alerts = append(b.Alerts, r.alerts...)
				b.Aggregates = append(b.Aggregates, r.rows...)
				found = true
			}
		}
		if found || store == nil {
			s.r.m.replayed.Inc()
			return nil
		}
	}
	switch {
	case store != nil && (p == nil || p.next != b.Origin.FirstOffset):
		var err error
		if p, err = s.restore(ctx, b.Origin); err != nil {
			return err
		}
	case p == nil:
		p = s.r.newPartition(b.Origin)
		s.parts[k] = p
	}
	next := p.next
	p.next = -1 // until this batch is checkpointed: a failure must restore
	first, firstRows := len(b.Alerts), len(b.Aggregates)
	p.Touch(KindMeta, "")
	p.out, p.firstRows = b, firstRows
	for k := range b.Interactions {
		p.apply(&b.Interactions[k])
	}
	if s.r.opts.Progress {
		advanced := b.Progress.After(p.maxT)
		if advanced {
			p.maxT = b.Progress
		}
		for _, o := range p.orderers {
			o.Reached(p.maxT, b.Origin.LastOffset)
		}
		if advanced {
			p.advance(p.Watermark())
		}
	}
	p.out = nil
	if err := s.checkpoint(ctx, p, b.Origin.LastOffset); err != nil {
		b.Alerts = b.Alerts[:first]
		b.Aggregates = b.Aggregates[:firstRows]
		if store == nil {
			p.next = next
		}
		return err
	}
	p.seen, p.next = true, b.Origin.LastOffset+1
	emitted := append([]schemas.Alert(nil), b.Alerts[first:]...)
	rows := append([]schemas.AggregateRows(nil), b.Aggregates[firstRows:]...)
	p.remember(recentBatch{b.Origin, emitted, rows})
	return nil
}

// maxRecent is how many processed batches per partition keep their alerts
// and rows for a redelivery.
const maxRecent = 64

// remember keeps r's alerts and rows for a redelivery of its batch: the
// last maxRecent batches, less those wholly below the committed offset.
// The consumer group never hands those out again (a redelivery after a
// failed write, or a new assignment, starts at the committed offset), and
// should one come anyway, Process restores its state from the store and
// emits the same alerts. Without the cut, a drain kept every alert and
// detector row of its last 64 batches per partition: with batches of a few
// thousand events, all those of a 1M-event drain (benchmarks/README.md,
// "Memory"). Without a state store the committed offset stays -1 and
// the 64 are kept: there, remembering is what makes a redelivery exact.
func (p *Partition) remember(r recentBatch) {
	drop := 0
	for drop < len(p.recent) && (len(p.recent)-drop >= maxRecent || p.recent[drop].origin.LastOffset < p.committed) {
		drop++
	}
	if drop > 0 {
		n := copy(p.recent, p.recent[drop:])
		clear(p.recent[n:]) // no alerts pinned by the tail
		p.recent = p.recent[:n]
	}
	p.recent = append(p.recent, r)
}

type recentBatch struct {
	origin schemas.Origin
	alerts []schemas.Alert
	rows   []schemas.AggregateRows // the detectors' rows (Partition.Rows)
}

// Partition is one input partition's detector state: the watermark, the
// deadline heap, the alert episodes and each detector's State, with the
// services detectors use (Touch, Emit, Who …).
type Partition struct {
	r          *Runner
	out        *schemas.Batch
	firstRows  int // out's aggregates before this stage's
	topic      string
	partition  int32
	states     []State
	dueers     []Dueer // by detector index; nil entries for states without deadlines
	advancers  []Advancer
	forgetters []Forgetter
	observers  []Observer
	orderers   []Orderer

	// Checkpointing (nil maps without a state store): versions per key
	// since the committed offset, keys touched by the current batch.
	hist      map[Key]*keyHist
	dirtyList []dirtyKey
	committed int64 // known committed offset
	gcAt      int64 // committed as of the last history drop

	seen   bool
	next   int64
	recent []recentBatch // oldest first (remember)

	gen       uint32 // subject generations, so stale deadlines are skipped
	maxT      time.Time
	deadlines deadlineHeap
	lastSweep time.Time
	episodes  map[string]*Tracked // rule\x00subject -> current or last episode
	keyBuf    []byte              // EpisodeOf's key
}

func (r *Runner) newPartition(o schemas.Origin) *Partition {
	p := &Partition{r: r, topic: o.Topic, partition: o.Partition, next: -1, committed: -1, gcAt: -1,
		episodes: map[string]*Tracked{}, dueers: make([]Dueer, len(r.dets))}
	if r.opts.State != nil {
		p.hist = map[Key]*keyHist{}
	}
	for i, d := range r.dets {
		st := d.NewState(p, Queue{p: p, owner: uint8(i)})
		p.states = append(p.states, st)
		if x, ok := st.(Dueer); ok {
			p.dueers[i] = x
		}
		if x, ok := st.(Advancer); ok {
			p.advancers = append(p.advancers, x)
		}
		if x, ok := st.(Forgetter); ok {
			p.forgetters = append(p.forgetters, x)
		}
		if x, ok := st.(Observer); ok {
			p.observers = append(p.observers, x)
		}
		if x, ok := st.(Orderer); ok {
			p.orderers = append(p.orderers, x)
		}
	}
	return p
}

// Watermark is the largest event time seen minus the out-of-orderness:
// every event up to it is assumed seen.
func (p *Partition) Watermark() time.Time { return p.maxT.Add(-p.r.opts.OutOfOrder) }

// Progress is the partition's progress, and whether its clock follows the
// upstreams' (Options.Progress) rather than the events it sees.
func (p *Partition) Progress() (time.Time, bool) { return p.maxT, p.r.opts.Progress }

// NextGen returns a new generation for a subject whose deadlines are
// scheduled: a deadline popped with another generation is stale.
func (p *Partition) NextGen() uint32 {
	p.gen++
	return p.gen
}

// apply advances the watermark with i's event time, fires what became due,
// then feeds i to the detectors.
func (p *Partition) apply(i *schemas.Interaction) {
	t := i.OccurredAt
	if p.r.opts.Progress {
		if t.Before(p.Watermark()) {
			p.r.m.late.Inc()
		}
	} else if t.After(p.maxT) {
		p.maxT = t
		p.advance(p.Watermark())
	} else if t.Before(p.Watermark()) {
		p.r.m.late.Inc()
	}
	for _, st := range p.states {
		st.Apply(i)
	}
}

// advance fires every deadline strictly before the watermark w: all events
// up to w are assumed seen, so a lead answered at its deadline exactly is
// still in time.
func (p *Partition) advance(w time.Time) {
	for len(p.deadlines) > 0 && p.deadlines[0].At.Before(w) {
		dl := p.deadlines.pop()
		if d := p.dueers[dl.owner]; d != nil {
			d.Due(dl)
		}
	}
	for _, a := range p.advancers {
		a.Advance(w)
	}
	if w.Sub(p.lastSweep) >= time.Hour {
		cut := w.Add(-p.r.opts.ForgetAfter)
		for _, f := range p.forgetters {
			f.Forget(cut)
		}
		p.lastSweep = w
	}
}

// Emit moves t into state s at event time at and appends the transition to
// the batch being processed; nothing when t is in s already. Pending
// transitions are kept in memory only unless Options.EmitPending.
func (p *Partition) Emit(t *Tracked, s schemas.AlertState, at time.Time) {
	if !t.move(s, at) {
		return
	}
	if s == schemas.AlertPending && !p.r.opts.EmitPending {
		return // no row, so no copy of the alert either
	}
	a := t.snapshot()
	p.r.m.alert(a.Rule, a.State, a.Severity).Inc()
	p.out.Alerts = append(p.out.Alerts, a)
}

// Update re-emits t's firing row after its Values changed (same id,
// state and At): an acknowledgement added to an alert that keeps firing
// reaches the alerts topic, the hooks and the alerts table, which keeps
// the row inserted last among equal versions. It is no transition, so it
// is not counted as an alert; a t that is not firing emits nothing.
func (p *Partition) Update(t *Tracked) {
	if t.Alert.State != schemas.AlertFiring {
		return
	}
	p.out.Alerts = append(p.out.Alerts, t.snapshot())
}

// Rows hands the batch being processed rows for table: add gets the
// table's rows so far in this batch from this stage (nil before any) and
// returns them with its own appended. One entry per table and batch, so
// the sink's deduplication token (origin and table) covers them all.
// Like alerts, the rows of a batch processed again after a failed write
// are handed out again.
func (p *Partition) Rows(table string, add func(schemas.Rows) schemas.Rows) {
	for k := range p.out.Aggregates[p.firstRows:] {
		a := &p.out.Aggregates[p.firstRows+k]
		if a.Table == table {
			a.Rows = add(a.Rows)
			return
		}
	}
	p.out.Aggregates = append(p.out.Aggregates, schemas.AggregateRows{Table: table, Rows: add(nil)})
}

// Who fills rep, team and the manager to page: the rep's team manager, else
// the named team's manager. An empty team is the rep's.
func (p *Partition) Who(t *Tracked, rep, team string) {
	idx := p.r.opts.Index
	t.Alert.RepID = rep
	if team == "" {
		team = idx.TeamOf(rep)
	}
	t.Alert.TeamID = team
	t.Alert.ManagerID = idx.ManagerOf(rep)
	if t.Alert.ManagerID == "" {
		if tm := idx.Team(team); tm != nil {
			t.Alert.ManagerID = tm.ManagerID
		}
	}
}

// TeamOf is i's team: its own field, else the org file's team of its rep.
func (p *Partition) TeamOf(i *schemas.Interaction) string {
	if i.TeamID != "" {
		return i.TeamID
	}
	return p.r.opts.Index.TeamOf(i.RepID)
}

// Index is the org file's index (may be nil; its methods accept that).
func (p *Partition) Index() *schemas.Index { return p.r.opts.Index }

// Episode returns the current or last alert of key (rule\x00subject), or
// nil. Touch(KindEpisode, key) before changing it or setting another.
func (p *Partition) Episode(key string) *Tracked { return p.episodes[key] }

// EpisodeOf is Episode(rule + "\x00" + subject) without making the key
// string: detectors look up an episode for every value they judge, and
// need the key only when they Touch or set it.
func (p *Partition) EpisodeOf(rule, subject string) *Tracked {
	p.keyBuf = append(append(append(p.keyBuf[:0], rule...), 0), subject...)
	return p.episodes[string(p.keyBuf)]
}

// SetEpisode starts a new episode under key.
func (p *Partition) SetEpisode(key string, t *Tracked) { p.episodes[key] = t }

// DeleteEpisode forgets key's episode, for subjects that end (a closed
// deal): episodes of reps stay, those of short-lived subjects must not
// pile up. Touch(KindEpisode, key) first.
func (p *Partition) DeleteEpisode(key string) { delete(p.episodes, key) }

// Observe publishes a measurement x of rep in team (metric names what it
// is, e.g. a rule) caused by i, to every Observer, synchronously.
func (p *Partition) Observe(metric, rep, team string, x float64, i *schemas.Interaction) {
	for _, o := range p.observers {
		o.Observe(metric, rep, team, x, i)
	}
}

// Late counts an event older than the watermark that could not be judged.
func (p *Partition) Late() { p.r.m.late.Inc() }

// Skip counts an event a detector could not judge, by reason.
func (p *Partition) Skip(reason string) { p.r.m.skipped(reason).Inc() }

// Forgot counts a piece of state dropped after ForgetAfter.
func (p *Partition) Forgot() { p.r.m.forgotten.Inc() }

// Deadline is a detector's deadline. Kind, Gen and Key are the detector's:
// entries whose subject moved on (another Gen) are skipped when popped.
type Deadline struct {
	At    time.Time
	Kind  uint8
	owner uint8
	Gen   uint32
	Key   string
	ns    int64 // At in unix ns, clamped (sortKey): the heap's first comparison
}

// Nanosecond times are those of years 1678–2262; sortKey clamps the rest,
// and the heap compares clamped ones by At itself.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// sortKey is t in unix nanoseconds, clamped to int64's range: ordered as
// the times are, and equal for two times only if they are equal or both
// out of range.
func sortKey(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Queue schedules one detector's deadlines on its partition's heap.
type Queue struct {
	p     *Partition
	owner uint8
}

// Schedule queues a deadline; it fires (State.Due) once the watermark has
// passed at. Deadlines due at the same time fire in detector list order,
// then by kind and key.
func (q Queue) Schedule(at time.Time, kind uint8, gen uint32, key string) {
	q.p.deadlines.push(Deadline{At: at, Kind: kind, owner: q.owner, Gen: gen, Key: key})
}

// deadlineHeap is a min-heap by Less. push and pop are container/heap's
// Push and Pop (same sift steps, so deadlines that compare equal still pop
// in the same order) on the concrete type: heap.Push and heap.Pop box every
// Deadline in an interface, two allocations per scheduled deadline.
// Times are compared as integers first (Deadline.ns, set by push):
// time.Time's Before and Equal were most of a pop's comparisons
// (BenchmarkDeadlineHeap).
type deadlineHeap []Deadline

func (h deadlineHeap) Less(a, b int) bool {
	if h[a].ns != h[b].ns {
		return h[a].ns < h[b].ns
	}
	if !h[a].At.Equal(h[b].At) {
		return h[a].At.Before(h[b].At)
	}
	if h[a].owner != h[b].owner {
		return h[a].owner < h[b].owner
	}
	if h[a].Kind != h[b].Kind {
		return h[a].Kind < h[b].Kind
	}
	return h[a].Key < h[b].Key
}

func (h *deadlineHeap) push(d Deadline) {
	d.ns = sortKey(d.At)
	*h = append(*h, d)
	h.up(len(*h) - 1)
}

func (h *deadlineHeap) pop() Deadline {
	old := *h
	n := len(old) - 1
	old[0], old[n] = old[n], old[0]
	h.down(0, n)
	d := old[n]
	old[n] = Deadline{} // drop the key string for the GC
	*h = old[:n]
	return d
}

func (h deadlineHeap) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !h.Less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h deadlineHeap) down(i0, n int) {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && h.Less(j2, j1) {
			j = j2 // = 2*i + 2  // right child
		}
		if !h.Less(j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// Partition returns the state of a partition this stage processes, or
// nil: for tests and debugging tools.
func (s *Stage) Partition(topic string, partition int32) *Partition {
	return s.parts[partKey{topic, partition}]
}

// NewPartition returns an empty partition state for o, not attached to a
// stage: for tests and tools that decode records.
func (r *Runner) NewPartition(o schemas.Origin) *Partition { return r.newPartition(o) }

// States are the detectors' states of p, in detector order.
func (p *Partition) States() []State { return p.states }
