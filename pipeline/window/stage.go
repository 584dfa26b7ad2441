// Package window computes event-time KBIs: it pairs lead triggers with the
// first response and approval requests with their decision, per Kafka
// partition, with watermarks, allowed lateness and expiry, and emits one
// fact row per finalised pair (plus activity and deal facts) into
// Batch.Aggregates. ClickHouse materialized views aggregate the facts into
// AggregatingMergeTree rollups and the kbi_* views (docs/kbis.md).
//
// Pairing state is checkpointed to a state.Store before a batch is
// acknowledged and restored when a partition's batches start at an
// offset the stage did not expect (assignment, restart, redelivery), so a
// crash or rebalance neither loses an open lead nor counts a response twice:
// a replayed batch emits byte-identical facts under the same
// insert_deduplication_token.
package window

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/internal/calendar"
	"github.com/salespulse/salespulse/pipeline/internal/watermark"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/pipeline/window/internal/pairing"
	"github.com/salespulse/salespulse/schemas"
)

// Deps are what the stage needs from outside.
type Deps struct {
	// Org maps reps to teams and teams to time zones (local days). Nil: the
	// events' team_id only, days in UTC.
	Org *schemas.Index
	// State checkpoints the pairing state (namespace state.Window) and
	// tells the committed offsets below which history may be dropped. Nil
	// disables checkpointing: state lives in memory only and is lost on
	// restart (tests and dev mode).
	State state.Store
	// Clock is wall time for metrics and upstream idleness. Default
	// time.Now.
	Clock func() time.Time
	// UpstreamMarks says the input is an internal topic that merges many
	// upstream partitions, each sending progress marks
	// (schemas.Interaction.Watermark; package leads): a partition's event
	// time is then the minimum its upstreams reached, taken at the end of
	// each batch, not the largest event time it received — which a
	// faster upstream (a backlog replayed unevenly, a crashed instance's
	// partitions waiting for a new owner) would push far ahead of the
	// others, making their events late. Upstreams silent for IdleTimeout
	// (processing time) are left out.
	UpstreamMarks bool
	IdleTimeout   time.Duration
	// Upstreams are the ids ("topic/partition") the marks come from: each
	// holds the watermark back until it has sent one (or stayed silent
	// for IdleTimeout; QuietUpstreams only for QuietGrace).
	Upstreams      []string
	QuietUpstreams []string
	// RelayUpstreams relay the wall-clock ticks in their own marks
	// (watermark.Upstreams.Relays): a tick does not lift them.
	RelayUpstreams []string
	// DormantUpstreams are groups (a topic's partitions) not waited for
	// until one of a group reports (watermark.Upstreams.Dormant).
	DormantUpstreams [][]string
	QuietGrace       time.Duration
}

// Window holds what the per-worker stages share: configuration, metrics,
// dependencies. It is safe for concurrent use; Stage instances are not.
type Window struct {
	cfg    Config
	deps   Deps
	m      *metrics
	log    *slog.Logger
	lateMS int64 // out_of_orderness + allowed_lateness
	bound  int64
}

// New applies cfg's defaults, checks it and registers the metrics (once per process: one Window,
// many stages).
func New(cfg Config, deps Deps, reg prometheus.Registerer, logger *slog.Logger) (*Window, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Window{
		cfg: cfg, deps: deps, m: newMetrics(reg), log: logger.With("component", "window"),
		lateMS: (cfg.OutOfOrderness + cfg.AllowedLateness).Milliseconds(),
		bound:  cfg.OutOfOrderness.Milliseconds(),
	}, nil
}

// Stage is one worker's window stage (pipeline.Stage). It keeps state per
// partition; the pipeline hands all batches of a partition to the same
// worker, in offset order.
//
// The rows Process puts into Batch.Aggregates stay valid until the next
// Process call on the same Stage.
type Stage struct {
	w     *Window
	parts map[partKey]*part
	zones map[string]*zone

	// lastTeam/lastZone skip the zone map for runs of one team.
	lastTeam string
	lastZone *zone

	leads schemas.LeadResponseRows
	apprs schemas.ApprovalRows
	// Provisional rows of the batch, versioned with its last offset.
	leadsProv schemas.LeadResponseProvisionalRows
	apprsProv schemas.ApprovalProvisionalRows
	version   uint64
	acts      schemas.ActivityRows
	reps      map[string]*repAct
	seq       uint64 // Process calls: repAct.acts of other batches are stale
	accts     schemas.AccountRows
	accIx     map[schemas.AccountRow]struct{}
	deals     schemas.DealRows
	fcasts    schemas.ForecastRows
	buf       []byte
	recs      []state.Record
	wbuf      pairing.Scratch // finalisation scratch of the partitions

	// Pointer fields of fact rows point into these, one allocation per
	// chunk rather than per row. Fresh chunks every Process: a caller that
	// copies rows (not just the slices) may keep them.
	times  slab[time.Time]
	floats slab[float64]

	reported [2]int // open counts last added to the gauge
}

type partKey struct {
	topic string
	part  int32
}

