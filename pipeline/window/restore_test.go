package window

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/pipeline/window/internal/pairing"
	"github.com/salespulse/salespulse/schemas"
)

func newStoreWindow(t *testing.T, cfg Config, st state.Store) *Window {
	t.Helper()
	w, err := New(cfg, Deps{State: st, Clock: func() time.Time { return base }}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func batchAt(part int32, first int64, evs ...schemas.Interaction) *schemas.Batch {
	b := schemas.NewBatch(schemas.Origin{Topic: "in", Partition: part, FirstOffset: first, LastOffset: first + int64(len(evs)) - 1}, nil)
	b.Interactions = slices.Clone(evs)
	return b
}

// TestOneLoadPerPartitionStartOneSavePerBatch: the stage reads a
// partition's state once when it starts (or restarts) the partition, and
// saves once per batch, whatever the batch changed.
func TestOneLoadPerPartitionStartOneSavePerBatch(t *testing.T) {
	st := state.NewMemory()
	s := newStoreWindow(t, Config{}, st).NewStage()
	events := replayStream()[:600]
	for k := 0; k < 20; k++ {
		for p := range int32(2) {
			off := int64(k * 30)
			if err := s.Process(context.Background(), batchAt(p, off, events[off:off+30]...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := [2]int{st.Loads(0), st.Loads(1)}; got != [2]int{1, 1} {
		t.Fatalf("loads of partitions 0 and 1: %v, want one each", got)
	}
	if got := [2]int{st.Saves(0), st.Saves(1)}; got != [2]int{20, 20} {
		t.Fatalf("saves of partitions 0 and 1: %v, want 20 each", got)
	}
	// A redelivery of partition 0 restarts it: one more load.
	if err := s.Process(context.Background(), batchAt(0, 300, events[300:330]...)); err != nil {
		t.Fatal(err)
	}
	if st.Loads(0) != 2 || st.Loads(1) != 1 || st.Saves(0) != 21 {
		t.Fatalf("after a redelivery: loads %d, %d, saves %d", st.Loads(0), st.Loads(1), st.Saves(0))
	}
}

// TestStoreErrors: a failed Load or Save fails the batch (it must not be
// acknowledged), and the next delivery restores from the store again.
func TestStoreErrors(t *testing.T) {
	st := state.NewMemory()
	s := newStoreWindow(t, Config{}, st).NewStage()
	boom := errors.New("boom")
	st.FailWith(boom)
	ev := lead("t1", "A", schemas.TypeLeadCreated, 0, "rep1")
	if err := s.Process(context.Background(), batchAt(0, 0, ev)); !errors.Is(err, boom) {
		t.Fatalf("load failure: %v", err)
	}
	st.FailWith(nil)
	if err := s.Process(context.Background(), batchAt(0, 0, ev)); err != nil {
		t.Fatal(err)
	}
	st.FailWith(fmt.Errorf("save: %w", state.ErrFenced))
	ans := lead("r1", "A", schemas.TypeCallOutbound, time.Minute, "rep1")
	if err := s.Process(context.Background(), batchAt(0, 1, ans)); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("fenced save: %v", err)
	}
	st.FailWith(nil)
	loads := st.Loads(0)
	if err := s.Process(context.Background(), batchAt(0, 1, ans)); err != nil {
		t.Fatal(err)
	}
	if st.Loads(0) != loads+1 {
		t.Fatal("a fenced partition was written again without loading its state")
	}
	// The retried batch saw the trigger restored (it was saved) and added
	// its answer once.
	if n := s.parts[partKey{"in", 0}].pr.EventCount(pairing.Lead, "A"); n != 2 {
		t.Fatalf("lead A after the retried batch holds %d events, want trigger and answer", n)
	}
}

// batchOut is what one Process call emitted.
type batchOut struct {
	late  []string                 // event ids set aside as late
	facts map[string][]interface{} // table → rows
}

func collect(t *testing.T, b *schemas.Batch) batchOut {
	t.Helper()
	out := batchOut{facts: map[string][]interface{}{}}
	for _, it := range b.Late {
		out.late = append(out.late, it.EventID)
	}
	for _, a := range b.Aggregates {
		rv := reflect.ValueOf(a.Rows)
		for k := range rv.Len() {
			out.facts[a.Table] = append(out.facts[a.Table], rv.Index(k).Interface()) // copies the row
		}
	}
	return out
}

// replayStream is a partition's events in produce order: leads and
// approvals, shuffled within out-of-orderness + lateness, with a few
// delayed far beyond it (late in any run).
func replayStream() []schemas.Interaction {
	rng := rand.New(rand.NewPCG(5, 6))
	var evs []schemas.Interaction
	for k := range 3000 {
		at := time.Duration(k)*30*time.Second + time.Duration(rng.Int64N(int64(12*time.Minute)))
		if rng.IntN(100) == 0 {
			at -= 3 * time.Hour // far beyond the lateness bound
		}
		at = at.Truncate(time.Millisecond)
		id := fmt.Sprint("e", k)
		var it schemas.Interaction
		switch r := rng.IntN(10); {
		case r < 4:
			it = lead(id, fmt.Sprint("L", rng.IntN(300)), schemas.TypeLeadCreated, at, fmt.Sprint("rep", rng.IntN(5)))
		case r < 8:
			it = lead(id, fmt.Sprint("L", rng.IntN(300)), schemas.TypeCallOutbound, at, fmt.Sprint("rep", rng.IntN(5)))
		default:
			typ := schemas.TypeApprovalRequested
			if r == 9 {
				typ = schemas.TypeApprovalDecided
			}
			it = schemas.Interaction{EventID: id, OccurredAt: base.Add(at), Source: "test", Type: typ,
				ApprovalID: fmt.Sprint("A", rng.IntN(100)), RepID: "rep1", ApproverID: "mgr", TeamID: "t1", AccountID: "acc1"}
			if r == 9 {
				it.Approved, it.Has = true, schemas.HasApproved
			}
			it.Normalize()
		}
		evs = append(evs, it)
	}
	return evs
}

// TestReplayFromEarlierOffset: a new consumer group (or a kadm offset
// reset) replays a partition from offset 0 or a middle offset into the
// same state store. No event may be late that was not late in the original
// run, and the facts must be the original run's. The original group
// committed up to commitTo, so the stored history below it is folded
// (its GC point); the original watermark is far ahead of the replay.
func TestReplayFromEarlierOffset(t *testing.T) {
	st := state.NewMemory()
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 6 * time.Hour,
		ApprovalExpiry: 8 * time.Hour}
	newWindow := func() *Window {
		now := base
		w, err := New(cfg, Deps{State: st, Clock: func() time.Time { now = now.Add(time.Minute); return now }},
			prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	events := replayStream()
	const per, commitTo = 50, 2000
	nb := len(events) / per
	run := func(s *Stage, from int64, commitUpTo int64) []batchOut {
		t.Helper()
		var outs []batchOut
		for off := from; off < int64(len(events)); off += per {
			b := batchAt(0, off, events[off:off+per]...)
			if err := s.Process(context.Background(), b); err != nil {
				t.Fatalf("batch at %d: %v", off, err)
			}
			outs = append(outs, collect(t, b))
			if off+per <= commitUpTo {
				st.SetCommitted("in", 0, off+per) // the group commits what was acknowledged
			}
		}
		return outs
	}
	want := run(newWindow().NewStage(), 0, commitTo)
	late, leads, apprs, prov := 0, 0, 0, 0
	for _, o := range want {
		late += len(o.late)
		leads += len(o.facts[schemas.TableLeadResponse])
		apprs += len(o.facts[schemas.TableApprovals])
		prov += len(o.facts[schemas.TableLeadResponseProvisional]) + len(o.facts[schemas.TableApprovalsProvisional])
	}
	if late == 0 || late > len(events)/20 || leads < 100 || apprs < 20 || prov < 100 {
		t.Fatalf("original run: %d late events, %d lead and %d approval facts: the stream does not test much", late, leads, apprs)
	}
	orig, _ := st.Committed(context.Background(), "in", 0)
	t.Logf("original run: %d batches, %d late events, %d lead and %d approval facts, %d provisional rows, committed up to %d",
		nb, late, leads, apprs, prov, orig)

	// check compares a replay from offset from with the original run.
	// pairsFrom: batches below it emit no pair facts (replayed against a
	// state restored at the GC point; the original's pair facts of those
	// offset ranges are in ClickHouse under the same dedup tokens).
	check := func(name string, got []batchOut, from, pairsFrom int64) {
		t.Helper()
		w := want[from/per:]
		if len(got) != len(w) {
			t.Fatalf("%s: %d batches, want %d", name, len(got), len(w))
		}
		for k := range got {
			off := from + int64(k)*per
			if !slices.Equal(got[k].late, w[k].late) {
				t.Fatalf("%s: batch at %d: late %v, original run %v", name, off, got[k].late, w[k].late)
			}
			for _, table := range []string{schemas.TableLeadResponse, schemas.TableApprovals, schemas.TableActivity, schemas.TableRepAccounts,
				schemas.TableDeals, schemas.TableLeadResponseProvisional, schemas.TableApprovalsProvisional} {
				g, wt := got[k].facts[table], w[k].facts[table]
				if off < pairsFrom && (table == schemas.TableLeadResponse || table == schemas.TableApprovals ||
					table == schemas.TableLeadResponseProvisional || table == schemas.TableApprovalsProvisional) {
					if len(g) != 0 {
						t.Fatalf("%s: batch at %d: %d %s rows from a replay below the GC point", name, off, len(g), table)
					}
					continue
				}
				if !reflect.DeepEqual(g, wt) {
					t.Fatalf("%s: batch at %d: %s differs: %d rows, original %d", name, off, table, len(g), len(wt))
				}
			}
		}
	}

	replay := func(name string, from, pairsFrom int64) {
		t.Helper()
		st.SetCommitted("in", 0, -1) // a new group: nothing committed
		got := run(newWindow().NewStage(), from, 0)
		check(name, got, from, pairsFrom)
		t.Logf("%s: %d batches equal to the original run", name, len(got))
	}
	// Below the GC point, after the state's first offset: state restored at
	// the GC point, [1000, 2000) replayed against the original watermarks.
	replay("new group from 1000", 1000, commitTo)
	// At or above the GC point: exact as before.
	replay("new group from 2500", 2500, 0)
	// From the beginning: empty state, the old one tombstoned.
	replay("new group from 0", 0, 0)
	// That replay committed nothing: the store holds all history, so
	// a restore at a middle offset is exact now, pairs included.
	replay("again from 1000", 1000, 0)
}

// TestThinnedMarksNeverRaiseTheWatermark: the history below the GC point
// is thinned when long, and a replay then starts from a watermark at or
// below the original one: fewer late events, never more.
func TestThinnedMarksNeverRaiseTheWatermark(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var all, old []mark
	maxT := int64(0)
	for k := range 5000 {
		maxT += rng.Int64N(1000)
		m := mark{last: int64(k*10 + 9), maxT: maxT}
		all = append(all, m)
		old = appendOld(old, m)
		if len(old) > oldMarks {
			t.Fatalf("%d marks kept", len(old))
		}
	}
	for from := int64(0); from < 50000; from += 7 {
		if got, exact := maxTBelow(old, from, noTime), maxTBelow(all, from, noTime); got > exact {
			t.Fatalf("from %d: watermark %d above the original %d", from, got, exact)
		}
	}
	if got, exact := maxTBelow(old, 50000, noTime), maxTBelow(all, 50000, noTime); got != exact {
		t.Fatalf("newest mark lost: %d, want %d", got, exact)
	}
}

// TestRestoreIsExact crashes the stage at random points (a new Window and
// Stage on the same store, resuming at the committed offset or a later
// acknowledged one), rewinds it without crashing (redeliveries), releases
// a partition (a rebalance took it) and gives it back, and
// compares every batch's output with an uninterrupted run without a
// store: the same late events and byte-identical facts per batch.
func TestRestoreIsExact(t *testing.T) {
	const partitions = 2
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 6 * time.Hour,
		ApprovalExpiry: 8 * time.Hour}
	events := replayStream()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 3))
			// Each partition gets the stream cut at its own random offsets.
			var batches [partitions][][2]int64
			for p := range batches {
				for off := int64(0); off < int64(len(events)); {
					n := min(1+r.Int64N(80), int64(len(events))-off)
					batches[p] = append(batches[p], [2]int64{off, off + n})
					off += n
				}
			}
			process := func(s *Stage, p int, k int) batchOut {
				t.Helper()
				bb := batches[p][k]
				b := batchAt(int32(p), bb[0], events[bb[0]:bb[1]]...)
				if err := s.Process(context.Background(), b); err != nil {
					t.Fatalf("partition %d batch at %d: %v", p, bb[0], err)
				}
				return collect(t, b)
			}
			ref := newStoreWindow(t, cfg, nil).NewStage()
			var want [partitions][]batchOut
			facts := 0
			for p := range batches {
				for k := range batches[p] {
					want[p] = append(want[p], process(ref, p, k))
					facts += len(want[p][k].facts[schemas.TableLeadResponse]) + len(want[p][k].facts[schemas.TableApprovals])
				}
			}
			if facts < 200 {
				t.Fatalf("only %d pair facts: the stream does not test much", facts)
			}

			st := state.NewMemory()
			s := newStoreWindow(t, cfg, st).NewStage()
			var pos, comm [partitions]int // next and committed batch per partition
			crashes, rewinds, releases, checked := 0, 0, 0, 0
			for pos[0] < len(batches[0]) || pos[1] < len(batches[1]) {
				p := r.IntN(partitions)
				if pos[p] >= len(batches[p]) {
					p = 1 - p
				}
				got := process(s, p, pos[p])
				if !reflect.DeepEqual(got, want[p][pos[p]]) {
					t.Fatalf("partition %d batch %d (offset %d) differs from the uninterrupted run:\n got  %+v\n want %+v",
						p, pos[p], batches[p][pos[p]][0], got, want[p][pos[p]])
				}
				checked++
				pos[p]++
				if r.IntN(3) == 0 { // the commit lags behind acknowledgements
					comm[p] += r.IntN(pos[p] - comm[p] + 1)
					off := int64(len(events))
					if comm[p] < len(batches[p]) {
						off = batches[p][comm[p]][0]
					}
					st.SetCommitted("in", int32(p), off)
				}
				switch x := r.IntN(100); {
				case x < 3: // crash: a new process resumes at the committed offset
					crashes++
					s = newStoreWindow(t, cfg, st).NewStage()
					for q := range pos {
						pos[q] = comm[q]
						if r.IntN(4) == 0 { // or at a later boundary (a restore above committed)
							pos[q] += r.IntN(pos[q] - comm[q] + 1)
						}
					}
				case x < 6 && pos[p] > comm[p]: // redelivery from some acknowledged batch
					rewinds++
					pos[p] = comm[p] + r.IntN(pos[p]-comm[p])
				case x < 9: // released (pipeline.Releaser), then given back
					releases++
					s.Release("in", int32(p))
				}
			}
			if crashes == 0 || rewinds == 0 || releases == 0 {
				t.Fatalf("%d crashes, %d rewinds, %d releases: nothing tested", crashes, rewinds, releases)
			}
			t.Logf("%d pair facts, %d batches checked, %d crashes, %d rewinds, %d releases", facts, checked, crashes, rewinds, releases)
		})
	}
}

