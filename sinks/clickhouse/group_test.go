package clickhouse

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/schemas"
)

var _ pipeline.AsyncSink = (*GroupedSink)(nil)

// submitAll submits bs to g, flushes, and returns each batch's done error.
func submitAll(t *testing.T, g *GroupedSink, bs ...*schemas.Batch) []error {
	t.Helper()
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for k, b := range bs {
		wg.Add(1)
		g.Submit(context.Background(), b, func(err error) { errs[k] = err; wg.Done() })
	}
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // Flush returned, so every done was called
	return errs
}

// wantSkipped checks salespulse_clickhouse_replayed_rows_skipped_total:
// rows left out per table, and no other table's.
func wantSkipped(t *testing.T, reg *prometheus.Registry, rows map[string]int) {
	t.Helper()
	want := `# HELP salespulse_clickhouse_replayed_rows_skipped_total Rows of replayed batches not inserted because a previous attempt stored them (grouped inserts look before they write), per table.
# TYPE salespulse_clickhouse_replayed_rows_skipped_total counter
`
	for _, table := range slices.Sorted(maps.Keys(rows)) {
		want += fmt.Sprintf("salespulse_clickhouse_replayed_rows_skipped_total{table=%q} %d\n", table, rows[table])
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "salespulse_clickhouse_replayed_rows_skipped_total"); err != nil {
		t.Fatal(err)
	}
}

func insertCount(t *testing.T, reg *prometheus.Registry, table string) uint64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "salespulse_clickhouse_insert_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == table {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func activeParts(t *testing.T, s *Sink) uint64 {
	return queryUint(t, s, "SELECT count() FROM system.parts WHERE database = '"+s.cfg.Database+"' AND table = 'interactions' AND active")
}

// Batches of several partitions become one insert and one part; each row
// keeps its own batch's origin, so the cut history is what it was with
// one insert per batch.
func TestGroupedInsertRoundTrip(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	if err := s.conn.Exec(context.Background(), "SYSTEM STOP MERGES "+db+".interactions"); err != nil {
		t.Fatal(err)
	}
	g := s.Grouped()
	bs := []*schemas.Batch{
		batchOf("interactions.v1", 0, 0, genInteractions(1, 20000, day)),
		batchOf("interactions.v1", 1, 100, genInteractions(2, 30000, day)),
		batchOf("interactions.v1", 2, 7, genInteractions(3, 25000, day)),
		batchOf("interactions.v1", 0, 20000, nil), // nothing to insert: done at once
	}
	bs[3].Origin.LastOffset = 20009
	for k, err := range submitAll(t, g, bs...) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	wantStored(t, s, 75000, "")
	if n := insertCount(t, reg, TableInteractions); n != 1 {
		t.Fatalf("%d inserts into interactions, want 1", n)
	}
	if n := activeParts(t, s); n != 1 {
		t.Fatalf("%d parts, want 1: a grouped insert must be one part", n)
	}
	got, err := s.StoredOrigins(context.Background(), "interactions.v1", []int32{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []schemas.Origin{bs[0].Origin, bs[1].Origin, bs[2].Origin}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("stored origins %v, want %v", got, want)
	}
	// The same group again (a retry of the same insert) is dropped by its token.
	again := []*schemas.Batch{
		batchOf("interactions.v1", 2, 7, genInteractions(3, 25000, day)),
		batchOf("interactions.v1", 0, 0, genInteractions(1, 20000, day)),
		batchOf("interactions.v1", 1, 100, genInteractions(2, 30000, day)),
	}
	submitAll(t, g, again...)
	wantStored(t, s, 75000, "after a retry")
}

// A replayed batch (MaybeStored) that an earlier group stored is not
// inserted again, in the raw table nor in the rollup, though its new
// group has another token; a replayed batch that was not stored, and a
// new one, are.
func TestGroupedReplaySkipsStoredMembers(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	g := s.Grouped()
	a := batchOf("interactions.v1", 0, 0, genInteractions(1, 3000, day))
	b := batchOf("interactions.v1", 1, 0, genInteractions(2, 2000, day))
	submitAll(t, g, a, b)

	replayA := batchOf("interactions.v1", 0, 0, genInteractions(1, 3000, day))
	replayA.MaybeStored = true
	unstored := batchOf("interactions.v1", 2, 0, genInteractions(3, 1000, day))
	unstored.MaybeStored = true // cut by a plan, but its group never reached ClickHouse
	fresh := batchOf("interactions.v1", 1, 2000, genInteractions(4, 500, day))
	for k, err := range submitAll(t, g, replayA, unstored, fresh) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	wantStored(t, s, 6500, "")
	wantSkipped(t, reg, map[string]int{"interactions": 3000})
}

// A replay of a batch whose first attempt is still in this sink — in the
// open group, or in a group being inserted (its partition was revoked
// while the group was in flight, then assigned back here) — waits for that
// attempt before it looks up what is stored, so it is not inserted twice.
func TestGroupedReplayWaitsForItsAttemptInFlight(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, prometheus.NewPedanticRegistry())
	g := s.Grouped()
	first := batchOf("interactions.v1", 0, 0, genInteractions(1, 20000, day))
	other := batchOf("interactions.v1", 1, 0, genInteractions(2, 1000, day))
	replay := batchOf("interactions.v1", 0, 0, genInteractions(1, 20000, day))
	replay.MaybeStored = true
	for k, err := range submitAll(t, g, first, other, replay) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	wantStored(t, s, 21000, "")
}

