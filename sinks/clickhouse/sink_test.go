package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// genInteractions returns n valid, normalised interactions, deterministic
// in seed, spread over day starting at base: every type, channel and
// optional-field combination appears in a few hundred rows.
func genInteractions(seed uint64, n int, base time.Time) []schemas.Interaction {
	r := rand.New(rand.NewPCG(seed, 42))
	types := schemas.Types()
	out := make([]schemas.Interaction, n)
	for k := range out {
		i := &out[k]
		i.EventID = fmt.Sprintf("ev-%d-%d", seed, k)
		i.OccurredAt = base.Add(time.Duration(r.Int64N(int64(24 * time.Hour)))).Truncate(time.Millisecond)
		i.Source = []string{"salesforce", "hubspot", "zoom", "aircall", "canonical"}[r.IntN(5)]
		i.Type = types[r.IntN(len(types))]
		i.RepID = fmt.Sprintf("rep-%d", r.IntN(40))
		i.TeamID = fmt.Sprintf("team-%d", r.IntN(5))
		i.AccountID = fmt.Sprintf("acct-%d", r.IntN(500))
		if r.IntN(2) == 0 {
			i.LeadID = fmt.Sprintf("lead-%d", r.IntN(2000))
		}
		if i.Type == schemas.TypeApprovalRequested || i.Type == schemas.TypeApprovalDecided {
			i.ApprovalID = fmt.Sprintf("appr-%d", r.IntN(100))
			i.ApproverID = "mgr-1"
		}
		if i.Type == schemas.TypeApprovalDecided {
			i.Has |= schemas.HasApproved
			i.Approved = r.IntN(2) == 0
		}
		if i.Type == schemas.TypeOpportunityStageChanged {
			i.Stage = "Negotiation/Review"
		}
		if r.IntN(3) == 0 {
			i.Has |= schemas.HasDuration
			i.DurationS = float64(r.IntN(3600)) + 0.25
		}
		if r.IntN(4) == 0 {
			i.Has |= schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount
			i.Currency = "EUR"
			i.ListPrice = float64(r.IntN(100000)) + 0.5
			i.DiscountPct = float64(r.IntN(40))
			i.Amount = i.ListPrice * (1 - i.DiscountPct/100)
		}
		i.ContactKey = fmt.Sprintf("ck-%d", r.IntN(300))
		// Identity keys from the row number, so the random draws (and every
		// other test's data) stay as they were.
		if k%2 == 0 {
			i.Keys.Email = "ek-" + i.ContactKey[3:]
		}
		if k%3 == 0 {
			i.Keys.Phone = fmt.Sprintf("pk-%d", k%50)
		}
		if k%7 == 0 {
			i.Keys.Mobile = fmt.Sprintf("mk-%d", k%20)
		}
		if r.IntN(5) == 0 {
			i.Attributes = map[string]string{"campaign": "spring", "utm": fmt.Sprint(r.IntN(9))}
		}
		i.Normalize()
	}
	return out
}

var day = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func batchOf(topic string, part int32, first int64, rows []schemas.Interaction) *schemas.Batch {
	b := schemas.NewBatch(schemas.Origin{Topic: topic, Partition: part, FirstOffset: first, LastOffset: first + int64(len(rows)) - 1}, nil)
	b.Interactions = rows
	return b
}

