package leads

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// State saved a record per id by earlier versions (the id itself as the
// key, then its digest) still drops redeliveries, and the first save moves
// it to batch records.
func TestDedupRestoresIDKeyedState(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	v := func(at time.Duration, off int64) []byte {
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(t0.Add(at).UnixMilli())), uint64(off))
	}
	mail := keyOf("mail", false)
	if err := st.Save(ctx, state.Dedup, "salespulse.leads", 0, []state.Record{
		{Key: []byte("lead"), Value: v(0, 1)},
		{Key: []byte("\x00call"), Value: v(time.Minute, 1)},
		{Key: append([]byte{digestMark}, mail[:]...), Value: v(time.Minute, 0)},
	}); err != nil {
		t.Fatal(err)
	}
	pair := ev("call", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	pair.PairOnly = true
	b := batch("salespulse.leads", 2, ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{}), pair,
		ev("mail", time.Minute, schemas.TypeMessageInbound, "L1", schemas.ContactKeys{}),
		ev("call", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	if len(b.Interactions) != 1 || b.Interactions[0].EventID != "call" || b.Interactions[0].PairOnly {
		t.Fatalf("kept %+v, want only the call (lead, mail and the pair-only call are redeliveries)", b.Interactions)
	}
	got := savedRecords(t, st, "salespulse.leads", 0)
	want := map[int64][]idKey{
		0: {mail},
		1: {keyOf("lead", false), keyOf("call", true)},
		5: {keyOf("call", false)},
	}
	if !sameRecords(got, want) {
		t.Fatalf("saved records %v, want %v", got, want)
	}
	// Restored from the batch records, the copies are still dropped.
	again := batch("salespulse.leads", 6, ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{}),
		ev("call", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx, again); err != nil {
		t.Fatal(err)
	}
	if len(again.Interactions) != 0 {
		t.Fatalf("after the move kept %+v, want none", again.Interactions)
	}
}

// savedRecords reads the batch records of a leads partition: each batch's
// last offset and the ids it holds, failing on any other key but progress.
func savedRecords(t *testing.T, st *state.Memory, topic string, part int32) map[int64][]idKey {
	t.Helper()
	saved, err := st.Load(context.Background(), state.Dedup, topic, part)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][]idKey{}
	chunks := map[int64]int{}
	for k, v := range saved {
		switch {
		case k[0] == upstreamMark:
		case len(k) == batchKeyLen && k[0] == batchMark:
			off := int64(binary.BigEndian.Uint64([]byte(k[1:9])))
			chunks[off]++
			if len(v)%idEntryLen != 0 || len(v) == 0 {
				t.Fatalf("record %d holds %d bytes, want whole ids", off, len(v))
			}
			for ; len(v) > 0; v = v[idEntryLen:] {
				out[off] = append(out[off], idKey(v[:16]))
			}
		default:
			t.Fatalf("saved key %q, want batch records only", k)
		}
	}
	for off, n := range chunks {
		for c := range n {
			if _, ok := saved[string(appendBatchKey(nil, off, c))]; !ok {
				t.Fatalf("record %d: chunk %d of %d missing", off, c, n)
			}
		}
	}
	return out
}

// sameRecords compares records as sets of ids per offset.
func sameRecords(got, want map[int64][]idKey) bool {
	if len(got) != len(want) {
		return false
	}
	for off, ids := range want {
		g := slices.Clone(got[off])
		w := slices.Clone(ids)
		slices.SortFunc(g, func(a, b idKey) int { return bytes.Compare(a[:], b[:]) })
		slices.SortFunc(w, func(a, b idKey) int { return bytes.Compare(a[:], b[:]) })
		if !slices.Equal(g, w) {
			return false
		}
	}
	return true
}

