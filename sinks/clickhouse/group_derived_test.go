package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// derivedBatch is a leads-flow batch of partition part at offset first
// (10 offsets) with KBI rows: n lead responses of each day in days, one
// forecast and account per day (period_start in the day's year), n provisional
// responses versioned with the batch's last offset, and one activity row
// (n interactions).
func derivedBatch(part int32, first int64, n int, days ...time.Time) *schemas.Batch {
	b := batchOf("leads.v1", part, first, nil)
	b.Origin.LastOffset = first + 9
	b.Interactions = genInteractions(uint64(part)*1000+uint64(first)+1, 3, day) // stored by the ingest flow (Derived does not)
	var leads schemas.LeadResponseRows
	var prov schemas.LeadResponseProvisionalRows
	var fcs schemas.ForecastRows
	var accts schemas.AccountRows
	for _, d := range days {
		for k := range n {
			secs := float64(k + 1)
			at := d.Add(time.Duration(k) * time.Minute)
			resp := at.Add(time.Duration(secs) * time.Second)
			id := fmt.Sprintf("p%d-o%d-%s-%d", part, first, d.Format("0102"), k)
			r := schemas.LeadResponseRow{Day: d, TriggerAt: at, LeadID: "l-" + id, TriggerEventID: "e-" + id,
				TriggerType: "lead.created", TriggerChannel: "crm", OwnerRepID: "r1", TeamID: "t1", TimeZone: "UTC",
				Answered: true, ResponderRepID: "r1", ResponseEventID: "x-" + id, ResponseAt: &resp,
				ResponseType: "call.completed", ResponseChannel: "phone", ResponseS: &secs}
			leads = append(leads, r)
			prov = append(prov, schemas.LeadResponseProvisionalRow{LeadResponseRow: r, Version: uint64(b.Origin.LastOffset)})
		}
		accts = append(accts, schemas.AccountRow{Day: d, TeamID: "t1", RepID: "r1", AccountID: fmt.Sprintf("a-%d-%d", part, first)})
		fcs = append(fcs, schemas.ForecastRow{PeriodStart: time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC),
			PeriodKind: "month", Period: d.Format("2006-01"), PeriodStartAt: d, SubmittedAt: d, Day: d,
			EventID: fmt.Sprintf("f-%d-%d-%s", part, first, d.Format("20060102")), TeamID: "t1", RepID: "r1",
			Category: "commit", Currency: "EUR", Amount: 1000, TimeZone: "UTC"})
	}
	b.Aggregates = []schemas.AggregateRows{
		{Table: schemas.TableLeadResponseProvisional, Rows: prov},
		{Table: schemas.TableLeadResponse, Rows: leads},
		{Table: schemas.TableActivity, Rows: schemas.ActivityRows{{Day: day, TeamID: "t1", RepID: "r1", Channel: "phone",
			Type: "call.completed", Direction: "outbound", Interactions: uint64(n)}}},
		{Table: schemas.TableForecasts, Rows: fcs},
		{Table: schemas.TableRepAccounts, Rows: accts},
	}
	return b
}

// derivedSink is s.Derived() with a linger long enough that only Flush
// closes a group: each Submit writes the per-batch tables first, which
// may take longer than the default linger on a loaded machine.
func derivedSink(s *Sink) *GroupedSink {
	s.cfg.GroupLinger = time.Minute
	return s.Derived()
}

// activityStored checks that activity_daily, its rollup and its
// receipts count each batch's activity once: want interactions in all.
func activityStored(t *testing.T, s *Sink, want uint64, when string) {
	t.Helper()
	db := s.cfg.Database
	for _, q := range []string{
		"SELECT toUInt64(sum(interactions)) FROM " + db + ".activity_daily",
		"SELECT toUInt64(sum(interactions)) FROM " + db + ".rep_activity_daily",
	} {
		if n := queryUint(t, s, q); n != want {
			t.Errorf("%s: %s = %d, want %d", when, q, n, want)
		}
	}
	q := "SELECT count() FROM (SELECT kafka_topic, kafka_partition, kafka_first_offset, month, count() AS n FROM " + db +
		".activity_receipts GROUP BY ALL HAVING n > 1)"
	if n := queryUint(t, s, q); n != 0 {
		t.Errorf("%s: %d receipts stored twice", when, n)
	}
}