func TestMigrationsIdempotent(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s1 := newTestSink(t, srv.addr, db, nil)
	s2 := newTestSink(t, srv.addr, db, nil) // second start: nothing to apply, nothing duplicated

	rows, err := s2.conn.Query(context.Background(), "SELECT version, name, checksum FROM "+db+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v uint32
		var name, sum string
		if err := rows.Scan(&v, &name, &sum); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", v, name, sum))
	}
	rows.Close()
	var want []string
	for _, m := range schemas.Migrations() {
		want = append(want, fmt.Sprintf("%d %s %s", m.Version, m.Name, m.Checksum))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("schema_migrations (no FINAL, so duplicates would show):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every CREATE in the migrations, plus schema_migrations itself: a
	// migration that silently skipped a statement shows up here.
	creates := regexp.MustCompile(`(?i)\bCREATE\s+(TABLE|MATERIALIZED\s+VIEW|VIEW)\b`)
	wantTables := uint64(1)
	for _, m := range schemas.Migrations() {
		wantTables += uint64(len(creates.FindAllString(m.SQL, -1)))
	}
	tables := queryUint(t, s1, "SELECT count() FROM system.tables WHERE database = '"+db+"'")
	if tables != wantTables {
		t.Fatalf("tables in %s: %d, want %d (one per CREATE in the migrations, plus schema_migrations)", db, tables, wantTables)
	}
}

func TestMigrationChecksumMismatch(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	// Somebody edited 002 after it was applied: a later record with another checksum.
	if err := s.conn.Exec(context.Background(), "INSERT INTO "+db+".schema_migrations VALUES (2, 'activity_per_minute', 'edited', '2030-01-01 00:00:00')"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := NewSink(ctx, testConfig(srv.addr, db), nil, testLogger(t))
	if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "002_activity_per_minute") {
		t.Fatalf("want ErrChecksumMismatch naming 002_activity_per_minute, got %v", err)
	}
}

func TestMigrateFalseRequiresAppliedSchema(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	newTestSink(t, srv.addr, db, nil) // migrates db
	cfg := testConfig(srv.addr, db+"_other")
	no := false
	cfg.Migrate = &no
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// No schema_migrations table at all: UNKNOWN_DATABASE is not retryable.
	if _, err := NewSink(ctx, cfg, nil, testLogger(t)); err == nil {
		t.Fatal("migrate: false on an empty server: want error")
	}
	cfg.Database = db // migrated by newTestSink above
	s, err := NewSink(ctx, cfg, nil, testLogger(t))
	if err != nil {
		t.Fatalf("migrate: false on a migrated database: %v", err)
	}
	s.Close()
}

// The column lists the sink hands clickhouse-go must be exactly what the
// migrations created, or HTTP inserts would encode the wrong types.
func TestColumnTypesMatchDDL(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	for table, cols := range map[string][]string{
		TableInteractions: names(interactionColumns, true), TableLateEvents: names(lateColumns, true), TableAlerts: names(alertColumns, true),
		schemas.TableLeadResponse:            names(kbiLayouts[schemas.TableLeadResponse].cols, true),
		schemas.TableApprovals:               names(kbiLayouts[schemas.TableApprovals].cols, true),
		schemas.TableActivity:                names(kbiLayouts[schemas.TableActivity].cols, true),
		schemas.TableRepAccounts:             names(kbiLayouts[schemas.TableRepAccounts].cols, true),
		schemas.TableDeals:                   names(kbiLayouts[schemas.TableDeals].cols, true),
		schemas.TableForecasts:               names(kbiLayouts[schemas.TableForecasts].cols, true),
		TableTeamTargets:                     names(teamTargetCols, true),
		schemas.TableLeadResponseProvisional: names(kbiLayouts[schemas.TableLeadResponseProvisional].cols, true),
		schemas.TableApprovalsProvisional:    names(kbiLayouts[schemas.TableApprovalsProvisional].cols, true),
		schemas.TableDealFeatures:            names(kbiLayouts[schemas.TableDealFeatures].cols, true),
		schemas.TableDealScores:              names(kbiLayouts[schemas.TableDealScores].cols, true),
	} {
		rows, err := s.conn.Query(context.Background(), "SELECT name, type FROM system.columns WHERE database = ? AND table = ? ORDER BY position", db, table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n, typ string
			if err := rows.Scan(&n, &typ); err != nil {
				t.Fatal(err)
			}
			got = append(got, n+" "+typ)
		}
		rows.Close()
		if !slices.Equal(got, cols) {
			t.Errorf("%s columns:\n got %q\nwant %q", table, got, cols)
		}
	}
}

func names(cols []clickhouseColumn, withType bool) []string {
	var out []string
	for _, c := range cols {
		if withType {
			out = append(out, c.Name+" "+c.Type)
		} else {
			out = append(out, c.Name)
		}
	}
	return out
}

// Every column of every table round-trips the exact values written.
func TestWriteRoundTrip(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	rows := genInteractions(1, 500, day)
	// Edge values: every optional absent; every optional present with zero.
	rows[0].Has, rows[0].Attributes, rows[0].ContactKey, rows[0].Keys = 0, nil, "", schemas.ContactKeys{}
	rows[1].Has = schemas.HasDuration | schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount | schemas.HasApproved
	rows[1].DurationS, rows[1].Amount, rows[1].ListPrice, rows[1].DiscountPct, rows[1].Approved = 0, 0, 0, 0, false
	rows[2].Attributes = map[string]string{"quote": `it's a "test" \ with ünïcode`, "": "empty key"}
	b := batchOf("interactions.v1", 3, 1000, rows)
	b.Late = genInteractions(2, 20, day.Add(-48*time.Hour))
	b.Alerts = []schemas.Alert{
		{ID: "a1", Rule: "discount_beyond_authority", State: schemas.AlertFiring, Severity: schemas.SeverityCritical,
			RepID: "rep-1", TeamID: "team-1", ManagerID: "mgr-1", Summary: "Discount 35% above authority 20%",
			EventIDs: []string{"ev-1-4", "ev-1-9"}, Values: map[string]string{"discount_pct": "35", "limit": "20"},
			At: day.Add(time.Hour + 123*time.Millisecond)},
		{ID: "a2", Rule: "lead_response_sla", State: schemas.AlertResolved, Severity: schemas.SeverityWarning,
			At: day.Add(2 * time.Hour), EndsAt: day.Add(3 * time.Hour)},
	}
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	check := func(table string, want []schemas.Interaction, late bool) {
		t.Helper()
		q := "SELECT " + strings.Join(names(interactionColumns, false), ", ")
		if late {
			q += ", reason"
		}
		r, err := s.conn.Query(context.Background(), q+" FROM "+db+"."+table+" ORDER BY event_id")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		byID := map[string]*schemas.Interaction{}
		for k := range want {
			byID[want[k].EventID] = &want[k]
		}
		n := 0
		for r.Next() {
			var (
				g                           schemas.Interaction
				typ, dir, ch, topic, reason string
				dur, amount, list, disc     *float64
				approved                    *bool
				ver                         uint8
				part                        int32
				first, last                 int64
				ingested                    time.Time
			)
			dest := []any{&g.EventID, &g.OccurredAt, &g.Source, &typ, &dir, &ch, &g.RepID, &g.TeamID, &g.AccountID,
				&g.LeadID, &g.ApprovalID, &g.ApproverID, &g.Stage, &g.Currency, &dur, &amount, &list, &disc, &approved,
				&g.ContactKey, &g.Keys.Email, &g.Keys.Phone, &g.Keys.Mobile, &g.Attributes, &ver, &topic, &part, &first, &last, &ingested}
			if late {
				dest = append(dest, &reason)
			}
			if err := r.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			n++
			w := byID[g.EventID]
			if w == nil {
				t.Fatalf("%s: unexpected row %s", table, g.EventID)
			}
			opt := func(name string, got *float64, has bool, v float64) {
				if has != (got != nil) || has && *got != v {
					t.Errorf("%s %s %s: got %v want has=%v %v", table, g.EventID, name, got, has, v)
				}
			}
			opt("duration_s", dur, w.Has&schemas.HasDuration != 0, w.DurationS)
			opt("amount", amount, w.Has&schemas.HasAmount != 0, w.Amount)
			opt("list_price", list, w.Has&schemas.HasListPrice != 0, w.ListPrice)
			opt("discount_pct", disc, w.Has&schemas.HasDiscount != 0, w.DiscountPct)
			if hasA := w.Has&schemas.HasApproved != 0; hasA != (approved != nil) || hasA && *approved != w.Approved {
				t.Errorf("%s %s approved: got %v want %v/%v", table, g.EventID, approved, hasA, w.Approved)
			}
			if len(w.Attributes) == 0 && len(g.Attributes) == 0 {
				g.Attributes = w.Attributes
			}
			g.Type, g.Channel, g.Has = w.Type, w.Channel, w.Has
			g.DurationS, g.Amount, g.ListPrice, g.DiscountPct, g.Approved = w.DurationS, w.Amount, w.ListPrice, w.DiscountPct, w.Approved
			if !g.OccurredAt.Equal(w.OccurredAt) {
				t.Errorf("%s %s occurred_at: got %v want %v", table, g.EventID, g.OccurredAt, w.OccurredAt)
			}
			g.OccurredAt = w.OccurredAt
			if !reflect.DeepEqual(g, *w) {
				t.Errorf("%s %s:\n got %+v\nwant %+v", table, g.EventID, g, *w)
			}
			if typ != w.Type.String() || dir != w.Direction() || ch != w.Channel.String() {
				t.Errorf("%s %s: type/direction/channel %s/%s/%s, want %s/%s/%s", table, g.EventID, typ, dir, ch, w.Type, w.Direction(), w.Channel)
			}
			if ver != schemas.Version || topic != b.Origin.Topic || part != b.Origin.Partition ||
				first != b.Origin.FirstOffset || last != b.Origin.LastOffset || !ingested.Equal(testNow) {
				t.Errorf("%s %s provenance: v%d %s/%d/%d-%d at %v", table, g.EventID, ver, topic, part, first, last, ingested)
			}
			if late && reason != LateReason {
				t.Errorf("%s %s reason %q", table, g.EventID, reason)
			}
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Fatalf("%s: %d rows, want %d", table, n, len(want))
		}
	}
	check(TableInteractions, rows, false)
	check(TableLateEvents, b.Late, true)

	r, err := s.conn.Query(context.Background(), "SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, `values`, at, ends_at, version, ingested_at FROM "+db+".alerts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	k := 0
	for ; r.Next(); k++ {
		var g schemas.Alert
		var state, sev string
		var ends *time.Time
		var version uint64
		var ingested time.Time
		if err := r.Scan(&g.ID, &g.Rule, &state, &sev, &g.RepID, &g.TeamID, &g.ManagerID, &g.Summary, &g.EventIDs, &g.Values, &g.At, &ends, &version, &ingested); err != nil {
			t.Fatal(err)
		}
		w := b.Alerts[k]
		if state != w.State.String() || sev != w.Severity.String() || version != AlertVersion(&w) || !ingested.Equal(testNow) {
			t.Errorf("alert %s: state %s severity %s version %d ingested %v", g.ID, state, sev, version, ingested)
		}
		if w.EndsAt.IsZero() != (ends == nil) || ends != nil && !ends.Equal(w.EndsAt) {
			t.Errorf("alert %s ends_at %v want %v", g.ID, ends, w.EndsAt)
		}
		if !g.At.Equal(w.At) {
			t.Errorf("alert %s at %v want %v", g.ID, g.At, w.At)
		}
		g.State, g.Severity, g.At, g.EndsAt = w.State, w.Severity, w.At, w.EndsAt
		if len(g.EventIDs) == 0 && w.EventIDs == nil {
			g.EventIDs = nil
		}
		if len(g.Values) == 0 && w.Values == nil {
			g.Values = nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("alert:\n got %+v\nwant %+v", g, w)
		}
	}
	if k != len(b.Alerts) {
		t.Fatalf("alerts: %d rows, want %d", k, len(b.Alerts))
	}
}

// rollupTotal is the activity rollup's count of interactions.
func rollupTotal(t *testing.T, s *Sink) uint64 {
	return queryUint(t, s, "SELECT sum(interactions) FROM "+s.cfg.Database+".activity_per_minute")
}

// A batch replayed with the same Origin (a redelivery after a crash) changes
// nothing anywhere; a new Origin adds rows; and the rollup always totals the
// raw row count.
func TestWriteReplayIsDeduplicated(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	ctx := context.Background()
	raw := func() uint64 { return queryUint(t, s, "SELECT count() FROM "+db+".interactions") }
	expect := func(step string, wantRaw, wantLate, wantAlerts uint64) {
		t.Helper()
		gotRaw, gotRollup := raw(), rollupTotal(t, s)
		gotLate := queryUint(t, s, "SELECT count() FROM "+db+".late_events")
		gotAlerts := queryUint(t, s, "SELECT count() FROM "+db+".alerts")
		if gotRaw != wantRaw || gotRollup != wantRaw || gotLate != wantLate || gotAlerts != wantAlerts {
			t.Fatalf("%s: interactions %d rollup %d late %d alerts %d, want %d %d %d %d",
				step, gotRaw, gotRollup, gotLate, gotAlerts, wantRaw, wantRaw, wantLate, wantAlerts)
		}
	}
	// The rollup's duration sum must match too, to the cent.
	checkDuration := func() {
		t.Helper()
		var a, b float64
		if err := s.conn.QueryRow(ctx, "SELECT round(sum(ifNull(duration_s, 0)), 2) FROM "+db+".interactions").Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := s.conn.QueryRow(ctx, "SELECT round(sum(duration_s), 2) FROM "+db+".activity_per_minute").Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a != b || a == 0 {
			t.Fatalf("duration: raw %v rollup %v", a, b)
		}
	}

	rowsA := genInteractions(10, 3000, day)
	a := batchOf("interactions.v1", 0, 0, rowsA)
	a.Late = genInteractions(11, 7, day.Add(-72*time.Hour))
	a.Alerts = []schemas.Alert{{ID: "x", Rule: "r", At: day}}
	if err := s.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	expect("first write", 3000, 7, 1)
	checkDuration()

	replay := batchOf("interactions.v1", 0, 0, genInteractions(10, 3000, day)) // decoded again from the same offsets
	replay.Late = genInteractions(11, 7, day.Add(-72*time.Hour))
	replay.Alerts = []schemas.Alert{{ID: "x", Rule: "r", At: day}}
	for range 2 {
		if err := s.Write(ctx, replay); err != nil {
			t.Fatal(err)
		}
	}
	expect("after two replays", 3000, 7, 1)

	b := batchOf("interactions.v1", 0, 3000, genInteractions(12, 2000, day))
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	expect("next offsets", 5000, 7, 1)
	c := batchOf("interactions.v1", 1, 0, genInteractions(13, 1000, day)) // other partition, same offsets
	if err := s.Write(ctx, c); err != nil {
		t.Fatal(err)
	}
	expect("other partition", 6000, 7, 1)
	checkDuration()

	// The same events re-produced at new offsets (a producer retry) are new
	// blocks: counted raw and in the rollup, collapsed by FINAL on event_id.
	d := batchOf("interactions.v1", 0, 5000, genInteractions(12, 2000, day))
	if err := s.Write(ctx, d); err != nil {
		t.Fatal(err)
	}
	expect("re-produced events", 8000, 7, 1)
	if n := queryUint(t, s, "SELECT count() FROM "+db+".interactions FINAL"); n != 6000 {
		t.Fatalf("FINAL: %d distinct events, want 6000", n)
	}

	// rows_inserted counts what ClickHouse acknowledged, replays included.
	want := `
# HELP salespulse_clickhouse_rows_inserted_total Rows acknowledged by ClickHouse per table (replayed blocks ClickHouse deduplicated are counted too).
# TYPE salespulse_clickhouse_rows_inserted_total counter
salespulse_clickhouse_rows_inserted_total{table="alerts"} 3
salespulse_clickhouse_rows_inserted_total{table="interactions"} 14000
salespulse_clickhouse_rows_inserted_total{table="late_events"} 21
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "salespulse_clickhouse_rows_inserted_total"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.m.up); got != 1 {
		t.Fatalf("up = %v", got)
	}
}

func TestEraseSubject(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	ctx := context.Background()
	rows := genInteractions(20, 2000, day)
	b := batchOf("interactions.v1", 0, 0, rows)
	b.Late = genInteractions(21, 300, day.Add(-72*time.Hour))
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	// A contact key, identity keys of each kind (a row is erased once
	// however many of its keys match), and keys that match nothing.
	keys := []string{"ck-7", "ck-42", "ek-42", "pk-9", "mk-13", "ck-does-not-exist", `ck-'quoted\`}
	want, viaIdentity := 0, 0
	for _, r := range slices.Concat(rows, b.Late) {
		switch {
		case slices.Contains(keys, r.ContactKey):
			want++
		case slices.Contains(keys, r.Keys.Email) || slices.Contains(keys, r.Keys.Phone) || slices.Contains(keys, r.Keys.Mobile):
			want++
			viaIdentity++
		}
	}
	if viaIdentity == 0 {
		t.Fatal("test data has no rows found only by an identity key")
	}
	if want == 0 {
		t.Fatal("test data has no rows for the keys")
	}
	n, err := s.EraseSubject(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("erased %d rows, want %d", n, want)
	}
	left := queryUint(t, s, "SELECT count() FROM "+db+".interactions") + queryUint(t, s, "SELECT count() FROM "+db+".late_events")
	if int(left) != len(rows)+len(b.Late)-want {
		t.Fatalf("%d rows left, want %d", left, len(rows)+len(b.Late)-want)
	}
	if n, err := s.EraseSubject(ctx, keys); err != nil || n != 0 {
		t.Fatalf("second erasure: %d, %v", n, err)
	}
}

// A Write while ClickHouse is down retries until it is back, and then the
// data is really there; cancelled while still down, it returns the context
// error and has stored nothing.
func TestWriteRetriesThroughOutage(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := s.Write(ctx, batchOf("interactions.v1", 0, 0, genInteractions(30, 100, day)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write while down: want context.DeadlineExceeded, got %v", err)
	}
	if testutil.ToFloat64(s.m.up) != 0 {
		t.Fatal("up should be 0 while the server is down")
	}
	retries := testutil.CollectAndCount(s.m.retries)
	if retries == 0 {
		t.Fatal("no retries counted")
	}

	done := make(chan error, 1)
	go func() {
		done <- s.Write(context.Background(), batchOf("interactions.v1", 0, 100, genInteractions(31, 250, day)))
	}()
	time.Sleep(200 * time.Millisecond) // a few failed attempts
	select {
	case err := <-done:
		t.Fatalf("write returned while the server was down: %v", err)
	default:
	}
	srv.Start(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write after recovery: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("write did not finish after the server came back")
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".interactions"); n != 250 {
		t.Fatalf("interactions: %d rows, want 250 (the cancelled batch must not be there)", n)
	}
	if testutil.ToFloat64(s.m.up) != 1 {
		t.Fatal("up should be 1 after recovery")
	}
}

// A non-retryable error (the server answers, the insert is wrong) is
// returned at once instead of blocking the partition.
func TestWriteNonRetryableReturnsAtOnce(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	b := batchOf("interactions.v1", 0, 0, genInteractions(40, 10, day))
	accounts := schemas.AccountRows{{Day: day, TeamID: "t1", RepID: "r1", AccountID: "a1"}}
	b.Aggregates = []schemas.AggregateRows{{Table: "no_such_rollup", Rows: accounts}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Write(ctx, b); !errors.Is(err, ErrUnknownAggregate) {
		t.Fatalf("aggregate table without a layout: %v", err)
	}
	b.Aggregates = []schemas.AggregateRows{{Table: schemas.TableDeals, Rows: accounts}}
	if err := s.Write(ctx, b); !errors.Is(err, ErrUnknownAggregate) {
		t.Fatalf("rows of another table's type: %v", err)
	}
	// The table the layout names is gone on the server: UNKNOWN_TABLE.
	// (The KBI views read it; they are not queried here.)
	if err := s.conn.Exec(clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"check_table_dependencies": 0})),
		"DROP TABLE "+db+"."+schemas.TableRepAccounts); err != nil {
		t.Fatal(err)
	}
	b.Aggregates = []schemas.AggregateRows{{Table: schemas.TableRepAccounts, Rows: accounts}}
	start := time.Now()
	err := s.Write(ctx, b)
	var ex *clickhouseException
	if !errors.As(err, &ex) || ex.Code != 60 || retryable(err) {
		t.Fatalf("insert into a missing table: want UNKNOWN_TABLE (60), got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("non-retryable error took %v", time.Since(start))
	}
	if n := testutil.ToFloat64(s.m.failures.WithLabelValues(schemas.TableRepAccounts, "60")); n != 1 {
		t.Fatalf("failures{table=%s,code=60} = %v, want 1", schemas.TableRepAccounts, n)
	}
	if n := testutil.CollectAndCount(s.m.retries); n != 0 {
		t.Fatalf("%d retry series, want none", n)
	}
}

// Every KBI table takes its rows through the sink's column layout, and a
// replayed batch's rollup rows are dropped like its raw rows.
func TestAggregateInserts(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	ctx := context.Background()
	at := day.Add(9 * time.Hour)
	later := at.Add(90 * time.Second)
	secs, amount := 90.0, 1200.5
	b := batchOf("interactions.v1", 0, 0, nil)
	b.Aggregates = []schemas.AggregateRows{
		{Table: schemas.TableLeadResponse, Rows: schemas.LeadResponseRows{{Day: day, TriggerAt: at, LeadID: "l1", TriggerEventID: "e1",
			TriggerType: "lead.created", TriggerChannel: "crm", OwnerRepID: "r1", TeamID: "t1", TimeZone: "UTC", Answered: true,
			ResponderRepID: "r1", ResponseEventID: "e2", ResponseAt: &later, ResponseType: "call.completed", ResponseChannel: "phone",
			ResponseS: &secs}}},
		{Table: schemas.TableApprovals, Rows: schemas.ApprovalRows{{Day: day, RequestedAt: at, ApprovalID: "p1", RequestEventID: "e3",
			RepID: "r1", TeamID: "t1", TimeZone: "UTC", Outcome: "approved", ApproverID: "m1", DecisionEventID: "e4", DecidedAt: &later, LatencyS: &secs}}},
		{Table: schemas.TableActivity, Rows: schemas.ActivityRows{
			{Day: day, TeamID: "t1", RepID: "r1", Channel: "phone", Type: "call.completed", Direction: "outbound", Interactions: 2, DurationS: 30},
			{Day: day, TeamID: "t1", RepID: "r2", Channel: "email", Type: "email.sent", Direction: "outbound", Interactions: 3},
			{Day: day, TeamID: "t1", RepID: "r1", Channel: "phone", Type: "call.completed", Direction: "outbound", Interactions: 5, DurationS: 60},
		}},
		{Table: schemas.TableRepAccounts, Rows: schemas.AccountRows{{Day: day, TeamID: "t1", RepID: "r1", AccountID: "a1"}}},
		{Table: schemas.TableDeals, Rows: schemas.DealRows{{Day: day, OccurredAt: at, EventID: "e5", Type: "deal.won", RepID: "r1",
			TeamID: "t1", AccountID: "a1", Currency: "EUR", Amount: &amount}}},
	}
	for range 2 { // the replay is dropped
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string]uint64{
		"SELECT sum(interactions) FROM " + db + ".activity_daily WHERE rep_id = 'r1'":                                   7,
		"SELECT count() FROM " + db + ".lead_response_facts WHERE is_answered = 1 AND response_s = 90":                  1,
		"SELECT count() FROM " + db + ".approval_facts WHERE outcome = 'approved' AND decided_at IS NOT NULL":           1,
		"SELECT count() FROM " + db + ".rep_accounts_daily WHERE account_id = 'a1'":                                     1,
		"SELECT count() FROM " + db + ".deal_facts WHERE amount = 1200.5 AND list_price IS NULL AND day = '2026-03-01'": 1,
	} {
		if n := queryUint(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
}

// Provisional rows: a key's highest version counts, a tombstone hides it
// from FINAL and from the views, and the views mark them provisional.
func TestProvisionalRows(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	ctx := context.Background()
	at := day.Add(9 * time.Hour)
	resp := func(lead, trig string, secs float64, version uint64, deleted bool) schemas.LeadResponseProvisionalRow {
		r := schemas.LeadResponseProvisionalRow{LeadResponseRow: schemas.LeadResponseRow{Day: day, TriggerAt: at, LeadID: lead,
			TriggerEventID: trig, TriggerType: "lead.created", TriggerChannel: "crm", OwnerRepID: "r1", TeamID: "t1", TimeZone: "UTC"},
			Version: version, Deleted: deleted}
		if !deleted {
			later := at.Add(time.Duration(secs) * time.Second)
			r.Answered, r.ResponderRepID, r.ResponseEventID, r.ResponseAt, r.ResponseS = true, "r2", trig+"-r", &later, &secs
		}
		return r
	}
	write := func(first int64, leads schemas.LeadResponseProvisionalRows, apprs schemas.ApprovalProvisionalRows) {
		t.Helper()
		b := batchOf("interactions.v1", 0, first, nil)
		b.Origin.LastOffset = first
		b.Aggregates = []schemas.AggregateRows{{Table: schemas.TableLeadResponseProvisional, Rows: leads}}
		if apprs != nil {
			b.Aggregates = append(b.Aggregates, schemas.AggregateRows{Table: schemas.TableApprovalsProvisional, Rows: apprs})
		}
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	secs := 600.0
	write(5, schemas.LeadResponseProvisionalRows{resp("l1", "e1", 120, 5, false), resp("l2", "e2", 60, 5, false)},
		schemas.ApprovalProvisionalRows{{ApprovalRow: schemas.ApprovalRow{Day: day, RequestedAt: at, ApprovalID: "p1",
			RequestEventID: "e3", RepID: "r1", TeamID: "t1", TimeZone: "UTC", Outcome: "approved", ApproverID: "m1",
			DecisionEventID: "e4", DecidedAt: &at, LatencyS: &secs}, Version: 5}})
	// A later batch: l1 answered earlier, l2's pair withdrawn (the same
	// version twice in one insert: the later row wins).
	write(9, schemas.LeadResponseProvisionalRows{resp("l1", "e1", 30, 9, false), resp("l2", "e2", 0, 9, true),
		resp("l3", "e5", 0, 9, true), resp("l3", "e5", 90, 9, false)}, nil)
	for q, want := range map[string]uint64{
		"SELECT count() FROM " + db + ".lead_response_provisional FINAL":                                       2,
		"SELECT toUInt64(sum(response_s)) FROM " + db + ".lead_response_provisional FINAL":                     120,
		"SELECT leads FROM " + db + ".kbi_response_time_daily WHERE provisional = 1":                           2,
		"SELECT toUInt64(response_max_s) FROM " + db + ".kbi_response_time_daily WHERE provisional = 1":        90,
		"SELECT count() FROM " + db + ".kbi_response_time_daily WHERE provisional = 0":                         0,
		"SELECT approved FROM " + db + ".kbi_approvals_daily WHERE provisional = 1 AND decided_within_24h = 1": 1,
	} {
		if n := queryUint(t, s, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
}

type (
	clickhouseColumn    = clickhouse.ColumnNameAndType
	clickhouseException = clickhouse.Exception
)

// Writes from several partitions at once (one goroutine each, as the
// pipeline runs them) share the sink's connections and buffers safely.
func TestConcurrentWrites(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	const parts, batches, rows = 4, 3, 700
	errc := make(chan error, parts)
	for p := range parts {
		go func() {
			for k := range batches {
				b := batchOf("interactions.v1", int32(p), int64(k*rows), genInteractions(uint64(100+p*10+k), rows, day))
				b.Late = genInteractions(uint64(200+p*10+k), 3, day.Add(-72*time.Hour))
				if err := s.Write(context.Background(), b); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range parts {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n, r := queryUint(t, s, "SELECT count() FROM "+db+".interactions"), rollupTotal(t, s); n != parts*batches*rows || r != n {
		t.Fatalf("interactions %d rollup %d, want %d", n, r, parts*batches*rows)
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".late_events"); n != parts*batches*3 {
		t.Fatalf("late_events %d", n)
	}
	// Each (partition, offset range) stored its own event ids: no buffer
	// was shared between concurrent Writes.
	if n := queryUint(t, s, "SELECT count() FROM "+db+".interactions WHERE event_id NOT LIKE concat('ev-', toString(100 + kafka_partition*10 + intDiv(kafka_first_offset, 700)), '-%')"); n != 0 {
		t.Fatalf("%d rows stored with another batch's provenance", n)
	}
}

// alerts keeps each alert's latest state once merged; alert_transitions
// (migration 011) keeps every change, so what fired can still be counted.
func TestAlertTransitionsSurviveMerges(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	a := schemas.Alert{ID: "t1", Rule: "lead_response_sla", State: schemas.AlertFiring, Severity: schemas.SeverityWarning,
		TeamID: "team-1", At: day.Add(time.Hour)}
	b := batchOf("alerts.v1", 0, 0, nil)
	b.Alerts = []schemas.Alert{a}
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	a.State, a.EndsAt = schemas.AlertResolved, day.Add(2*time.Hour)
	b = batchOf("alerts.v1", 0, 1, nil)
	b.Alerts = []schemas.Alert{a}
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.Exec(context.Background(), "OPTIMIZE TABLE "+db+".alerts FINAL"); err != nil {
		t.Fatal(err)
	}
	count := func(q string) uint64 {
		t.Helper()
		var n uint64
		if err := s.conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count("SELECT count() FROM " + db + ".alerts WHERE state = 'firing'"); n != 0 {
		t.Fatalf("alerts still holds %d firing rows after OPTIMIZE FINAL: the test shows nothing", n)
	}
	if n := count("SELECT uniqExact(id) FROM " + db + ".alert_transitions WHERE state = 'firing'"); n != 1 {
		t.Errorf("alert_transitions: %d alerts fired, want 1", n)
	}
	if n := count("SELECT count() FROM " + db + ".alert_transitions"); n != 2 {
		t.Errorf("alert_transitions: %d transitions, want 2 (firing, resolved)", n)
	}
}
