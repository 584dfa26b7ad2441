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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

const testChangelog = "state-changelog"

// newKafka returns a kfake cluster without the changelog topic, a
// changelog client as the app builds it, and an admin client.
func newKafka(t *testing.T) (*kgo.Client, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// committedAt is a CommittedFunc reporting *c for every partition.
func committedAt(c *int64) CommittedFunc {
	return func(context.Context, string, int32) (int64, error) { return *c, nil }
}

func newChangelogWindow(t *testing.T, cfg Config, cl *kgo.Client, committed CommittedFunc) *Window {
	t.Helper()
	cfg.ChangelogTopic = testChangelog
	w, err := New(cfg, Deps{Changelog: cl, Committed: committed, Clock: func() time.Time { return base }}, prometheus.NewRegistry(), nil)
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

// TestRestoreWaitsForChangelog: restores go through statelog (whose tests
// cover the waiting). With the changelog topic never created, the first
// batch fails at restore_timeout, not at once, with ErrChangelogUnavailable.
func TestRestoreWaitsForChangelog(t *testing.T) {
	committed := int64(-1)
	cl, _ := newKafka(t)
	w := newChangelogWindow(t, Config{RestoreTimeout: 700 * time.Millisecond}, cl, committedAt(&committed))
	start := time.Now()
	err := w.NewStage().Process(context.Background(), batchAt(0, 0, lead("t1", "A", schemas.TypeLeadCreated, 0, "rep1")))
	if took := time.Since(start); !errors.Is(err, ErrChangelogUnavailable) || took < 700*time.Millisecond {
		t.Fatalf("err %v after %s, want ErrChangelogUnavailable after the 700ms restore_timeout", err, took)
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
// same changelog. No event may be late that was not late in the original
// run, and the facts must be the original run's. The original group
// committed up to commitTo, so the changelog's history below it is folded
// (its GC point); the original watermark is far ahead of the replay.
func TestReplayFromEarlierOffset(t *testing.T) {
	cl, adm := newKafka(t)
	resp, err := adm.CreateTopic(context.Background(), 1, 1, nil, testChangelog)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{OutOfOrderness: 5 * time.Minute, AllowedLateness: 10 * time.Minute, LeadExpiry: 6 * time.Hour,
		ApprovalExpiry: 8 * time.Hour, CommitPollInterval: time.Second, ChangelogTopic: testChangelog}
	newWindow := func(committed *int64) *Window {
		now := base
		w, err := New(cfg, Deps{Changelog: cl, Committed: committedAt(committed),
			Clock: func() time.Time { now = now.Add(time.Minute); return now }}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	events := replayStream()
	const per, commitTo = 50, 2000
	nb := len(events) / per
	run := func(s *Stage, committed *int64, from int64, commitUpTo int64) []batchOut {
		t.Helper()
		var outs []batchOut
		for off := from; off < int64(len(events)); off += per {
			b := batchAt(0, off, events[off:off+per]...)
			if err := s.Process(context.Background(), b); err != nil {
				t.Fatalf("batch at %d: %v", off, err)
			}
			outs = append(outs, collect(t, b))
			if off+per <= commitUpTo {
				*committed = off + per // the group commits what was acknowledged
			}
		}
		return outs
	}
	orig := -int64(1)
	want := run(newWindow(&orig).NewStage(), &orig, 0, commitTo)
	late, leads, apprs := 0, 0, 0
	for _, o := range want {
		late += len(o.late)
		leads += len(o.facts[schemas.TableLeadResponse])
		apprs += len(o.facts[schemas.TableApprovals])
	}
	if late == 0 || late > len(events)/20 || leads < 100 || apprs < 20 {
		t.Fatalf("original run: %d late events, %d lead and %d approval facts: the stream does not test much", late, leads, apprs)
	}
	t.Logf("original run: %d batches, %d late events, %d lead and %d approval facts, committed up to %d", nb, late, leads, apprs, orig)

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
			for _, table := range []string{schemas.TableLeadResponse, schemas.TableApprovals, schemas.TableActivity, schemas.TableRepAccounts, schemas.TableDeals} {
				g, wt := got[k].facts[table], w[k].facts[table]
				if off < pairsFrom && (table == schemas.TableLeadResponse || table == schemas.TableApprovals) {
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
		c := int64(-1) // a new group: nothing committed
		got := run(newWindow(&c).NewStage(), &c, from, 0)
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
	// That replay committed nothing: its changelog holds all history, so
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