// TestRecutReplayKeepsTheFirstAttemptsWatermark: behind the lead topics a
// partition's watermark moves with its upstreams' marks at batch ends. A
// batch checkpointed but never committed (its cut made after the last
// commit, so recorded nowhere) comes back cut differently after a crash.
// Its events must not be judged against the upstreams' progress restored
// from the newest checkpoint, which is ahead of them: the first attempt
// accepted them, so the replay does too. (Seen in tests/fault kill9:
// 15 late events after a kill -9, none in the reference run.)
// upMark is a progress mark of the one upstream "up-1" at base+at.
func upMark(at time.Duration) schemas.Interaction {
	return schemas.Interaction{EventID: "up-1", OccurredAt: base.Add(at), Watermark: true, SentAt: base.Add(at)}
}

// upStage is a window stage on st whose watermark follows upstream
// "up-1"'s marks, with a minute of out-of-orderness and of lateness.
func upStage(t *testing.T, st state.Store) *Stage {
	t.Helper()
	cfg := Config{OutOfOrderness: time.Minute, AllowedLateness: time.Minute}
	w, err := New(cfg, Deps{State: st, Clock: func() time.Time { return base }, UpstreamMarks: true,
		Upstreams: []string{"up-1"}, IdleTimeout: time.Hour}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.NewStage()
}

func TestRecutReplayKeepsTheFirstAttemptsWatermark(t *testing.T) {
	mark := upMark
	stream := []schemas.Interaction{
		lead("e0", "L1", schemas.TypeLeadCreated, 0, "rep1"), // 0
		lead("e1", "L2", schemas.TypeLeadCreated, time.Minute, "rep1"),
		mark(10 * time.Minute), // 2: watermark 10m at the first batch's end
		lead("e3", "L3", schemas.TypeLeadCreated, 9*time.Minute, "rep1"),
		mark(30 * time.Minute), // 4: the upstream moves on to 30m
		lead("e5", "L4", schemas.TypeLeadCreated, 9*time.Minute, "rep1"), // on time: 30m applies after the batch
		lead("e6", "L5", schemas.TypeLeadCreated, 9*time.Minute+30*time.Second, "rep1"),
	}
	newStage := func(st state.Store) *Stage { return upStage(t, st) }
	process := func(s *Stage, from, to int64) *schemas.Batch {
		t.Helper()
		b := batchAt(0, from, stream[from:to+1]...)
		if err := s.Process(context.Background(), b); err != nil {
			t.Fatalf("batch %d-%d: %v", from, to, err)
		}
		return b
	}
	st := state.NewMemory()
	first := newStage(st)
	process(first, 0, 2)
	if b := process(first, 3, 6); len(b.Late) != 0 {
		t.Fatalf("first attempt: %d late events, want 0", len(b.Late))
	}
	// Killed after checkpointing 3-6, before its rows were stored: the
	// group's commit is at 3, and the replay cuts 3-4 and 5-6.
	st.SetCommitted("in", 0, 3)
	again := newStage(st)
	late := len(process(again, 3, 4).Late) + len(process(again, 5, 6).Late)
	if late != 0 {
		t.Fatalf("replay cut differently: %d late events, want 0 as in the first attempt", late)
	}
	// Past the recorded history the upstreams' progress decides again.
	b := batchAt(0, 7, lead("e7", "L6", schemas.TypeLeadCreated, 9*time.Minute, "rep1"))
	if err := again.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Late) != 1 {
		t.Fatalf("after the history: %d late events, want 1 (9m < 30m - 2m)", len(b.Late))
	}
}