// uniqAccounts is the number of distinct accounts in rep_accounts_daily.
func uniqAccounts(t *testing.T, s *Sink) uint64 {
	t.Helper()
	return queryUint(t, s, "SELECT uniqExact(account_id) FROM "+s.cfg.Database+".rep_accounts_daily")
}

func tableParts(t *testing.T, s *Sink, table string) uint64 {
	t.Helper()
	return queryUint(t, s, "SELECT count() FROM system.parts WHERE database = '"+s.cfg.Database+"' AND table = '"+table+"' AND active")
}

func stopMerges(t *testing.T, s *Sink, tables ...string) {
	t.Helper()
	for _, table := range tables {
		if err := s.conn.Exec(context.Background(), "SYSTEM STOP MERGES "+s.cfg.Database+"."+table); err != nil {
			t.Fatal(err)
		}
	}
}

// derivedStored checks what the derived tables hold after the batches of
// leads lead responses (each also provisional) and fcs forecasts: the
// facts once, their rollup counting each once, the provisional rows once
// under FINAL.
func derivedStored(t *testing.T, s *Sink, leads, fcs uint64, when string) {
	t.Helper()
	db := s.cfg.Database
	for q, want := range map[string]uint64{
		"SELECT count() FROM " + db + ".lead_response_facts":                                                   leads,
		"SELECT uniqExact(trigger_event_id) FROM " + db + ".lead_response_facts":                               leads,
		"SELECT toUInt64(sum(leads)) FROM " + db + ".lead_response_daily":                                      leads,
		"SELECT count() FROM " + db + ".forecast_facts":                                                        fcs,
		"SELECT count() FROM " + db + ".lead_response_provisional FINAL":                                       leads,
		"SELECT count() FROM (SELECT DISTINCT day, rep_id, account_id FROM " + db + ".rep_accounts_daily)":     fcs,
		"SELECT toUInt64(uniqMerge(accounts)) FROM " + db + ".rep_accounts_monthly":                            uniqAccounts(t, s),
		"SELECT count() FROM " + db + ".lead_response_facts WHERE kafka_topic != 'leads.v1'":                   0,
		"SELECT count() FROM " + db + ".lead_response_facts WHERE kafka_last_offset != kafka_first_offset + 9": 0,
	} {
		if n := queryUint(t, s, q); n != want {
			t.Errorf("%s: %s = %d, want %d", when, q, n, want)
		}
	}
}

// The leads flow's sink groups the facts of batches of several partitions
// into one insert per table and partition, each one part, with each row's
// own batch's origin, activity_daily too (its receipts say what is stored).
func TestDerivedGroupedRoundTrip(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	stopMerges(t, s, schemas.TableLeadResponse, schemas.TableForecasts, schemas.TableLeadResponseProvisional, "lead_response_daily", schemas.TableActivity)
	g := derivedSink(s)
	feb := day.Add(-24 * time.Hour)
	jan2025 := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	bs := []*schemas.Batch{
		derivedBatch(0, 0, 40, day),
		derivedBatch(1, 100, 30, day, feb), // two months of one table in one batch
		derivedBatch(2, 7, 20, day, jan2025),
		batchOf("leads.v1", 0, 10, nil), // nothing derived: done at once
	}
	bs[3].Origin.LastOffset = 19
	for k, err := range submitAll(t, g, bs...) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	// 40 + 2*30 + 2*20 responses; forecasts 1 + 2 + 2.
	derivedStored(t, s, 140, 5, "")
	activityStored(t, s, 90, "")
	for table, want := range map[string]uint64{
		TableInteractions:                    0, // the ingest flow's
		schemas.TableLeadResponseProvisional: 1, // unpartitioned
		schemas.TableLeadResponse:            3, // 2025-12, 2026-02, 2026-03
		schemas.TableForecasts:               2, // 2025, 2026
		schemas.TableActivity:                1, // one month
		schemas.TableRepAccounts:             3, // as lead_response_facts
	} {
		if n := insertCount(t, reg, table); n != want {
			t.Errorf("%d inserts into %s, want %d", n, table, want)
		}
		if table == TableInteractions {
			continue
		}
		if n := tableParts(t, s, table); n != want {
			t.Errorf("%s: %d parts, want %d: a grouped insert must be one part", table, n, want)
		}
	}
	// Every row carries its batch's origin.
	got := queryUint(t, s, "SELECT count() FROM "+db+".lead_response_facts WHERE kafka_partition = 1 AND kafka_first_offset = 100")
	if got != 60 {
		t.Fatalf("%d rows of partition 1's batch, want 60", got)
	}
	// A retry of the same group is dropped by its tokens.
	again := []*schemas.Batch{derivedBatch(2, 7, 20, day, jan2025), derivedBatch(0, 0, 40, day), derivedBatch(1, 100, 30, day, feb)}
	submitAll(t, g, again...)
	derivedStored(t, s, 140, 5, "after a retry")
	activityStored(t, s, 90, "after a retry")
}