// The store holds a record per batch with the ids first seen in it, and
// deletes it once its last id expired.
func TestDedupSavesARecordPerBatch(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	d := newLeads(t, st).NewDedup(time.Hour)
	call := func(id string, at time.Duration) schemas.Interaction {
		return ev(id, at, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	}
	for _, b := range []*schemas.Batch{
		batch("salespulse.leads", 0, call("a", 0), call("b", 2*time.Hour)),
		batch("salespulse.leads", 2, call("a", 0), call("c", 10*time.Minute)), // a is a copy
	} {
		if err := d.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := savedRecords(t, st, "salespulse.leads", 0), map[int64][]idKey{
		1: {keyOf("a", false), keyOf("b", false)},
		3: {keyOf("c", false)},
	}; !sameRecords(got, want) {
		t.Fatalf("saved %v, want %v", got, want)
	}
	// Progress to 1h30: a and c expire. a's record keeps b; c's goes.
	mark := func(id string, at time.Duration) schemas.Interaction {
		return schemas.Interaction{EventID: id, OccurredAt: t0.Add(at), Watermark: true}
	}
	progress := func(first int64, at time.Duration, ints ...schemas.Interaction) {
		t.Helper()
		ints = append(ints, mark("crm/0", at), mark("salespulse.contacts/0", at), mark("salespulse.contacts/1", at))
		if err := d.Process(ctx, batch("salespulse.leads", first, ints...)); err != nil {
			t.Fatal(err)
		}
	}
	progress(4, 90*time.Minute)
	if got, want := savedRecords(t, st, "salespulse.leads", 0), map[int64][]idKey{
		1: {keyOf("a", false), keyOf("b", false)}, // as saved: b is still remembered
	}; !sameRecords(got, want) {
		t.Fatalf("after a and c expired: saved %v, want %v", got, want)
	}
	progress(7, 4*time.Hour, call("d", 4*time.Hour))
	if got, want := savedRecords(t, st, "salespulse.leads", 0), map[int64][]idKey{
		10: {keyOf("d", false)},
	}; !sameRecords(got, want) {
		t.Fatalf("after b expired: saved %v, want %v", got, want)
	}
}

// A batch cut differently after a restart: each id belongs to the batch
// that holds it in the latest cut, a record none of whose ids is its own
// any more is deleted, and copies are dropped against the latest cuts.
func TestDedupRecutBatches(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	call := func(id string, at time.Duration) schemas.Interaction {
		return ev(id, at, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	}
	// Before the crash: one batch, offsets 100–103, saved, not committed.
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx,
		batch("salespulse.leads", 100, call("x", 0), call("f1", 0), call("y", time.Minute), call("f2", time.Minute))); err != nil {
		t.Fatal(err)
	}
	// The replay cuts 100–101, then 102–104.
	d := newLeads(t, st).NewDedup(time.Hour)
	for _, b := range []*schemas.Batch{
		batch("salespulse.leads", 100, call("x", 0), call("f1", 0)),
		batch("salespulse.leads", 102, call("y", time.Minute), call("f2", time.Minute), call("z", 2*time.Minute)),
	} {
		n := len(b.Interactions)
		if err := d.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(b.Interactions) != n {
			t.Fatalf("replayed batch %s kept %+v, want all %d (its events are not copies of themselves)", b.Origin, b.Interactions, n)
		}
	}
	want := map[int64][]idKey{
		101: {keyOf("x", false), keyOf("f1", false)},
		104: {keyOf("y", false), keyOf("f2", false), keyOf("z", false)},
	}
	if got := savedRecords(t, st, "salespulse.leads", 0); !sameRecords(got, want) {
		t.Fatalf("saved %v, want %v (103's record deleted)", got, want)
	}
	// A copy of x after 101 is dropped, in the same process and after a
	// restart at 105.
	for _, d := range []*Dedup{d, newLeads(t, st).NewDedup(time.Hour)} {
		b := batch("salespulse.leads", 105, call("x", 0), call("w", 3*time.Minute))
		if err := d.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		if len(b.Interactions) != 1 || b.Interactions[0].EventID != "w" {
			t.Fatalf("kept %+v, want w only (x is a copy)", b.Interactions)
		}
	}
}

// Left over from cuts before a restart, an id in two records belongs to
// the earlier batch; the later record is deleted once it holds none of
// its own.
func TestDedupRestoreTakesTheEarliestBatch(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	rec := func(off int64, ids ...string) state.Record {
		var v []byte
		for _, id := range ids {
			k := keyOf(id, false)
			v = binary.BigEndian.AppendUint64(append(v, k[:]...), uint64(t0.UnixMilli()))
		}
		return state.Record{Key: appendBatchKey(nil, off, 0), Value: v}
	}
	if err := st.Save(ctx, state.Dedup, "salespulse.leads", 0, []state.Record{
		rec(20, "x", "y"), rec(10, "x"), rec(30, "y"),
	}); err != nil {
		t.Fatal(err)
	}
	d := newLeads(t, st).NewDedup(time.Hour)
	b := batch("salespulse.leads", 11, ev("x", 0, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := d.Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	if len(b.Interactions) != 0 {
		t.Fatalf("kept %+v, want x dropped (first seen in the batch ending at 10)", b.Interactions)
	}
	want := map[int64][]idKey{10: {keyOf("x", false)}, 20: {keyOf("x", false), keyOf("y", false)}}
	if got := savedRecords(t, st, "salespulse.leads", 0); !sameRecords(got, want) {
		t.Fatalf("saved %v, want %v (30 deleted: y is 20's)", got, want)
	}
	// The stale record back, and a batch ending at its offset after a
	// restart: the stale record is deleted, and the batch's saved there.
	if err := st.Save(ctx, state.Dedup, "salespulse.leads", 0, []state.Record{rec(30, "y")}); err != nil {
		t.Fatal(err)
	}
	b = batch("salespulse.leads", 13, make([]schemas.Interaction, 18)...)
	for k := range b.Interactions {
		b.Interactions[k] = ev("w"+strconv.Itoa(k), 0, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	}
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := savedRecords(t, st, "salespulse.leads", 0)[30]; len(got) != 18 {
		t.Fatalf("record 30 holds %d ids, want the 18 of the batch ending there", len(got))
	}
}

// A batch of more ids than a record holds is saved in chunks, read back
// whole, and a shorter save of the same batch deletes the chunks it no
// longer needs.
func TestDedupChunks(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	n := chunkIDs + 5
	ints := make([]schemas.Interaction, n)
	for k := range ints {
		ints[k] = ev("e"+strconv.Itoa(k), time.Duration(k)*time.Millisecond, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	}
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx, batch("salespulse.leads", 0, slices.Clone(ints)...)); err != nil {
		t.Fatal(err)
	}
	saved, err := st.Load(ctx, state.Dedup, "salespulse.leads", 0)
	if err != nil {
		t.Fatal(err)
	}
	last := int64(n - 1)
	if len(saved[string(appendBatchKey(nil, last, 0))]) != chunkIDs*idEntryLen || len(saved[string(appendBatchKey(nil, last, 1))]) != 5*idEntryLen {
		t.Fatalf("chunks of %d and %d bytes, want %d and %d", len(saved[string(appendBatchKey(nil, last, 0))]),
			len(saved[string(appendBatchKey(nil, last, 1))]), chunkIDs*idEntryLen, 5*idEntryLen)
	}
	// After a restart, every id is a copy for the next batch.
	d := newLeads(t, st).NewDedup(time.Hour)
	next := batch("salespulse.leads", int64(n), slices.Clone(ints)...) // Process compacts the slice in place
	if err := d.Process(ctx, next); err != nil {
		t.Fatal(err)
	}
	if len(next.Interactions) != 0 {
		t.Fatalf("kept %d, want every id dropped", len(next.Interactions))
	}
	// The same batch cut shorter at the same last offset after another
	// restart (its first ids were acknowledged in an earlier cut): its
	// record keeps the ids it holds, in one chunk.
	d = newLeads(t, st).NewDedup(time.Hour)
	if err := d.Process(ctx, batch("salespulse.leads", 0, ints[:n-10]...)); err != nil {
		t.Fatal(err)
	}
	if err := d.Process(ctx, batch("salespulse.leads", int64(n-10), ints[n-10:]...)); err != nil {
		t.Fatal(err)
	}
	got := savedRecords(t, st, "salespulse.leads", 0)
	if len(got[int64(n-11)]) != n-10 || len(got[last]) != 10 {
		t.Fatalf("records of %d and %d ids, want %d and 10", len(got[int64(n-11)]), len(got[last]), n-10)
	}
}

// len is the number of ids q remembers.
func (q *seenQueue) len() int {
	n := len(q.pending)
	for _, r := range q.runs {
		n += len(r.ids) - r.off
	}
	return n
}

// The expiry queue hands out exactly the ids older than each limit, each
// once, whatever batches (runs) they were pushed in.
func TestSeenQueueExpiry(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q seenQueue
	live := map[idKey]int64{}
	n := 0
	for batch := range 60 {
		for range rng.IntN(200) {
			s := seenID{keyOf(strconv.Itoa(n), false), int64(batch*10) + rng.Int64N(300) - 100} // late and early ones
			n++
			q.push(s)
			live[s.id] = s.at
		}
		if batch%7 == 3 {
			continue // no expiry after this batch: its run waits to be sealed
		}
		limit := int64(batch*10) - 150 + rng.Int64N(30)
		var got []seenID
		q.expire(limit, func(s seenID) { got = append(got, s) })
		for _, s := range got {
			at, ok := live[s.id]
			if !ok || at != s.at || s.at >= limit {
				t.Fatalf("batch %d: expired %v (limit %d), known %v at %d", batch, s, limit, ok, at)
			}
			delete(live, s.id)
		}
		for _, at := range live {
			if at < limit {
				t.Fatalf("batch %d: id at %d not expired at limit %d", batch, at, limit)
			}
		}
		if q.len() != len(live) {
			t.Fatalf("batch %d: queue holds %d, want %d", batch, q.len(), len(live))
		}
	}
	q.expire(math.MaxInt64, func(s seenID) { delete(live, s.id) })
	if len(live) != 0 || q.len() != 0 || len(q.runs) != 0 {
		t.Fatalf("after expiring all: %d live, queue %d in %d runs", len(live), q.len(), len(q.runs))
	}
}

// A copy within one batch is dropped like one in an earlier batch (a
// vendor's retry seconds later lands in the same batch of a catch-up),
// and a replay of that batch keeps what the first attempt kept.
func TestDedupDropsACopyInTheSameBatch(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	call := func(id string) schemas.Interaction {
		return ev(id, 0, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	}
	pair := call("a")
	pair.PairOnly = true
	in := []schemas.Interaction{call("a"), call("b"), call("a"), pair, call("b")}
	for _, d := range []*Dedup{newLeads(t, st).NewDedup(time.Hour), newLeads(t, st).NewDedup(time.Hour)} {
		b := batch("salespulse.leads", 0, slices.Clone(in)...)
		if err := d.Process(ctx, b); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range b.Interactions {
			got = append(got, i.EventID+map[bool]string{true: "(pair)"}[i.PairOnly])
		}
		if !slices.Equal(got, []string{"a", "b", "a(pair)"}) {
			t.Fatalf("kept %v, want a, b and a's pair-only copy", got)
		}
	}
	want := map[int64][]idKey{4: {keyOf("a", false), keyOf("b", false), keyOf("a", true)}}
	if got := savedRecords(t, st, "salespulse.leads", 0); !sameRecords(got, want) {
		t.Fatalf("saved %v, want %v", got, want)
	}
}

// A batch's record that holds ids this cut of the batch does not (state
// written by an earlier cut ending at the same offset) keeps them when the
// batch saves it again.
func TestDedupRecordKeepsIdsOutsideTheCut(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	var v []byte
	for _, id := range []string{"x", "y"} {
		k := keyOf(id, false)
		v = binary.BigEndian.AppendUint64(append(v, k[:]...), uint64(t0.UnixMilli()))
	}
	if err := st.Save(ctx, state.Dedup, "salespulse.leads", 0, []state.Record{{Key: appendBatchKey(nil, 20, 0), Value: v}}); err != nil {
		t.Fatal(err)
	}
	b := batch("salespulse.leads", 20, ev("y", 0, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := map[int64][]idKey{20: {keyOf("x", false), keyOf("y", false)}}
	if got := savedRecords(t, st, "salespulse.leads", 0); !sameRecords(got, want) {
		t.Fatalf("saved %v, want %v (x stays in its batch's record)", got, want)
	}
}