type part struct {
	partKey
	next     int64  // first offset expected next; anything else means restore
	maxT     int64  // largest accepted event time, unix ms (noTime: none)
	baseMaxT int64  // maxT as of gcAt
	hist     []mark // watermark after each batch at or after gcAt
	old      []mark // watermark after batches below gcAt, thinned (appendOld)
	first    int64  // offset the state's history starts at (it was empty there); -1 unknown
	// replayTo > next: batches below it are a replay of history the state
	// already holds (a restore below the store's GC point, see
	// restore). They are classified against replayMaxT, the watermark the
	// original run had there, and do not touch the pairing state.
	replayTo   int64
	replayMaxT int64
	purge      []string // state keys of an abandoned state: deleted at the next checkpoint
	committed  int64    // known committed offset (math.MaxInt64 without a store)
	gcAt       int64    // committed as of the last gc
	pr         *pairing.Pairer
	lag        prometheus.Gauge

	// With Deps.UpstreamMarks: the upstreams' progress, and after a
	// restore the watermarks the original run had after the batches
	// being consumed again (maxT follows them there, not the
	// upstreams' newer progress, so a redelivery classifies and
	// finalises exactly as the first attempt did).
	up     *watermark.Upstreams
	future []mark
	recut  bool // a redelivered batch ended between two of future's marks (logged once)
}

// repAct is one rep's id, interned for the pairing state, and the
// activity rows of the current batch it has: a short linear scan is
// cheaper than hashing a (day, team, rep, channel, type) key per event.
type repAct struct {
	id   string
	seq  uint64
	acts []actSlot
}

type actSlot struct {
	day  int64 // local day, days since 1970
	team string
	ch   schemas.Channel
	typ  schemas.Type
	ix   int32 // in Stage.acts
}

// rep returns the activity slots of rep id for this batch.
func (s *Stage) rep(id string) *repAct {
	r := s.reps[id]
	if r == nil {
		r = &repAct{id: strings.Clone(id)}
		s.reps[r.id] = r
	}
	if r.seq != s.seq {
		r.seq = s.seq
		r.acts = r.acts[:0]
	}
	return r
}

type zone struct {
	name string
	loc  *time.Location
	cal  *calendar.Calendar
	team string // the team id, cloned: shared by the state's events
	// Local-day cache: instants in [lo, hi) (unix ms) have local date day.
	// Events arrive roughly in time order, so most hit it.
	lo, hi int64
	day    time.Time
	dnum   int64 // day as days since 1970
}

const msPerDay = 24 * 60 * 60 * 1000

// dayOf is localDay(time.UnixMilli(ms), z.loc) without a zone lookup and
// date computation per event: the cached range is one local date within
// one zone offset period, so DST changes and skipped days split it.
func (z *zone) dayOf(ms int64) time.Time {
	if ms >= z.lo && ms < z.hi {
		return z.day
	}
	t := time.UnixMilli(ms).In(z.loc)
	_, off := t.Zone()
	offMS := int64(off) * 1000
	d := (ms + offMS) / msPerDay
	if (ms+offMS)%msPerDay < 0 {
		d-- // floor, before 1970
	}
	lo, hi := d*msPerDay-offMS, (d+1)*msPerDay-offMS
	if z.loc != time.UTC {
		start, end := t.ZoneBounds()
		if !start.IsZero() {
			lo = max(lo, start.UnixMilli())
		}
		if !end.IsZero() {
			hi = min(hi, end.UnixMilli())
		}
	}
	z.lo, z.hi, z.dnum = lo, hi, d
	z.day = time.Unix(d*msPerDay/1000, 0).UTC()
	return z.day
}

// slab hands out pointers to values, allocating chunks of slabChunk.
type slab[T any] struct {
	chunk []T
}

const slabChunk = 256

func (s *slab[T]) ptr(v T) *T {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]T, 0, slabChunk)
	}
	s.chunk = append(s.chunk, v)
	return &s.chunk[len(s.chunk)-1]
}

// reset starts a new chunk at the next ptr: the rows handed out so far
// keep theirs.
func (s *slab[T]) reset() { s.chunk = nil }

// NewStage returns a stage for one pipeline worker.
func (w *Window) NewStage() *Stage {
	return &Stage{
		w: w, parts: map[partKey]*part{}, zones: map[string]*zone{},
		reps: map[string]*repAct{}, accIx: map[schemas.AccountRow]struct{}{},
	}
}