// A replayed batch (MaybeStored) whose facts an earlier group stored is
// not inserted again into the append-only tables nor their rollup,
// though its new group has other tokens; its provisional rows are
// inserted again and FINAL reads the same rows as before.
func TestDerivedGroupedReplay(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	ctx := context.Background()
	g := derivedSink(s)
	a, b := derivedBatch(0, 0, 30, day), derivedBatch(1, 0, 20, day)
	submitAll(t, g, a, b)
	// The merge folds a's and b's activity (same rep, day and kind) into
	// one row with one origin: only the receipts still name both.
	if err := s.conn.Exec(ctx, "OPTIMIZE TABLE "+db+".activity_daily FINAL"); err != nil {
		t.Fatal(err)
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".activity_daily"); n != 1 {
		t.Fatalf("%d activity rows after OPTIMIZE FINAL, want 1: the test shows nothing", n)
	}
	final := func() string {
		var v string
		q := "SELECT toString(groupArray(tuple(*))) FROM (SELECT * FROM " + db + ".lead_response_provisional FINAL ORDER BY ALL)"
		if err := s.conn.QueryRow(ctx, q).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	replayA := derivedBatch(0, 0, 30, day)
	replayA.MaybeStored = true
	unstored := derivedBatch(2, 0, 10, day)
	unstored.MaybeStored = true // cut by a plan, but never stored
	fresh := derivedBatch(1, 10, 5, day)
	for k, err := range submitAll(t, g, replayA, unstored, fresh) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	derivedStored(t, s, 65, 4, "")
	activityStored(t, s, 65, "")
	wantSkipped(t, reg, map[string]int{"activity_daily": 1, "forecast_facts": 1, "lead_response_facts": 30})
	// The same batches again, replayed: their provisional rows are
	// inserted again (nothing looked up), and FINAL reads the same rows.
	before := final()
	raw := queryUint(t, s, "SELECT count() FROM "+db+".lead_response_provisional")
	var again []*schemas.Batch
	for _, b := range []*schemas.Batch{derivedBatch(1, 0, 20, day), derivedBatch(0, 0, 30, day), derivedBatch(2, 0, 10, day)} {
		b.MaybeStored = true
		again = append(again, b)
	}
	submitAll(t, derivedSink(s), again...)
	// The three replayed batches share one group, whose members no group
	// had before, so its token is new and their 60 provisional rows are
	// inserted again.
	if n := queryUint(t, s, "SELECT count() FROM "+db+".lead_response_provisional"); n != raw+60 {
		t.Fatalf("%d provisional rows before FINAL, want %d: the replay's are inserted again", n, raw+60)
	}
	if after := final(); after != before {
		t.Fatalf("FINAL after the replay:\n%s\nbefore:\n%s", after, before)
	}
	derivedStored(t, s, 65, 4, "after the second replay")
	activityStored(t, s, 65, "after the second replay")
}

// The rows a stage hands out may be overwritten by its next batch (the
// window stage reuses its buffers) while the batch waits in a group: the
// sink keeps its own copy, pointer fields included.
func TestDerivedGroupedCopiesRows(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	g := derivedSink(s)
	b := derivedBatch(0, 0, 5, day)
	errc := make(chan error, 1)
	g.Submit(context.Background(), b, func(err error) { errc <- err })
	for _, a := range b.Aggregates {
		if rs, ok := a.Rows.(schemas.LeadResponseRows); ok {
			for k := range rs {
				*rs[k].ResponseS = -1
				rs[k].TriggerEventID = "overwritten"
			}
		}
	}
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".lead_response_facts WHERE response_s > 0 AND trigger_event_id != 'overwritten'"); n != 5 {
		t.Fatalf("%d of 5 rows as handed over", n)
	}
}

