package clickhouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// Grouped returns the sink of a pipeline whose raw interactions may be
// inserted together with other batches' (the ingest flow): its Submit
// (pipeline.AsyncSink) adds the batch's interactions, its alerts
// (insertAlerts) and its KBI facts of the tables that allow it
// (kbiGrouping) to the open group, and writes the rest of what the stages
// derived from it (late events, activity_daily) at once, one insert per
// table as Write does.
// Sink.Derived is the same without the interactions.
//
// The open group is inserted once it holds clickhouse.group_max_rows
// rows (of all its tables together; beside at most one other insert),
// or when the pipeline drains, or once clickhouse.group_linger
// (derived_group_linger for Sink.Derived) has passed since its first
// batch and no insert is in flight: under load a group grows while the
// previous one is inserted, so inserts get larger as the load grows, and
// an idle stream waits at most the linger. Each batch is acknowledged
// when all of its rows, of every table, are stored.
//
// A group holds batches of any partition. It is inserted as one insert per
// table and partition (calendar month for interactions) so that each
// insert makes exactly one part: all of it is stored or none. Its dedup token names the
// members, so a retry of the same insert is dropped by ClickHouse. A
// replay after a crash forms other groups, so a replayed batch
// (schemas.Batch.MaybeStored) is looked up first: the months of it
// already stored are not inserted again. docs/fault-tolerance.md states
// what this guarantees and the gap it leaves.
func (s *Sink) Grouped() *GroupedSink { return s.newGrouped(true) }