// Process classifies b's interactions as on time or late (moving late ones
// to b.Late), updates the partition's pairing state, finalises what the
// watermark allows, checkpoints the state, and attaches the batch's facts
// to b.Aggregates.
func (s *Stage) Process(ctx context.Context, b *schemas.Batch) error {
	key := partKey{b.Origin.Topic, b.Origin.Partition}
	p := s.parts[key]
	if p == nil || p.next != b.Origin.FirstOffset {
		var err error
		if p, err = s.restore(ctx, b.Origin); err != nil {
			return err
		}
	}
	p.next = -1 // until this batch is checkpointed: a failure must restore
	s.resetOut()
	last := b.Origin.LastOffset
	if p.replayTo > b.Origin.FirstOffset {
		if last < p.replayTo {
			s.replay(p, b)
			return nil
		}
		// The source cut this batch across the point the state is at:
		// the events below it are added a second time. Cuts are made at
		// committed offsets, which GC points are, so this is rare.
		s.w.log.Warn("replayed batch straddles the restored state's offset; its events below it are paired again",
			"origin", b.Origin.String(), "state_at", p.replayTo)
		p.replayTo = -1
	}
	late, w := 0, 0
	marks := s.w.deps.UpstreamMarks
	for r := range b.Interactions {
		it := &b.Interactions[r]
		at := it.OccurredAt.UnixMilli()
		if it.Watermark {
			if marks {
				p.up.Observe(it.EventID, at, it.Stage == schemas.WatermarkAtEnd, it.SentAt)
			}
			continue // a progress mark, no event: it leaves the batch here
		}
		if timeless(it) {
			if w != r {
				b.Interactions[w] = *it
			}
			w++
			continue
		}
		if p.maxT != noTime && at < p.maxT-s.w.lateMS {
			if !it.PairOnly { // the original is stored where it was counted
				b.Late = append(b.Late, *it)
			}
			late++
			continue
		}
		if !marks {
			p.maxT = max(p.maxT, at)
		}
		s.account(p, it, at, last, true)
		if w != r {
			b.Interactions[w] = *it
		}
		w++
	}
	if w < len(b.Interactions) {
		clear(b.Interactions[w:])
		b.Interactions = b.Interactions[:w]
	}
	s.w.m.late.Add(float64(late))
	if marks {
		s.advance(p, last)
	}

	s.version = uint64(last)
	if p.maxT != noTime {
		p.pr.Finalise(p.maxT-s.w.lateMS, last, (*facts)(s))
	}
	// After finalisation: what is left pending is what is provisional.
	// Before any watermark too: a fresh partition's first answers show
	// at once.
	p.pr.EmitProvisional(last, (*facts)(s))
	if err := s.checkpoint(ctx, p, last); err != nil {
		return err
	}
	p.next = last + 1
	if marks && p.maxT != noTime {
		b.Progress = time.UnixMilli(p.maxT).UTC()
	}
	s.attach(b)
	s.report(p)
	return nil
}

// replay processes a batch below p.replayTo: lateness as the original run
// decided it (its watermark there), activity and deal facts as it emitted
// them, and no pairing: the restored state already holds these events'
// contributions, and the pair facts they finalised were emitted by the
// original run under the same offset range (ClickHouse has them under
// the same insert_deduplication_token). Nothing changes in the store.
func (s *Stage) replay(p *part, b *schemas.Batch) {
	last := b.Origin.LastOffset
	late, w := 0, 0
	marks := s.w.deps.UpstreamMarks
	for r := range b.Interactions {
		it := &b.Interactions[r]
		at := it.OccurredAt.UnixMilli()
		if it.Watermark {
			if marks {
				p.up.Observe(it.EventID, at, it.Stage == schemas.WatermarkAtEnd, it.SentAt)
			}
			continue
		}
		if timeless(it) {
			if w != r {
				b.Interactions[w] = *it
			}
			w++
			continue
		}
		if p.replayMaxT != noTime && at < p.replayMaxT-s.w.lateMS {
			if !it.PairOnly {
				b.Late = append(b.Late, *it)
			}
			late++
			continue
		}
		if !marks {
			p.replayMaxT = max(p.replayMaxT, at)
		}
		s.account(p, it, at, last, false)
		if w != r {
			b.Interactions[w] = *it
		}
		w++
	}
	if w < len(b.Interactions) {
		clear(b.Interactions[w:])
		b.Interactions = b.Interactions[:w]
	}
	s.w.m.late.Add(float64(late))
	if marks {
		// The watermark the original run had after this batch, as far as
		// the thinned history below the GC point still knows it.
		p.replayMaxT = maxTBelow(p.old, last+1, p.replayMaxT)
	}
	p.next = last + 1
	if marks && p.replayMaxT != noTime {
		b.Progress = time.UnixMilli(p.replayMaxT).UTC()
	}
	if p.next >= p.replayTo {
		p.replayTo = -1
	}
	s.attach(b)
	s.report(p)
}

// timeless reports whether it is no KBI fact and passes the window
// untouched, whatever its age: account ownership and market signals
// (docs/signals.md). The anomaly stage matches a signal published
// yesterday as it does one of the last minute; setting it aside as late
// would lose the owner's task. They move no clock.
func timeless(it *schemas.Interaction) bool {
	return it.Type == schemas.TypeAccountUpdated || it.Type == schemas.TypeAccountSignal
}