// Replayed batches of other partitions, or of other offsets, share the
// open group: a restart replays every partition at once, and a group per
// replayed batch made the recovery insert once per batch and table.
func TestGroupedReplaysShareAGroup(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	s.cfg.GroupLinger = time.Minute
	var bs []*schemas.Batch
	for part := range int32(3) {
		for k := range int64(2) {
			b := batchOf("interactions.v1", part, k*100, genInteractions(uint64(part)*10+uint64(k)+1, 100, day))
			b.Origin.LastOffset = k*100 + 99
			b.MaybeStored = true
			bs = append(bs, b)
		}
	}
	for k, err := range submitAll(t, s.Grouped(), bs...) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	if n := insertCount(t, reg, TableInteractions); n != 1 {
		t.Fatalf("%d inserts for six replayed batches of three partitions, want 1", n)
	}
	wantStored(t, s, 600, "")
}

// A group is inserted once per month (the table's partition), so each
// insert is one part; a replayed batch whose earlier attempt stored one of
// its months gets only the other inserted.
func TestGroupedMonthSplit(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	ctx := context.Background()
	if err := s.conn.Exec(ctx, "SYSTEM STOP MERGES "+db+".interactions"); err != nil {
		t.Fatal(err)
	}
	g := s.Grouped()
	feb := genInteractions(1, 1000, day.Add(-24*time.Hour)) // 28 Feb 2026
	mar := genInteractions(2, 1000, day.Add(24*time.Hour))
	x := batchOf("interactions.v1", 0, 0, append(append([]schemas.Interaction{}, feb...), mar...))
	// Only February of x stored: as if its March insert never ran.
	onlyFeb := batchOf("interactions.v1", 0, 0, feb)
	onlyFeb.Origin = x.Origin
	if err := s.insertGroup(ctx, []groupMember{{b: onlyFeb}}, true); err != nil {
		t.Fatal(err)
	}
	x.MaybeStored = true
	y := batchOf("interactions.v1", 1, 0, genInteractions(3, 500, day.Add(48*time.Hour)))
	// submit stores bs and checks they took want inserts into interactions.
	submit := func(want uint64, what string, bs ...*schemas.Batch) {
		t.Helper()
		before := insertCount(t, reg, TableInteractions)
		for k, err := range submitAll(t, g, bs...) {
			if err != nil {
				t.Fatalf("%s: batch %d: %v", what, k, err)
			}
		}
		if n := insertCount(t, reg, TableInteractions) - before; n != want {
			t.Fatalf("%s: %d inserts, want %d", what, n, want)
		}
	}
	// months counts rows (or distinct events) of February and March.
	months := func(what, where string) (feb, mar uint64) {
		q := "SELECT " + what + " FROM " + db + ".interactions WHERE " + where + " AND toYYYYMM(occurred_at) = "
		return queryUint(t, s, q+"202602"), queryUint(t, s, q+"202603")
	}
	submit(1, "replay with February stored (March only)", x, y)
	if f, m := months("count()", "1"); f != 1000 || m != 1500 {
		t.Fatalf("February %d March %d rows, want 1000 and 1500", f, m)
	}
	// Both months of a new batch: two inserts, one part each.
	z := batchOf("interactions.v1", 2, 0, append(genInteractions(4, 700, day.Add(-24*time.Hour)), genInteractions(5, 300, day)...))
	partsBefore := activeParts(t, s)
	submit(2, "two months", z)
	if n := activeParts(t, s) - partsBefore; n != 2 {
		t.Fatalf("%d new parts, want 2", n)
	}
	// Months interleaved in offset order (late events): each month's rows
	// are inserted once, all of them, in one insert per month.
	a, b, c := genInteractions(6, 200, day.Add(-24*time.Hour)), genInteractions(7, 100, day), genInteractions(8, 50, day.Add(-48*time.Hour))
	submit(2, "two interleaved months", batchOf("interactions.v1", 3, 0, slices.Concat(a, b, c)))
	if f, m := months("uniqExact(event_id)", "kafka_partition = 3"); f != 250 || m != 100 {
		t.Fatalf("interleaved batch: February %d March %d distinct events, want 250 and 100", f, m)
	}
}