func (s *Sink) newGrouped(raw bool) *GroupedSink {
	g := &GroupedSink{s: s, raw: raw}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// GroupedSink is Sink.Grouped's (or Sink.Derived's) view of a Sink.
type GroupedSink struct {
	s   *Sink
	raw bool // the batches' interactions are stored too (Grouped)

	mu   sync.Mutex
	cond *sync.Cond // broadcast when an insert finishes
	open *group     // collecting batches; nil when none
	// ready is a group closed while another was being inserted (full, or
	// flushed). Closing another one blocks its Submit until ready is
	// taken: the source slows down instead of the groups piling up.
	ready   *group
	sending int            // group inserts in flight, at most groupsInFlight
	pending sync.WaitGroup // groups closed and not yet done
	// seq numbers groups as they close; unfinished holds those whose
	// insert has not returned. A group with a replayed member looks up
	// what is stored only once every group closed before it finished:
	// the attempt it replays may be in one of them (a partition revoked
	// while its batch's group was in flight, then assigned back here).
	seq        uint64
	unfinished map[uint64]struct{}
}

// groupsInFlight is how many group inserts run at once. A lingered group
// waits until none is in flight (so groups grow under load); a full one
// may start beside another, so the engine's second core works on it
// instead of the source waiting (measured in make bench: one at a time
// cost ~25% events/s, two for any group made 31 inserts per 1M instead
// of 13).
const groupsInFlight = 2

type group struct {
	ctx      context.Context // the first member's Submit's: the pipeline's work
	members  []groupMember
	rows     int
	timer    *time.Timer
	lingered bool   // group_linger passed: insert as soon as no insert is in flight
	replay   bool   // a member is MaybeStored
	seq      uint64 // order of closing (GroupedSink.seq)
}

type groupMember struct {
	b    *schemas.Batch
	done func(error)
	// derived are copies of b's KBI rows of the grouped tables, by table
	// and partition key, in b.Aggregates order.
	derived []derivedRows
}

// derivedRows are one batch's rows of one grouped KBI table and partition.
type derivedRows struct {
	table string
	key   uint32
	rows  schemas.Rows
}

// Write is Sink.Write (without the interactions for Sink.Derived): one
// insert per table, nothing grouped.
func (g *GroupedSink) Write(ctx context.Context, b *schemas.Batch) error {
	return g.s.write(ctx, b, g.raw, false)
}

// Submit writes b's rows of the tables inserted per batch and adds the
// others (its interactions, with Grouped, and its rows of the grouped KBI
// tables) to the open group; done is called once all are stored, or with
// the reason they are not. It blocks while a full group waits for a free
// insert slot. With grouping off it is Write, then done.
func (g *GroupedSink) Submit(ctx context.Context, b *schemas.Batch, done func(error)) {
	if g.s.cfg.GroupMaxRows < 0 {
		done(g.Write(ctx, b))
		return
	}
	if err := g.s.write(ctx, b, false, true); err != nil {
		done(err)
		return
	}
	derived, rows := groupedRows(b)
	rows += len(b.Alerts)
	if g.raw {
		rows += len(b.Interactions)
	}
	if rows == 0 {
		done(nil)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if b.MaybeStored && g.open != nil && g.open.holdsAttemptOf(b.Origin) {
		// The attempt b replays is a member of the open group (its
		// partition revoked and assigned back meanwhile): that group
		// must be stored before b's lookup, so b starts a group of its
		// own. Other replayed batches (a restart replays every partition
		// from its commit) share one group, so a recovery makes as few
		// inserts as the first attempt did.
		g.closeLocked(g.open, closeReplay)
	}
	gr := g.open
	if gr == nil {
		gr = &group{ctx: ctx}
		gr.timer = time.AfterFunc(g.linger(), func() { g.lingered(gr) })
		g.open = gr
	}
	gr.members = append(gr.members, groupMember{b, done, derived})
	gr.rows += rows
	gr.replay = gr.replay || b.MaybeStored
	if gr.rows >= g.maxRows() {
		g.closeLocked(gr, closeFull)
	}
}

// holdsAttemptOf reports whether a member of gr covers any offset of o:
// an earlier attempt of the batch o names (the source cuts a replay at
// the ranges it cut before).
func (gr *group) holdsAttemptOf(o schemas.Origin) bool {
	for _, m := range gr.members {
		mo := m.b.Origin
		if mo.Topic == o.Topic && mo.Partition == o.Partition && mo.FirstOffset <= o.LastOffset && o.FirstOffset <= mo.LastOffset {
			return true
		}
	}
	return false
}

// Flush inserts the open group and returns once every submitted batch's
// done has been called. Failures are reported to done, not here.
func (g *GroupedSink) Flush(context.Context) error {
	g.mu.Lock()
	if g.open != nil {
		g.closeLocked(g.open, closeFlush)
	}
	g.mu.Unlock()
	// Inserts run under their group's context, which a drain timeout
	// cancels, so this wait is bounded by the pipeline's.
	g.pending.Wait()
	return nil
}

// maxRows closes a group: group_max_rows, or derived_group_max_rows for
// Sink.Derived's.
func (g *GroupedSink) maxRows() int {
	if g.raw {
		return g.s.cfg.GroupMaxRows
	}
	return g.s.cfg.DerivedGroupMaxRows
}

// linger is how long a group waits for more batches: group_linger, or
// derived_group_linger for Sink.Derived's.
func (g *GroupedSink) linger() time.Duration {
	if g.raw {
		return g.s.cfg.GroupLinger
	}
	return g.s.cfg.DerivedGroupLinger
}

// lingered runs linger() after gr opened.
func (g *GroupedSink) lingered(gr *group) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr.lingered = true
	if g.open == gr && g.sending == 0 && g.ready == nil {
		g.closeLocked(gr, closeLinger)
	}
}

// Why a group closed (salespulse_clickhouse_groups_closed_total).
const (
	closeFull   = "full"
	closeLinger = "linger"
	closeFlush  = "flush"
	closeReplay = "replay"
)

// closeLocked closes gr, the open group, for reason: it is inserted at
// once if an insert slot is free, else it waits as ready — after the one
// waiting there already, which blocks the caller.
func (g *GroupedSink) closeLocked(gr *group, reason string) {
	g.open = nil
	gr.timer.Stop() // if it fires anyway, linger finds gr closed
	flow := "leads"
	if g.raw {
		flow = "ingest"
	}
	g.s.m.groupsClosed.WithLabelValues(flow, reason).Inc()
	g.pending.Add(1)
	for g.ready != nil {
		g.cond.Wait()
	}
	// Numbered only now, as it is sent or made ready: groups are sent in
	// this order, so every group a replay waits for (earlier numbers) is
	// being inserted, not waiting for a slot the replay holds.
	g.seq++
	gr.seq = g.seq
	if g.unfinished == nil {
		g.unfinished = map[uint64]struct{}{}
	}
	g.unfinished[gr.seq] = struct{}{}
	if g.sending >= groupsInFlight {
		g.ready = gr
		return
	}
	g.sendLocked(gr)
}

// sendLocked inserts gr in the background, then starts the next group
// (the ready one, or a lingered open one) and calls gr's members' done.
func (g *GroupedSink) sendLocked(gr *group) {
	g.sending++
	go func() {
		defer g.pending.Done()
		if gr.replay {
			g.mu.Lock()
			for g.earlierUnfinishedLocked(gr.seq) {
				g.cond.Wait()
			}
			g.mu.Unlock()
		}
		err := g.s.insertGroup(gr.ctx, gr.members, g.raw)
		g.mu.Lock()
		g.sending--
		delete(g.unfinished, gr.seq)
		switch {
		case g.ready != nil:
			next := g.ready
			g.ready = nil
			g.sendLocked(next)
		case g.open != nil && g.open.lingered && g.sending == 0:
			g.closeLocked(g.open, closeLinger)
		}
		g.cond.Broadcast()
		g.mu.Unlock()
		for _, m := range gr.members {
			m.done(err)
		}
	}()
}

// earlierUnfinishedLocked reports whether a group closed before seq is
// still being inserted (or waits to be).
func (g *GroupedSink) earlierUnfinishedLocked(seq uint64) bool {
	for k := range g.unfinished {
		if k < seq {
			return true
		}
	}
	return false
}

// memberMonth is one batch's rows of one calendar month: runs of the
// batch's slice, in offset order.
type memberMonth struct {
	o     schemas.Origin
	month uint32 // YYYYMM, as toYYYYMM(occurred_at)
	runs  [][]schemas.Interaction
}

// rows is how many rows mm holds.
func (mm memberMonth) rows() int {
	n := 0
	for _, r := range mm.runs {
		n += len(r)
	}
	return n
}

// groupedRows returns copies of b's rows of the grouped KBI tables, by
// table and partition key, and how many there are. A table without a
// layout is left to Sink.write, which refuses it.
func groupedRows(b *schemas.Batch) ([]derivedRows, int) {
	var out []derivedRows
	n := 0
	for _, a := range b.Aggregates {
		l, ok := kbiLayouts[a.Table]
		if !ok || l.group.class == perBatch || a.Rows.Len() == 0 {
			continue
		}
		for _, kr := range l.group.split(l.group.clone(a.Rows)) {
			out = append(out, derivedRows{a.Table, kr.key, kr.rows})
			n += kr.rows.Len()
		}
	}
	return out, n
}

// insertGroup inserts the rows of members: their interactions when raw,
// one insert per month, then their alerts (insertAlerts), then their
// grouped KBI rows (insertDerived).
// Each replayed member's parts that are stored already are left out.
func (s *Sink) insertGroup(ctx context.Context, members []groupMember, raw bool) error {
	if raw {
		if err := s.insertInteractions(ctx, members); err != nil {
			return err
		}
	}
	if err := s.insertAlerts(ctx, members); err != nil {
		return err
	}
	return s.insertDerived(ctx, members)
}

// insertInteractions inserts the interactions of members, one insert per
// month, leaving out each replayed member's months that are stored already.
func (s *Sink) insertInteractions(ctx context.Context, members []groupMember) error {
	stored, err := s.storedMonths(ctx, members)
	if err != nil {
		return err
	}
	byMonth := map[uint32][]memberMonth{}
	for _, m := range members {
		for _, mm := range splitMonths(m.b) {
			if stored[monthKey{mm.o, mm.month}] {
				s.m.skipped.WithLabelValues(TableInteractions).Add(float64(mm.rows()))
				continue
			}
			byMonth[mm.month] = append(byMonth[mm.month], mm)
		}
	}
	months := make([]uint32, 0, len(byMonth))
	for month := range byMonth {
		months = append(months, month)
	}
	slices.Sort(months)
	ingested := s.cfg.Clock().UTC()
	for _, month := range months {
		if err := s.insertMonth(ctx, month, byMonth[month], ingested); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) insertMonth(ctx context.Context, month uint32, parts []memberMonth, ingested time.Time) error {
	n := 0
	for _, p := range parts {
		n += p.rows()
	}
	bytes, fill, release := s.colsInsert(func(c *interactionCols) {
		c.begin(n)
		for _, p := range parts {
			for _, run := range p.runs {
				c.add(run, p.o, ingested, false)
			}
		}
	}, false)
	defer release()
	origins := make([]schemas.Origin, len(parts))
	for k, p := range parts {
		origins[k] = p.o
	}
	settings := onePart(insertSettings(groupToken(TableInteractions, month, origins)), n)
	what := fmt.Sprintf("group of %d batches, month %d", len(parts), month)
	err := s.insertWith(ctx, s.groupConn(), TableInteractions, s.interactionsInsert, interactionColumns, what, settings, n, bytes, fill)
	if err == nil {
		s.m.groupMembers.Observe(float64(len(parts)))
	}
	return err
}

// groupConn is the connection pool of grouped inserts (Sink.groups).
func (s *Sink) groupConn() driver.Conn {
	if s.groups != nil {
		return s.groups
	}
	return s.conn
}

// splitMonths returns b's interactions by month, each month as the runs
// of b's slice that hold it, in offset order: views, never copies. A
// partition's events come mostly in event-time order, so a batch that
// spans months is a few runs; copying the rows instead (448-byte structs
// with pointers, under the write barrier) was 139 MB per 1M events in an
// ingest-only drain: ~310k rows, those of the batches that span months.
func splitMonths(b *schemas.Batch) []memberMonth {
	rows := b.Interactions
	var out []memberMonth
	for i := 0; i < len(rows); {
		m := yyyymm(rows[i].OccurredAt)
		j := i + 1
		for j < len(rows) && yyyymm(rows[j].OccurredAt) == m {
			j++
		}
		k := slices.IndexFunc(out, func(mm memberMonth) bool { return mm.month == m })
		if k < 0 {
			k = len(out)
			out = append(out, memberMonth{o: b.Origin, month: m})
		}
		out[k].runs = append(out[k].runs, rows[i:j:j])
		i = j
	}
	return out
}

func yyyymm(t time.Time) uint32 {
	t = t.UTC()
	return uint32(t.Year()*100 + int(t.Month()))
}

// onePart returns settings, changed so that an insert of n rows is sent
// and stored as one block, hence one part per partition: a server that
// cut the block into several (max_insert_block_size for row formats,
// squashing to min_insert_block_size_*, parallel insert streams for the
// embedded engine's INSERT SELECT FROM file) could commit part of a
// member-month, and a replay that finds some of its rows would take it
// for all of them.
func onePart(settings clickhouse.Settings, n int) clickhouse.Settings {
	settings["max_insert_block_size"] = max(n, 1<<20)
	settings["min_insert_block_size_rows"] = n
	settings["min_insert_block_size_bytes"] = 0
	settings["max_insert_threads"] = 1
	return settings
}

// groupToken is the insert_deduplication_token of one partition (month)
// of one table of a group: the table, the partition key and the members'
// origins, sorted, so the same member-parts always give the same token
// and different ones never do.
func groupToken(table string, month uint32, members []schemas.Origin) string {
	origins := make([]string, len(members))
	for k, o := range members {
		origins[k] = o.String()
	}
	slices.Sort(origins)
	h := sha256.New()
	h.Write([]byte("salespulse/group/v1\x00"))
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write(strconv.AppendUint(nil, uint64(month), 10))
	for _, o := range origins {
		h.Write([]byte{0})
		h.Write([]byte(o))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

type monthKey struct {
	o     schemas.Origin
	month uint32
}

// storedMonths returns which months of the replayed members (MaybeStored)
// have rows in interactions. Every grouped insert is one part per month,
// and a batch's rows of one month go into one insert, so a member-month
// with any row stored has all of them stored. The occurred_at bounds let
// ClickHouse read only the months and days the members can have rows in.
func (s *Sink) storedMonths(ctx context.Context, members []groupMember) (map[monthKey]bool, error) {
	var tuples strings.Builder
	var lo, hi time.Time
	n := 0
	for _, m := range members {
		if !m.b.MaybeStored || len(m.b.Interactions) == 0 {
			continue
		}
		o := m.b.Origin
		if n > 0 {
			tuples.WriteString(", ")
		}
		n++
		fmt.Fprintf(&tuples, "(%s, %d, %d, %d)", stringList([]string{o.Topic}), o.Partition, o.FirstOffset, o.LastOffset)
		for i := range m.b.Interactions {
			t := m.b.Interactions[i].OccurredAt
			if lo.IsZero() || t.Before(lo) {
				lo = t
			}
			if hi.IsZero() || t.After(hi) {
				hi = t
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	q := "SELECT kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, toYYYYMM(occurred_at) AS month" +
		" FROM " + s.cfg.Database + "." + TableInteractions +
		" WHERE occurred_at >= fromUnixTimestamp64Milli(toInt64(" + strconv.FormatInt(lo.UnixMilli(), 10) + "), 'UTC')" +
		" AND occurred_at <= fromUnixTimestamp64Milli(toInt64(" + strconv.FormatInt(hi.UnixMilli(), 10) + "), 'UTC')" +
		" AND (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) IN (" + tuples.String() + ")" +
		" GROUP BY kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, month"
	out := map[monthKey]bool{}
	err := s.withRetry(ctx, "history", func() error {
		clear(out)
		rows, err := s.conn.Query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k monthKey
			if err := rows.Scan(&k.o.Topic, &k.o.Partition, &k.o.FirstOffset, &k.o.LastOffset, &k.month); err != nil {
				return err
			}
			out[k] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("look up %d replayed batches in %s: %w", n, TableInteractions, err)
	}
	return out, nil
}