// account feeds one accepted interaction to the activity sums, the
// pairing state (unless !pair) and the deal facts.
func (s *Stage) account(p *part, it *schemas.Interaction, at, last int64, pair bool) {
	if it.PairOnly {
		// A touch counted where it was first routed, resolved to its lead
		// later (package leads): it only pairs.
		s.pairOnly(p, it, at, last, pair)
		return
	}
	if it.Type == schemas.TypeLeadUpdated || it.Type == schemas.TypeAlertAcknowledged {
		// A CRM record's contact data changed, or someone took on an
		// alert: no rep's activity, and neither opens nor answers a lead.
		return
	}
	if it.Type == schemas.TypeForecastSubmitted {
		// A forecast is no one's activity either: it is a fact of its own.
		// Emitted on replays too, like deal facts (same rows, same token).
		s.forecast(it, at)
		return
	}
	team := it.TeamID
	if team == "" {
		team = s.w.deps.Org.TeamOf(it.RepID)
	}
	z := s.zone(team)
	team = z.team // interned
	day := z.dayOf(at)
	r := s.rep(it.RepID)
	ix := -1
	for k := range r.acts {
		a := &r.acts[k]
		if a.day == z.dnum && a.ch == it.Channel && a.typ == it.Type && a.team == team {
			ix = int(a.ix)
			break
		}
	}
	if ix < 0 {
		ix = len(s.acts)
		r.acts = append(r.acts, actSlot{day: z.dnum, team: team, ch: it.Channel, typ: it.Type, ix: int32(ix)})
		s.acts = append(s.acts, schemas.ActivityRow{Day: day, TeamID: team, RepID: it.RepID, Channel: it.Channel.String(),
			Type: it.Type.String(), Direction: it.Direction()})
	}
	s.acts[ix].Interactions++
	if it.Has&schemas.HasDuration != 0 {
		s.acts[ix].DurationS += it.DurationS
	}
	if it.RepID != "" && it.AccountID != "" {
		a := schemas.AccountRow{Day: day, TeamID: team, RepID: it.RepID, AccountID: it.AccountID}
		if _, ok := s.accIx[a]; !ok {
			s.accIx[a] = struct{}{}
			s.accts = append(s.accts, a)
		}
	}

	// rep and team are interned: the state shares them (addShared).
	e := pairing.Event{At: at, Off: last, ID: it.EventID, Type: it.Type, Channel: it.Channel}
	// !pair (a replay): the state has the pairing events already. The
	// pairing types and the deal types are disjoint.
	switch {
	case pair && it.OpensLead():
		e.Kind, e.Rep, e.Team = pairing.Open, r.id, team
		p.pr.AddShared(pairing.Lead, it.LeadID, e)
	case pair && it.AnswersLead():
		e.Kind, e.Rep, e.Team = pairing.Close, r.id, team
		p.pr.AddShared(pairing.Lead, it.LeadID, e)
	case pair && it.ApprovalID != "" && it.Type == schemas.TypeApprovalRequested:
		e.Kind, e.Rep, e.Team = pairing.Open, r.id, team
		p.pr.AddShared(pairing.Approval, it.ApprovalID, e)
	case pair && it.ApprovalID != "" && it.Type == schemas.TypeApprovalDecided:
		e.Kind, e.Rep, e.Team = pairing.Close, p.pr.Intern(it.ApproverID), team
		e.OK = it.Has&schemas.HasApproved != 0 && it.Approved
		p.pr.AddShared(pairing.Approval, it.ApprovalID, e)
	case it.Type == schemas.TypeQuoteCreated || it.Type == schemas.TypeDealWon || it.Type == schemas.TypeDealLost:
		d := schemas.DealRow{Day: day, OccurredAt: it.OccurredAt, EventID: it.EventID, Type: it.Type.String(), RepID: it.RepID,
			TeamID: team, AccountID: it.AccountID, Currency: it.Currency}
		if it.Has&schemas.HasAmount != 0 {
			d.Amount = s.floats.ptr(it.Amount)
		}
		if it.Has&schemas.HasListPrice != 0 {
			d.ListPrice = s.floats.ptr(it.ListPrice)
		}
		if it.Has&schemas.HasDiscount != 0 {
			d.DiscountPct = s.floats.ptr(it.DiscountPct)
		}
		s.deals = append(s.deals, d)
	}
}

// forecast emits the fact of a forecast submission. The period's
// boundaries are cut here, in the team's zone, because ClickHouse's
// toDate(t, tz) needs a constant zone; the view picks the snapshot (the
// last submission before the period starts) in SQL, which makes it
// independent of arrival order without any state.
func (s *Stage) forecast(it *schemas.Interaction, at int64) {
	p, ok := schemas.ParsePeriod(it.Period)
	if !ok {
		return // Validate rejects it before any stage sees it
	}
	team := it.TeamID
	if team == "" {
		team = s.w.deps.Org.TeamOf(it.RepID)
	}
	z := s.zone(team)
	s.fcasts = append(s.fcasts, schemas.ForecastRow{
		PeriodStart: p.FirstDay(), PeriodKind: p.Kind.String(), Period: it.Period, PeriodStartAt: p.Start(z.loc),
		SubmittedAt: it.OccurredAt, Day: z.dayOf(at), EventID: it.EventID, TeamID: z.team, RepID: it.RepID,
		Category: it.Stage, Currency: it.Currency, Amount: it.Amount, TimeZone: z.name,
	})
}