// splitMonths hands out views of the batch's rows, one run per stretch of
// a month, never copies: a batch spanning months used to copy every row.
func TestSplitMonthsViews(t *testing.T) {
	rows := slices.Concat(genInteractions(1, 3, day.Add(-24*time.Hour)), genInteractions(2, 2, day), genInteractions(3, 1, day.Add(-48*time.Hour)))
	b := batchOf("t", 0, 0, rows)
	got := splitMonths(b)
	if len(got) != 2 || got[0].month != 202602 || got[1].month != 202603 {
		t.Fatalf("months %+v, want February then March", got)
	}
	feb, mar := got[0], got[1]
	if feb.rows() != 4 || len(feb.runs) != 2 || mar.rows() != 2 || len(mar.runs) != 1 {
		t.Fatalf("February %d rows in %d runs, March %d in %d; want 4 in 2, 2 in 1", feb.rows(), len(feb.runs), mar.rows(), len(mar.runs))
	}
	for _, r := range []struct {
		run   []schemas.Interaction
		start int
	}{{feb.runs[0], 0}, {feb.runs[1], 5}, {mar.runs[0], 3}} {
		if &r.run[0] != &rows[r.start] || cap(r.run) != len(r.run) {
			t.Fatalf("run at %d is not a capped view of the batch", r.start)
		}
	}
	if one := splitMonths(batchOf("t", 0, 0, rows[:3])); len(one) != 1 || len(one[0].runs) != 1 || one[0].rows() != 3 {
		t.Fatalf("one month: %+v", one)
	}
	if len(splitMonths(batchOf("t", 0, 0, nil))) != 0 {
		t.Fatal("empty batch: months")
	}
}

// A group closes on its linger without a Flush, and on a Flush before it;
// with grouping off, Submit is Write (one insert per batch).
func TestGroupedLingerAndOff(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig(srv.addr, db)
	cfg.GroupLinger = 50 * time.Millisecond
	ctx := context.Background()
	s, err := NewSink(ctx, cfg, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g := s.Grouped()
	got := make(chan error, 1)
	g.Submit(ctx, batchOf("interactions.v1", 0, 0, genInteractions(1, 100, day)), func(err error) { got <- err })
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not close on its linger")
	}

	s.cfg.GroupMaxRows = -1
	before := insertCount(t, reg, TableInteractions)
	submitAll(t, g, batchOf("interactions.v1", 0, 100, genInteractions(2, 100, day)),
		batchOf("interactions.v1", 1, 0, genInteractions(3, 100, day)))
	if n := insertCount(t, reg, TableInteractions) - before; n != 2 {
		t.Fatalf("grouping off: %d inserts, want 2", n)
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".interactions"); n != 300 {
		t.Fatalf("%d rows, want 300", n)
	}
	// One group closed on its linger; with grouping off none.
	want := `# HELP salespulse_clickhouse_groups_closed_total Groups of batches closed for insert, by flow (ingest: Sink.Grouped, leads: Sink.Derived) and reason: full (clickhouse.group_max_rows; derived_group_max_rows for leads), linger (its linger passed and no insert was in flight), flush (drain or shutdown), replay (a replayed batch kept apart from its earlier attempt).
# TYPE salespulse_clickhouse_groups_closed_total counter
salespulse_clickhouse_groups_closed_total{flow="ingest",reason="linger"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "salespulse_clickhouse_groups_closed_total"); err != nil {
		t.Fatal(err)
	}
}

// wantStored fails t unless interactions holds want rows and the rollup
// view counts as many (when names the moment, for the message).
func wantStored(t *testing.T, s *Sink, want uint64, when string) {
	t.Helper()
	if when != "" {
		when += ": "
	}
	if n := queryUint(t, s, "SELECT count() FROM "+s.cfg.Database+".interactions"); n != want {
		t.Fatalf("%sinteractions: %d rows, want %d", when, n, want)
	}
	if n := rollupTotal(t, s); n != want {
		t.Fatalf("%srollup: %d, want %d", when, n, want)
	}
}
