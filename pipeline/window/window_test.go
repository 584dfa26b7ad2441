package window

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

var base = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func newTestWindow(t testing.TB, cfg Config) *Window {
	t.Helper()
	w, err := New(cfg, Deps{Clock: func() time.Time { return base }}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func lead(id, lead string, typ schemas.Type, at time.Duration, rep string) schemas.Interaction {
	i := schemas.Interaction{EventID: id, OccurredAt: base.Add(at), Source: "test", Type: typ, LeadID: lead, RepID: rep, TeamID: "t1"}
	i.Normalize()
	return i
}

// run feeds events in batches of n and returns every lead fact emitted.
func run(t *testing.T, s *Stage, events []schemas.Interaction, n int) []schemas.LeadResponseRow {
	t.Helper()
	var out []schemas.LeadResponseRow
	off := int64(0)
	for k := 0; k < len(events); k += n {
		chunk := events[k:min(k+n, len(events))]
		b := schemas.NewBatch(schemas.Origin{Topic: "in", Partition: 0, FirstOffset: off, LastOffset: off + int64(len(chunk)) - 1}, nil)
		b.Interactions = slices.Clone(chunk)
		off += int64(len(chunk))
		if err := s.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		for _, a := range b.Aggregates {
			if a.Table == schemas.TableLeadResponse {
				out = append(out, a.Rows.(schemas.LeadResponseRows)...)
			}
		}
	}
	slices.SortFunc(out, func(a, b schemas.LeadResponseRow) int {
		return cmpStr(a.LeadID+a.TriggerEventID, b.LeadID+b.TriggerEventID)
	})
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPairingSemantics(t *testing.T) {
	m := time.Minute
	events := []schemas.Interaction{
		// The response arrives before its trigger (offset order), later in event time.
		lead("r1", "A", schemas.TypeCallOutbound, 10*m, "rep2"),
		lead("t1", "A", schemas.TypeLeadCreated, 0, "rep1"),
		// An earlier trigger arrives after a later one: the earlier one is the trigger.
		lead("t3", "B", schemas.TypeMessageInbound, 4*m, "rep1"),
		lead("t2", "B", schemas.TypeLeadCreated, 2*m, "rep1"),
		lead("r2", "B", schemas.TypeMessageOutbound, 6*m, "rep3"),
		// An outbound touch before the trigger does not answer it; same millisecond does.
		lead("r3", "C", schemas.TypeCallOutbound, 1*m, "rep2"),
		lead("t4", "C", schemas.TypeSocialInbound, 3*m, "rep1"),
		lead("r4", "C", schemas.TypeSocialOutbound, 3*m, "rep2"),
		// Never answered: expires.
		lead("t5", "D", schemas.TypeCallInbound, 5*m, "rep1"),
		// Moves the watermark far ahead.
		lead("x", "E", schemas.TypeLeadCreated, 30*time.Hour, "rep1"),
	}
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 2 * time.Hour}
	got := run(t, newTestWindow(t, cfg).NewStage(), events, 3)
	type want struct {
		lead, trig, resp string
		secs             float64
	}
	var ws []want
	for _, r := range got {
		w := want{lead: r.LeadID, trig: r.TriggerEventID, resp: r.ResponseEventID}
		if r.ResponseS != nil {
			w.secs = *r.ResponseS
		}
		ws = append(ws, w)
	}
	exp := []want{{"A", "t1", "r1", 600}, {"B", "t2", "r2", 240}, {"C", "t4", "r4", 0}, {"D", "t5", "", 0}}
	if !reflect.DeepEqual(ws, exp) {
		t.Fatalf("got %+v\nwant %+v", ws, exp)
	}
}

// TestDisorderGivesSortedAnswer: any arrival order within the lateness bound
// gives the facts of event-time order, whatever the batch cuts.
func TestDisorderGivesSortedAnswer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var events []schemas.Interaction
	for k := range 2000 {
		typ := schemas.TypeLeadCreated
		if rng.IntN(2) == 0 {
			typ = schemas.TypeCallOutbound
		}
		events = append(events, lead(fmt.Sprint("e", k), fmt.Sprint("L", rng.IntN(200)), typ,
			time.Duration(rng.Int64N(int64(48*time.Hour))).Truncate(time.Millisecond), "rep1"))
	}
	slices.SortFunc(events, func(a, b schemas.Interaction) int { return a.OccurredAt.Compare(b.OccurredAt) })
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 6 * time.Hour}
	sorted := run(t, newTestWindow(t, cfg).NewStage(), events, 50)
	// Shuffle: each event moves by less than the bound + lateness.
	shuffled := slices.Clone(events)
	keys := make([]int64, len(shuffled))
	for k := range shuffled {
		keys[k] = shuffled[k].OccurredAt.UnixMilli() + rng.Int64N((15 * time.Minute).Milliseconds())
	}
	idx := make([]int, len(shuffled))
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(keys[a] - keys[b]) })
	perm := make([]schemas.Interaction, len(idx))
	for k, i := range idx {
		perm[k] = shuffled[i]
	}
	for _, n := range []int{1, 7, 500} {
		got := run(t, newTestWindow(t, cfg).NewStage(), perm, n)
		if !reflect.DeepEqual(got, sorted) {
			t.Fatalf("batches of %d: %d facts, sorted order gave %d", n, len(got), len(sorted))
		}
	}
	if len(sorted) < 100 {
		t.Fatalf("only %d facts", len(sorted))
	}
}