// advance moves the partition's watermark (maxT) at the end of a batch
// when the input carries progress marks: to what the first attempt had
// after this batch when it is consumed again after a restore, else to
// the slowest active upstream's progress. It never goes back.
func (s *Stage) advance(p *part, last int64) {
	// The first attempt's watermark at this offset is its last batch's
	// that ended at or before it. A batch cut as the first attempt cut
	// it ends exactly on a mark; one cut differently (its cut was never
	// recorded: made after the last commit, stored nowhere) gets the
	// mark before its end, a watermark no higher than the first
	// attempt's there, so no event it accepted is late now.
	exact := false
	for len(p.future) > 0 && p.future[0].last <= last {
		p.maxT = max(p.maxT, p.future[0].maxT)
		exact = p.future[0].last == last
		p.future = p.future[1:]
	}
	// Inside the recorded history the upstreams' progress, restored
	// from the newest checkpoint, is ahead of this offset: it decides
	// only past the history's end.
	if !exact && len(p.future) > 0 && !p.recut {
		p.recut = true
		s.w.log.Info("a redelivered batch is cut differently from the first attempt: the watermark follows the first attempt's marks below its end",
			"topic", p.topic, "partition", p.part, "last", last, "next_mark", p.future[0].last)
	}
	if exact || len(p.future) > 0 {
		return
	}
	if t, ok := p.up.Min(); ok {
		p.maxT = max(p.maxT, t)
	}
}

// pairOnly feeds a PairOnly touch to the lead pairing only.
func (s *Stage) pairOnly(p *part, it *schemas.Interaction, at, last int64, pair bool) {
	if !pair || !it.OpensLead() && !it.AnswersLead() {
		return
	}
	team := it.TeamID
	if team == "" {
		team = s.w.deps.Org.TeamOf(it.RepID)
	}
	team = s.zone(team).team // interned
	r := s.rep(it.RepID)
	e := pairing.Event{At: at, Off: last, ID: it.EventID, Type: it.Type, Channel: it.Channel, Rep: r.id, Team: team}
	e.Kind = pairing.Close
	if it.OpensLead() {
		e.Kind = pairing.Open
	}
	p.pr.AddShared(pairing.Lead, it.LeadID, e)
}

// localDay is t's date in loc, as midnight UTC (a ClickHouse Date).
func localDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// zone returns the time zone and business calendar of team.
func (s *Stage) zone(team string) *zone {
	if team == s.lastTeam && s.lastZone != nil {
		return s.lastZone
	}
	if z := s.zones[team]; z != nil {
		s.lastTeam, s.lastZone = z.team, z
		return z
	}
	z := &zone{name: "UTC", loc: time.UTC, team: strings.Clone(team)}
	orgTZ := ""
	if t := s.w.deps.Org.Team(team); t != nil && t.TimeZone != "" {
		if loc, err := time.LoadLocation(t.TimeZone); err == nil {
			z.name, z.loc, orgTZ = t.TimeZone, loc, t.TimeZone
		} else {
			s.w.log.Warn("unknown team time zone; using UTC", "team", team, "time_zone", t.TimeZone)
		}
	}
	if cal, ok := calendar.Pick(s.w.cfg.Calendars, team); ok {
		if c, err := cal.Compile(orgTZ); err == nil { // Validate checked it
			z.cal = c
		}
	}
	if len(s.zones) > 4096 {
		clear(s.zones)
	}
	s.zones[z.team] = z
	s.lastTeam, s.lastZone = z.team, z
	return z
}

// facts is the Stage as the pairing state's pairing.Emitter: finalised
// pairs and expiries become fact rows. A conversion, not an embedding, so
// the emitter methods stay off Stage's API.
type facts Stage

var (
	_ pairing.Emitter            = (*facts)(nil)
	_ pairing.ProvisionalEmitter = (*facts)(nil)
)

// Pair implements pairing.Emitter: a finalised pair becomes a fact row.
func (f *facts) Pair(fam uint8, key string, open, close *pairing.Event) {
	s := (*Stage)(f)
	if fam == pairing.Lead {
		s.leads = append(s.leads, s.leadPair(key, open, close))
		return
	}
	s.apprs = append(s.apprs, s.approvalPair(key, open, close))
}

// Provisional implements pairing.ProvisionalEmitter: a pair not final yet
// becomes a provisional row, the same columns a final fact has.
func (f *facts) Provisional(fam uint8, key string, open, close *pairing.Event) {
	s := (*Stage)(f)
	if fam == pairing.Lead {
		s.leadsProv = append(s.leadsProv, schemas.LeadResponseProvisionalRow{
			LeadResponseRow: s.leadPair(key, open, close), Version: s.version})
		return
	}
	s.apprsProv = append(s.apprsProv, schemas.ApprovalProvisionalRow{
		ApprovalRow: s.approvalPair(key, open, close), Version: s.version})
}

// Retract implements pairing.ProvisionalEmitter: a tombstone for the key
// (the trigger's or request's columns, no answer).
func (f *facts) Retract(fam uint8, key string, open *pairing.Event) {
	s := (*Stage)(f)
	openAt := time.UnixMilli(open.At).UTC()
	z := s.zone(open.Team)
	if fam == pairing.Lead {
		s.leadsProv = append(s.leadsProv, schemas.LeadResponseProvisionalRow{
			LeadResponseRow: schemas.LeadResponseRow{
				Day: z.dayOf(open.At), TriggerAt: openAt, LeadID: key, TriggerEventID: open.ID,
				TriggerType: open.Type.String(), TriggerChannel: open.Channel.String(), OwnerRepID: open.Rep, TeamID: open.Team,
				TimeZone: z.name,
			},
			Version: s.version, Deleted: true})
		return
	}
	s.apprsProv = append(s.apprsProv, schemas.ApprovalProvisionalRow{
		ApprovalRow: schemas.ApprovalRow{
			Day: z.dayOf(open.At), RequestedAt: openAt, ApprovalID: key, RequestEventID: open.ID, RepID: open.Rep,
			TeamID: open.Team, TimeZone: z.name,
		},
		Version: s.version, Deleted: true})
}