// A batch whose facts a binary before migration 015 stored (per batch,
// under the batch's own token, without origins) and that comes again as a
// replay is not found by the lookup, so it goes in an insert of its own
// under that token, which ClickHouse drops.
func TestDerivedGroupedReplayOfPerBatchInsert(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	ctx := context.Background()
	old := derivedBatch(0, 0, 8, day)
	for _, a := range old.Aggregates {
		l := kbiLayouts[a.Table]
		if l.group.class != appendOnly {
			continue
		}
		// No origin in the rows, the batch's own token.
		if err := s.insertDerivedPart(ctx, a.Table, []derivedPart{{rows: a.Rows}}, old.Origin.DedupToken(a.Table)); err != nil {
			t.Fatal(err)
		}
	}
	replay := derivedBatch(0, 0, 8, day)
	replay.MaybeStored = true
	for k, err := range submitAll(t, derivedSink(s), replay, derivedBatch(1, 0, 4, day)) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".lead_response_facts"); n != 12 {
		t.Fatalf("%d lead responses, want 12", n)
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".forecast_facts"); n != 2 {
		t.Fatalf("%d forecasts, want 2", n)
	}
	activityStored(t, s, 12, "")
}

// Every table a group inserts has its place in the insert order, and
// the append-only ones have origins to be looked up by.
func TestGroupedTablesComplete(t *testing.T) {
	for table, l := range kbiLayouts {
		if l.group.class == perBatch {
			continue
		}
		if !slices.Contains(groupedTables, table) {
			t.Errorf("%s is grouped but not in groupedTables", table)
		}
		if l.group.class == appendOnly && (l.group.partExpr == "" || !slices.Equal(l.cols[len(l.cols)-len(originColumns):], originColumns)) {
			t.Errorf("%s: append-only without partition key or origin columns", table)
		}
	}
}

// With leads.disabled one flow stores both: Grouped puts a batch's
// interactions and its grouped facts in the same group, and a replay
// skips what each table holds of it.
func TestGroupedRawAndDerived(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	s.cfg.GroupLinger = time.Minute
	g := s.Grouped()
	a, b := derivedBatch(0, 0, 10, day), derivedBatch(1, 0, 20, day)
	submitAll(t, g, a, b)
	replay := derivedBatch(0, 0, 10, day)
	replay.MaybeStored = true
	for k, err := range submitAll(t, g, replay, derivedBatch(2, 0, 5, day)) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	wantStored(t, s, 9, "") // 3 interactions per batch, the replay's skipped
	derivedStored(t, s, 35, 3, "")
	activityStored(t, s, 35, "")
}

// Each flow's groups close full at their own bound: derived_group_max_rows
// for the leads flow (Derived), group_max_rows for the ingest flow
// (Grouped). With the lingers at a minute, only the bound or Flush closes
// a group.
func TestGroupMaxRowsPerFlow(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig(srv.addr, db)
	cfg.GroupLinger, cfg.DerivedGroupLinger = time.Minute, time.Minute
	cfg.GroupMaxRows, cfg.DerivedGroupMaxRows = 1_000_000, 50
	ctx := context.Background()
	s, err := NewSink(ctx, cfg, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// 40 responses, 40 provisional, an activity row, a forecast and an
	// account: over 50 rows, so the leads flow's group closes on Submit.
	got := make(chan error, 1)
	s.Derived().Submit(ctx, derivedBatch(0, 0, 40, day), func(err error) { got <- err })
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the leads flow's group did not close at derived_group_max_rows")
	}
	// 300 interactions are far below group_max_rows: only Flush inserts them.
	g := s.Grouped()
	for k, err := range submitAll(t, g, batchOf("interactions.v1", 0, 0, genInteractions(1, 300, day))) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	want := `# HELP salespulse_clickhouse_groups_closed_total Groups of batches closed for insert, by flow (ingest: Sink.Grouped, leads: Sink.Derived) and reason: full (clickhouse.group_max_rows; derived_group_max_rows for leads), linger (its linger passed and no insert was in flight), flush (drain or shutdown), replay (a replayed batch kept apart from its earlier attempt).
# TYPE salespulse_clickhouse_groups_closed_total counter
salespulse_clickhouse_groups_closed_total{flow="ingest",reason="flush"} 1
salespulse_clickhouse_groups_closed_total{flow="leads",reason="full"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "salespulse_clickhouse_groups_closed_total"); err != nil {
		t.Fatal(err)
	}
}