// BenchmarkPairing measures window/pairing updates (events through
// Process, half of them lead events) per second per core, memory-only.
//
//	go test ./pipeline/window -run ^$ -bench Pairing -benchtime=200ms -count=5 | benchstat -
func BenchmarkPairing(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1 << 16
	events := make([]schemas.Interaction, n)
	types := []schemas.Type{schemas.TypeLeadCreated, schemas.TypeMessageOutbound, schemas.TypeCallOutbound, schemas.TypeMessageInbound}
	for k := range events {
		events[k] = lead(fmt.Sprintf("evt-%010d", k), fmt.Sprintf("lead-%06d", rng.IntN(20000)), types[rng.IntN(4)],
			time.Duration(k)*time.Second+time.Duration(rng.Int64N(int64(time.Minute))), fmt.Sprint("rep", rng.IntN(50)))
	}
	w := newTestWindow(b, Config{})
	s := w.NewStage()
	batch := schemas.NewBatch(schemas.Origin{Topic: "in"}, nil)
	const per = 4096
	off, shift := int64(0), time.Duration(0)
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	for b.Loop() {
		k := done % n
		if k == 0 && done > 0 {
			shift += n * time.Second
		}
		batch.Interactions = append(batch.Interactions[:0], events[k:k+per]...)
		if shift > 0 {
			for j := range batch.Interactions {
				batch.Interactions[j].OccurredAt = batch.Interactions[j].OccurredAt.Add(shift)
			}
		}
		batch.Origin.FirstOffset, batch.Origin.LastOffset = off, off+per-1
		batch.Aggregates, batch.Late = batch.Aggregates[:0], batch.Late[:0]
		off += per
		if err := s.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		done += per
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(0, "ns/op")
}

// oneBatch runs ev through a fresh window stage as one batch and returns
// the lead facts, the interactions counted as activity and the rep-account
// rows it emitted.
func oneBatch(t *testing.T, cfg Config, ev []schemas.Interaction) (facts []schemas.LeadResponseRow, acts, accts int) {
	t.Helper()
	s := newTestWindow(t, cfg).NewStage()
	b := schemas.NewBatch(schemas.Origin{Topic: "in", Partition: 0, FirstOffset: 0, LastOffset: int64(len(ev)) - 1}, nil)
	b.Interactions = ev
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, a := range b.Aggregates {
		switch a.Table {
		case schemas.TableLeadResponse:
			facts = append(facts, a.Rows.(schemas.LeadResponseRows)...)
		case schemas.TableActivity:
			for _, r := range a.Rows.(schemas.ActivityRows) {
				acts += int(r.Interactions)
			}
		case schemas.TableRepAccounts:
			accts += len(a.Rows.(schemas.AccountRows))
		}
	}
	return facts, acts, accts
}

// TestAcknowledgementIsNoActivity: an alert.acknowledged by a rep, on a
// lead and an account, counts no activity or account and neither opens
// nor answers the lead: the facts equal those of the feed without it.
func TestAcknowledgementIsNoActivity(t *testing.T) {
	m := time.Minute
	feed := func(ack bool) []schemas.Interaction {
		ev := []schemas.Interaction{
			lead("t1", "A", schemas.TypeLeadCreated, 0, "rep1"),
			lead("r1", "A", schemas.TypeCallOutbound, 40*m, "rep2"),
			lead("x", "E", schemas.TypeLeadCreated, 30*time.Hour, "rep1"),
		}
		if ack {
			a := lead("ack", "A", schemas.TypeAlertAcknowledged, 31*m, "rep2")
			a.AccountID, a.ApprovalID = "acc-1", "alert-1"
			ev = slices.Insert(ev, 1, a)
		}
		return ev
	}
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 2 * time.Hour}
	f0, a0, c0 := oneBatch(t, cfg, feed(false))
	f1, a1, c1 := oneBatch(t, cfg, feed(true))
	if !reflect.DeepEqual(f0, f1) || a0 != a1 || c0 != c1 || len(f1) == 0 {
		t.Fatalf("with the ack: %d facts, %d interactions, %d accounts; without: %d, %d, %d\n%+v\n%+v", len(f1), a1, c1, len(f0), a0, c0, f1, f0)
	}
}