// leadPair is the fact row of an answered lead trigger.
func (s *Stage) leadPair(key string, open, close *pairing.Event) schemas.LeadResponseRow {
	secs := s.floats.ptr(float64(close.At-open.At) / 1000)
	openAt, closeAt := time.UnixMilli(open.At).UTC(), s.times.ptr(time.UnixMilli(close.At).UTC())
	z := s.zone(open.Team)
	r := schemas.LeadResponseRow{
		Day: z.dayOf(open.At), TriggerAt: openAt, LeadID: key, TriggerEventID: open.ID,
		TriggerType: open.Type.String(), TriggerChannel: open.Channel.String(), OwnerRepID: open.Rep, TeamID: open.Team,
		TimeZone: z.name, Answered: true, ResponderRepID: close.Rep, ResponseEventID: close.ID,
		ResponseAt: closeAt, ResponseType: close.Type.String(), ResponseChannel: close.Channel.String(), ResponseS: secs,
	}
	if z.cal != nil {
		r.BusinessS = s.floats.ptr(z.cal.BusinessSeconds(openAt, *closeAt))
	}
	return r
}

// approvalPair is the fact row of a decided approval request.
func (s *Stage) approvalPair(key string, open, close *pairing.Event) schemas.ApprovalRow {
	secs := s.floats.ptr(float64(close.At-open.At) / 1000)
	openAt, closeAt := time.UnixMilli(open.At).UTC(), s.times.ptr(time.UnixMilli(close.At).UTC())
	z := s.zone(open.Team)
	outcome := "rejected"
	if close.OK {
		outcome = "approved"
	}
	return schemas.ApprovalRow{
		Day: z.dayOf(open.At), RequestedAt: openAt, ApprovalID: key, RequestEventID: open.ID, RepID: open.Rep,
		TeamID: open.Team, TimeZone: z.name, Outcome: outcome, ApproverID: close.Rep, DecisionEventID: close.ID,
		DecidedAt: closeAt, LatencyS: secs,
	}
}

// Expire implements pairing.Emitter: an unanswered lead or undecided
// approval.
func (f *facts) Expire(fam uint8, key string, open *pairing.Event) {
	s := (*Stage)(f)
	openAt := time.UnixMilli(open.At).UTC()
	z := s.zone(open.Team)
	if fam == pairing.Lead {
		s.leads = append(s.leads, schemas.LeadResponseRow{
			Day: z.dayOf(open.At), TriggerAt: openAt, LeadID: key, TriggerEventID: open.ID,
			TriggerType: open.Type.String(), TriggerChannel: open.Channel.String(), OwnerRepID: open.Rep, TeamID: open.Team,
			TimeZone: z.name,
		})
		return
	}
	s.apprs = append(s.apprs, schemas.ApprovalRow{
		Day: z.dayOf(open.At), RequestedAt: openAt, ApprovalID: key, RequestEventID: open.ID, RepID: open.Rep,
		TeamID: open.Team, TimeZone: z.name, Outcome: "expired",
	})
}

func (s *Stage) resetOut() {
	s.leads, s.apprs, s.acts, s.accts, s.deals = s.leads[:0], s.apprs[:0], s.acts[:0], s.accts[:0], s.deals[:0]
	s.fcasts = s.fcasts[:0]
	s.leadsProv, s.apprsProv = s.leadsProv[:0], s.apprsProv[:0]
	s.seq++
	if len(s.reps) > 1<<16 {
		clear(s.reps) // not an id set after all: stop sharing rather than grow
	}
	clear(s.accIx)
	s.times.reset()
	s.floats.reset()
}

func (s *Stage) attach(b *schemas.Batch) {
	add := func(table string, n int, rows schemas.Rows) {
		if n > 0 {
			b.Aggregates = append(b.Aggregates, schemas.AggregateRows{Table: table, Rows: rows})
			s.w.m.facts.WithLabelValues(table).Add(float64(n))
		}
	}
	// Provisional rows before the final facts: the sink inserts in this
	// order, so between the tombstone of a pair turned final and its fact
	// the pair is briefly in neither, never counted twice.
	add(schemas.TableLeadResponseProvisional, len(s.leadsProv), s.leadsProv)
	add(schemas.TableApprovalsProvisional, len(s.apprsProv), s.apprsProv)
	add(schemas.TableLeadResponse, len(s.leads), s.leads)
	add(schemas.TableApprovals, len(s.apprs), s.apprs)
	add(schemas.TableActivity, len(s.acts), s.acts)
	add(schemas.TableRepAccounts, len(s.accts), s.accts)
	add(schemas.TableDeals, len(s.deals), s.deals)
	add(schemas.TableForecasts, len(s.fcasts), s.fcasts)
}

func (s *Stage) report(p *part) {
	s.reportOpen()
	if p.maxT != noTime {
		wm := time.UnixMilli(p.maxT - s.w.bound)
		p.lag.Set(s.w.deps.Clock().Sub(wm).Seconds())
	}
}

