package kbi

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

// TestProvisionalFactsAppearAtOnce: a lead answered (and an approval
// decided) near now is in kbi_response_time_daily (kbi_approvals_daily)
// as a provisional row within seconds of the answer, long before the
// watermark can finalise it; a late, earlier answer corrects it; once a
// later event finalises the pairs, the views hold only final rows, equal
// to the brute force, and the provisional tables nothing.
func TestProvisionalFactsAppearAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := e.conn()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rep, mgr := e.org.Reps[0], e.org.Teams[0].ManagerID
	ids := 0
	ev := func(typ schemas.Type, at time.Duration) schemas.Interaction {
		ids++
		i := schemas.Interaction{EventID: "p-" + string(rune('a'+ids)), OccurredAt: now.Add(at), Source: "canonical", Type: typ,
			RepID: rep.ID, TeamID: rep.TeamID}
		switch typ {
		case schemas.TypeApprovalRequested, schemas.TypeApprovalDecided:
			i.ApprovalID = "appr-p1"
			if typ == schemas.TypeApprovalDecided {
				i.ApproverID, i.Approved, i.Has = mgr, true, schemas.HasApproved
			}
		default:
			i.LeadID = "lead-p1"
		}
		i.Normalize()
		return i
	}
	var sent []delivery // all on partition 0, in produce order
	send := func(evs ...schemas.Interaction) time.Time {
		t.Helper()
		var recs []*kgo.Record
		for _, i := range evs {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: schemas.AppendJSON(nil, &i)})
			sent = append(sent, delivery{ev: i})
		}
		start := time.Now()
		if err := e.admCl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		e.ends[0] = int64(len(sent))
		return start
	}
	// poll waits until q returns want, and says how long that took.
	poll := func(what string, since time.Time, q string, want uint64) {
		t.Helper()
		for {
			var n uint64
			if err := c.QueryRow(ctx, q).Scan(&n); err == nil && n == want {
				t.Logf("%s: queryable %v after it was produced", what, time.Since(since).Round(time.Millisecond))
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %s never returned %d", what, q, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitDone := func() {
		t.Helper()
		for !e.done("gp") {
			if ctx.Err() != nil {
				t.Fatal("not everything was committed in time")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var stop atomic.Bool
	done := make(chan error, 1)
	go func() { done <- e.runUntil(ctx, "gp", -1, 1, stop.Load) }()

	// Trigger and request, then their answers: the watermark stays at the
	// answers, 35 minutes of event time short of finalising them.
	// (The pipeline starts first: the time measured is the answer's.)
	send(ev(schemas.TypeLeadCreated, -10*time.Minute), ev(schemas.TypeApprovalRequested, -10*time.Minute))
	waitDone()
	at := send(ev(schemas.TypeCallOutbound, -4*time.Minute), ev(schemas.TypeApprovalDecided, -3*time.Minute))
	poll("provisional response (360 s)", at, "SELECT toUInt64(sum(response_max_s)) FROM "+e.db+".kbi_response_time_daily WHERE provisional = 1 AND answered = 1", 360)
	poll("provisional approval", at, "SELECT sum(approved) FROM "+e.db+".kbi_approvals_daily WHERE provisional = 1", 1)

	// A late, earlier answer replaces it: one lead, 180 s.
	at = send(ev(schemas.TypeMessageOutbound, -7*time.Minute))
	poll("corrected provisional response (180 s)", at, "SELECT toUInt64(sum(response_max_s)) * 10 + sum(leads) FROM "+e.db+".kbi_response_time_daily WHERE provisional = 1", 1801)

	// Another lead an hour ahead moves the watermark past both pairs.
	at = send(schemas.Interaction{EventID: "p-end", OccurredAt: now.Add(time.Hour), Source: "canonical",
		Type: schemas.TypeLeadCreated, LeadID: "lead-p2", RepID: rep.ID, TeamID: rep.TeamID})
	poll("final response", at, "SELECT count() FROM "+e.db+".kbi_response_time_daily WHERE provisional = 0", 1)
	waitDone()
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	for _, q := range []string{
		"SELECT count() FROM " + e.db + ".kbi_response_time_daily WHERE provisional = 1",
		"SELECT count() FROM " + e.db + ".kbi_approvals_daily WHERE provisional = 1",
		"SELECT count() FROM " + e.db + ".lead_response_provisional FINAL",
		"SELECT count() FROM " + e.db + ".approval_provisional FINAL",
	} {
		var n uint64
		if err := c.QueryRow(ctx, q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d (%v), want 0 once everything is final", q, n, err)
		}
	}
	got, _ := e.query()
	want := brute([][]delivery{sent, nil, nil}, e.index)
	compareViews(t, got, want, "response", "approvals")
	compareProvisional(t, got, want)
	if len(want["response"]) != 1 || len(want["approvals"]) != 1 {
		t.Fatalf("the model has %q and %q: one final answered lead and one decided approval expected", want["response"], want["approvals"])
	}
}