// TestCustomerTouchesOpenNoLead: a touch resolved to an existing
// customer's contact (Customer, docs/leads.md) is its rep's activity but
// neither opens a response clock nor answers one, as original or as a
// pair-only copy; the same touches without the flag do both.
func TestCustomerTouchesOpenNoLead(t *testing.T) {
	m := time.Minute
	feed := func(customer bool) []schemas.Interaction {
		ev := []schemas.Interaction{
			lead("in1", "003C", schemas.TypeCallInbound, 0, "rep1"),
			lead("out1", "003C", schemas.TypeCallOutbound, 40*m, "rep1"),
			lead("in2", "003D", schemas.TypeMessageInbound, time.Hour, "rep2"),
			lead("x", "E", schemas.TypeLeadCreated, 30*time.Hour, "rep1"),
		}
		pairOnly := lead("pin", "003P", schemas.TypeCallInbound, 2*time.Hour, "rep2")
		pairOnly.PairOnly = true
		ev = slices.Insert(ev, 3, pairOnly) // before E moves the watermark past it
		for k := range ev {
			ev[k].Customer = customer && ev[k].LeadID != "E"
		}
		return ev
	}
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 2 * time.Hour}
	collect := func(customer bool) (leads []string, acts int) {
		facts, acts, _ := oneBatch(t, cfg, feed(customer))
		for _, r := range facts {
			leads = append(leads, r.LeadID+"/"+r.TriggerEventID)
		}
		slices.Sort(leads)
		return leads, acts
	}
	leadsF, actsF := collect(false)
	leadsC, actsC := collect(true)
	if want := []string{"003C/in1", "003D/in2", "003P/pin"}; !slices.Equal(leadsF, want) {
		t.Fatalf("without the flag: facts %v, want %v", leadsF, want)
	}
	if len(leadsC) != 0 || actsC != actsF || actsC != 4 {
		t.Fatalf("customer touches: facts %v (want none), %d interactions counted (want %d, as without the flag)", leadsC, actsC, actsF)
	}
}

// TestAccountEventsAreNeverLate: account ownership and market signals are
// no KBI facts (docs/signals.md). Far behind the watermark they still pass
// to the stages after the window, where an old call is set aside as late.
func TestAccountEventsAreNeverLate(t *testing.T) {
	s := newTestWindow(t, Config{}).NewStage()
	now := lead("now", "L1", schemas.TypeCallOutbound, 48*time.Hour, "r1")
	oldCall := lead("old-call", "L2", schemas.TypeCallOutbound, 0, "r1")
	oldSig := lead("old-sig", "", schemas.TypeAccountSignal, 0, "")
	oldSig.Attributes = map[string]string{schemas.AttrSignalKind: schemas.SignalNews, schemas.AttrSignalDomain: "acme.com"}
	oldAcc := lead("old-acc", "", schemas.TypeAccountUpdated, time.Hour, "r1")
	oldAcc.AccountID = "acc-1"
	b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: 0, LastOffset: 0}, nil)
	b.Interactions = []schemas.Interaction{now}
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b = schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: 1, LastOffset: 3}, nil)
	b.Interactions = []schemas.Interaction{oldCall, oldSig, oldAcc}
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var passed, late []string
	for _, i := range b.Interactions {
		passed = append(passed, i.EventID)
	}
	for _, i := range b.Late {
		late = append(late, i.EventID)
	}
	if !slices.Equal(passed, []string{"old-sig", "old-acc"}) || !slices.Equal(late, []string{"old-call"}) {
		t.Fatalf("passed %v, late %v", passed, late)
	}
}