// reportOpen sets the open items gauge to what the stage's partitions
// hold.
func (s *Stage) reportOpen() {
	for k, fam := range []uint8{pairing.Lead, pairing.Approval} {
		n := 0
		for _, q := range s.parts {
			n += q.pr.OpenCount(fam)
		}
		s.w.m.open.WithLabelValues([]string{"lead", "approval"}[k]).Add(float64(n - s.reported[k]))
		s.reported[k] = n
	}
}

// Release drops a partition's pairing state (pipeline.Releaser): its
// source gave it up, and another instance owns it now. With a state store
// a later batch of it restores the state there, as after any gap in its
// offsets. Its open items leave the gauge, its watermark lag series goes.
func (s *Stage) Release(topic string, partition int32) {
	k := partKey{topic, partition}
	if _, ok := s.parts[k]; !ok {
		return
	}
	delete(s.parts, k)
	s.w.m.watermarkLag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
	s.reportOpen()
}

func (s *Stage) newPart(o schemas.Origin) *part {
	p := &part{
		partKey: partKey{o.Topic, o.Partition}, next: -1, maxT: noTime, baseMaxT: noTime, committed: -1, gcAt: -1,
		first: -1, replayTo: -1, replayMaxT: noTime,
		pr: pairing.New(s.w.cfg.LeadExpiry.Milliseconds(), s.w.cfg.ApprovalExpiry.Milliseconds(), s.w.deps.State != nil,
			&s.wbuf),
		lag: s.w.m.watermarkLag.WithLabelValues(o.Topic, strconv.Itoa(int(o.Partition))),
	}
	if s.w.deps.UpstreamMarks {
		p.up = watermark.New(s.w.deps.IdleTimeout)
		p.up.Expect(s.w.deps.Upstreams, 0)
		p.up.Expect(s.w.deps.QuietUpstreams, s.w.deps.QuietGrace)
		p.up.Dormant(s.w.deps.DormantUpstreams, s.w.deps.QuietGrace)
		p.up.Relays(s.w.deps.RelayUpstreams)
	}
	return p
}

// restore rebuilds the state of o's partition as of o.FirstOffset from the
// state store: contributions of batches at or after it are dropped,
// because those batches are about to be consumed again.
//
// The store keeps history only from the GC point on (the committed offset
// of the group that wrote it): below it, finalised events are folded into
// each item's base. A restore below the GC point (a new consumer group, or
// offsets reset with kadm, replaying the topic into the same database)
// cannot rebuild the state there, and must not use the newest watermark
// either, or every replayed event would be late:
//   - at or before the offset the state's history began, the state there
//     is empty, and the replay rebuilds it exactly; the old state's keys
//     are deleted at the first checkpoint, so no later restore mixes the
//     two histories;
//   - in between, the state is restored as of the GC point, and the
//     batches up to it are replayed against the watermark the original
//     run had at each offset (kept in the meta record), emitting activity
//     and deal facts but not pairing again (see replay).
func (s *Stage) restore(ctx context.Context, o schemas.Origin) (*part, error) {
	start := s.w.deps.Clock()
	p := s.newPart(o)
	st := s.w.deps.State
	if st == nil {
		p.committed = math.MaxInt64
		s.parts[p.partKey] = p
		return p, nil
	}
	// Load first: it may claim the partition, and the committed offset
	// asked after it is then the newest the store knows.
	recs, err := st.Load(ctx, state.Window, o.Topic, o.Partition)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", o, err)
	}
	committed, err := st.Committed(ctx, o.Topic, o.Partition)
	if err != nil {
		return nil, fmt.Errorf("restore %s: committed offset: %w", o, err)
	}
	from := o.FirstOffset
	p.committed = min(committed, from)
	m := meta{base: noTime, point: -1, first: from}
	if v, ok := recs[metaKey]; ok {
		if m, err = decodeMeta(v); err != nil {
			return nil, fmt.Errorf("restore %s: %w", o, err)
		}
	}
	at, mode := from, "exact" // at: the offset the restored state is as of
	switch {
	case from >= m.point:
	case m.first >= 0 && from <= m.first:
		mode = "empty"
		for k := range recs {
			if kind, _, ok := parseKey(k); ok && (kind == pairing.Lead || kind == pairing.Approval) {
				p.purge = append(p.purge, k)
			}
		}
		p.first = from
		clear(recs)
	default:
		mode, at = "replay", m.point
		p.replayTo = m.point
		p.replayMaxT = maxTBelow(m.old, from, noTime)
	}
	if mode != "empty" {
		p.first, p.gcAt, p.baseMaxT, p.old = m.first, m.point, m.base, m.old
		for _, mk := range m.hist {
			if mk.last < at {
				p.hist = append(p.hist, mk)
			} else if s.w.deps.UpstreamMarks {
				p.future = append(p.future, mk)
			}
		}
		p.maxT = maxTBelow(p.hist, at, m.base)
	}
	if s.w.deps.UpstreamMarks {
		for k, v := range recs {
			if kind, id, ok := parseKey(k); ok && kind == kindUpstream && mode != "empty" {
				p.up.Restore(id, v)
			}
		}
	}
	horizon := int64(math.MinInt64)
	if p.maxT != noTime {
		horizon = p.maxT - s.w.lateMS
	}
	n := 0
	for k, v := range recs {
		kind, id, ok := parseKey(k)
		if !ok || (kind != pairing.Lead && kind != pairing.Approval) {
			continue
		}
		base, evs, err := decodeItem(v)
		if err != nil {
			return nil, fmt.Errorf("restore %s: key %q: %w", o, k, err)
		}
		p.pr.RestoreItem(kind, id, base, evs, at, horizon)
		n++
	}
	p.pr.ForgetChanges()
	s.parts[p.partKey] = p
	d := s.w.deps.Clock().Sub(start)
	s.w.m.restored.Inc()
	s.w.m.restoreSeconds.Observe(d.Seconds())
	if mode != "exact" {
		s.w.log.Warn("restore below the state's GC point: a replay from an earlier offset (new consumer group or reset offsets)",
			"origin", o.String(), "mode", mode, "gc_point", m.point, "history_from", m.first, "state_at", at, "purged", len(p.purge))
	}
	s.w.log.Info("pairing state restored", "origin", o.String(), "mode", mode, "records", n, "committed", committed,
		"open_leads", p.pr.OpenCount(pairing.Lead), "open_approvals", p.pr.OpenCount(pairing.Approval), "duration", d)
	return p, nil
}