// Lifetimes that replay from the same committed offset and get to
// different offsets before they are killed (tests/fault's kill -9 run:
// the leads flow's commit stayed at one offset for five lifetimes). The
// first attempt's watermarks must survive a later attempt that got less
// far: its checkpoint rewrites the history, and the upstreams' progress
// keys it leaves alone are still the furthest attempt's, so a history cut
// short at the later attempt's end made the next replay jump to that
// progress there and set aside as late what the first attempt accepted.
func TestShorterReplayKeepsTheFirstAttemptsLaterWatermarks(t *testing.T) {
	mark := upMark
	stream := []schemas.Interaction{
		lead("e0", "L0", schemas.TypeLeadCreated, 0, "rep1"), // 0
		mark(10 * time.Minute),                               // 1
		lead("e2", "L2", schemas.TypeLeadCreated, 9*time.Minute, "rep1"),
		mark(20 * time.Minute), // 3
		lead("e4", "L4", schemas.TypeLeadCreated, 19*time.Minute, "rep1"),
		mark(40 * time.Minute),                                            // 5
		lead("e6", "L6", schemas.TypeLeadCreated, 39*time.Minute, "rep1"), // on time at 40m, late at 80m
		mark(80 * time.Minute),                                            // 7
		lead("e8", "L8", schemas.TypeLeadCreated, 79*time.Minute, "rep1"),
	}
	cuts := [][2]int64{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 8}}
	newStage := func(st state.Store) *Stage { return upStage(t, st) }
	process := func(s *Stage, c [2]int64) int {
		t.Helper()
		b := batchAt(0, c[0], stream[c[0]:c[1]+1]...)
		if err := s.Process(context.Background(), b); err != nil {
			t.Fatalf("batch %d-%d: %v", c[0], c[1], err)
		}
		return len(b.Late)
	}
	st := state.NewMemory()
	first := newStage(st)
	for _, c := range cuts {
		if n := process(first, c); n != 0 {
			t.Fatalf("first attempt, batch %v: %d late events, want 0", c, n)
		}
	}
	// The commit stays after the first batch. The second attempt replays
	// one batch and is killed after checkpointing it.
	st.SetCommitted("in", 0, 2)
	if n := process(newStage(st), cuts[1]); n != 0 {
		t.Fatalf("second attempt: %d late events, want 0", n)
	}
	// The third replays all of it, as the first attempt cut it.
	third := newStage(st)
	for _, c := range cuts[1:] {
		if n := process(third, c); n != 0 {
			t.Errorf("third attempt, batch %v: %d late events, want 0 as in the first attempt", c, n)
		}
	}
}
