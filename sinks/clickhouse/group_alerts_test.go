package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// alertBatch is a leads-flow batch of partition part at offset first
// whose detectors fired n alerts.
func alertBatch(part int32, first int64, n int) *schemas.Batch {
	b := batchOf("leads.v1", part, first, nil)
	b.Origin.LastOffset = first + 9
	for k := range n {
		b.Alerts = append(b.Alerts, schemas.Alert{ID: fmt.Sprintf("a-%d-%d-%d", part, first, k), Rule: "discount_beyond_authority",
			State: schemas.AlertFiring, Severity: schemas.SeverityCritical, RepID: "r1", TeamID: "t1",
			At: day.Add(time.Duration(part)*time.Hour + time.Duration(k)*time.Minute), EventIDs: []string{"e1"}})
	}
	return b
}

// The alerts of a group's batches go in one insert. A replayed batch's
// transitions already in alert_transitions are left out, though its
// group is another (so is its token); a repeat of the same transitions
// is dropped by their token. alerts, alert_transitions and their team
// copies then hold each transition once.
func TestDerivedGroupedAlerts(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	stored := func(want uint64, when string) {
		t.Helper()
		for _, q := range []string{
			"SELECT count() FROM " + db + ".alert_transitions",
			"SELECT count() FROM " + db + ".alert_transitions_team",
			"SELECT uniqExact(id, version) FROM " + db + ".alert_transitions",
			"SELECT count() FROM " + db + ".alerts FINAL",
			"SELECT count() FROM " + db + ".alerts_team FINAL",
		} {
			if n := queryUint(t, s, q); n != want {
				t.Errorf("%s: %s = %d, want %d", when, q, n, want)
			}
		}
	}
	g := derivedSink(s)
	for k, err := range submitAll(t, g, alertBatch(0, 0, 2), alertBatch(1, 0, 3), alertBatch(2, 0, 0)) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	stored(5, "first")
	if n := insertCount(t, reg, TableAlerts); n != 1 {
		t.Fatalf("%d inserts into alerts, want 1 for the group", n)
	}

	// Partition 0's batch replayed beside a new one; partition 3's, whose
	// first alert alone a binary that wrote per batch stored before it
	// died, replayed too.
	partial := alertBatch(3, 0, 1)
	if err := s.Write(context.Background(), partial); err != nil {
		t.Fatal(err)
	}
	replayA, replayP := alertBatch(0, 0, 2), alertBatch(3, 0, 2)
	replayA.MaybeStored, replayP.MaybeStored = true, true
	for k, err := range submitAll(t, derivedSink(s), replayA, alertBatch(1, 10, 1), replayP) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	stored(8, "after the replay") // 5 + partition 3's two + the new one
	wantSkipped(t, reg, map[string]int{"alerts": 3})

	// The first group again, not marked as a replay (a retry of the same
	// insert): its token drops it.
	submitAll(t, derivedSink(s), alertBatch(0, 0, 2), alertBatch(1, 0, 3))
	stored(8, "after a retry")
}

// A restart's replay can carry thousands of alert transitions: the
// lookup splits its keys so that no query exceeds the server's
// max_query_size (a 6,828-key lookup did, in tests/fault kill9).
func TestDerivedGroupedAlertsReplayMany(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	reg := prometheus.NewPedanticRegistry()
	s := newTestSink(t, srv.addr, db, reg)
	many := func() *schemas.Batch {
		b := alertBatch(0, 0, 10_000)
		for k := range b.Alerts {
			b.Alerts[k].ID = fmt.Sprintf("%032x", k) // as long as the detectors' ids
		}
		return b
	}
	submitAll(t, derivedSink(s), many())
	replay := many()
	replay.MaybeStored = true
	for k, err := range submitAll(t, derivedSink(s), replay) {
		if err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	if n := queryUint(t, s, "SELECT count() FROM "+db+".alert_transitions"); n != 10_000 {
		t.Fatalf("%d transitions, want 10000", n)
	}
	if n := testutil.ToFloat64(s.m.skipped.WithLabelValues(TableAlerts)); n != 10_000 {
		t.Fatalf("%v transitions skipped, want 10000", n)
	}
}