// checkpoint drops history below the committed offset and saves the
// changed state to the store in one Save: the batch may be acked only
// once its state is durable.
func (s *Stage) checkpoint(ctx context.Context, p *part, last int64) error {
	st := s.w.deps.State
	if st == nil {
		p.pr.GC(math.MaxInt64)
		p.pr.ForgetChanges()
		return nil
	}
	// The store caches the committed offset: asking per batch is cheap.
	if c, err := st.Committed(ctx, p.topic, p.part); err != nil {
		s.w.log.Warn("committed offset unknown; keeping state history", "topic", p.topic, "partition", p.part, "err", err)
	} else if c > p.committed {
		p.committed = c
	}
	if p.committed > p.gcAt {
		p.pr.GC(p.committed)
		p.gcAt = p.committed
		k := 0
		for k < len(p.hist) && p.hist[k].last < p.committed {
			p.baseMaxT = max(p.baseMaxT, p.hist[k].maxT)
			p.old = appendOld(p.old, p.hist[k])
			k++
		}
		p.hist = append(p.hist[:0], p.hist[k:]...)
	}
	p.hist = append(p.hist, mark{last: last, maxT: p.maxT})

	// Keys and values are appended to one buffer; each record's slices
	// are capped so a later append cannot write into them.
	s.recs = s.recs[:0]
	s.buf = s.buf[:0]
	add := func(key, val []byte) {
		s.recs = append(s.recs, state.Record{Key: key, Value: val})
	}
	piece := func(from int) []byte { return s.buf[from:len(s.buf):len(s.buf)] }
	// An abandoned state's keys first: a key the new state has is
	// saved again below, after its deletion.
	for _, k := range p.purge {
		add([]byte(k), nil)
	}
	p.pr.Flush(func(fam uint8, key string, base *pairing.Event, evs []pairing.Event) {
		k0 := len(s.buf)
		s.buf = recordKey(s.buf, fam, key)
		v0 := len(s.buf)
		s.buf = encodeItem(s.buf, base, evs)
		add(s.buf[k0:v0:v0], piece(v0))
	}, func(fam uint8, key string) {
		k0 := len(s.buf)
		s.buf = recordKey(s.buf, fam, key)
		add(piece(k0), nil)
	})
	if p.up != nil {
		p.up.Changed(func(id string, v []byte) {
			k0 := len(s.buf)
			s.buf = recordKey(s.buf, kindUpstream, id)
			add(piece(k0), v)
		})
	}
	// The history saved goes on past this batch with the marks of an
	// earlier attempt not consumed again yet (future): a replay that is
	// killed before it gets as far as that attempt did must not take
	// them away from the next one, whose watermark would otherwise jump,
	// at this batch's end, to the upstreams' progress the store still
	// holds from the furthest attempt (those keys are saved only as they
	// change), and set aside as late what the first attempt accepted.
	hist := p.hist
	if len(p.future) > 0 {
		hist = append(p.hist[:len(p.hist):len(p.hist)], p.future...)
	}
	v0 := len(s.buf)
	s.buf = encodeMeta(s.buf, &meta{base: p.baseMaxT, point: p.gcAt, first: p.first, hist: hist, old: p.old})
	add([]byte(metaKey), piece(v0))
	err := st.Save(ctx, state.Window, p.topic, p.part, s.recs)
	clear(s.recs) // the buffer is reused; the records must not pin old ones
	if err != nil {
		// Another instance owns the partition now (fenced), or the save's
		// outcome is unknown (store unavailable): this state is stale.
		// Forget it; a later batch of it loads the store again.
		delete(s.parts, p.partKey)
		return fmt.Errorf("checkpoint %s/%d: %w", p.topic, p.part, err)
	}
	// What was written is counted by the store
	// (salespulse_state_*_written_total{namespace="window"}).
	p.purge = nil
	return nil
}
