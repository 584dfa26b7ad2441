package leads

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// State saved before the ids were kept as digests (the id itself as the
// key) still drops redeliveries, and the first save moves it to digests.
func TestDedupRestoresIDKeyedState(t *testing.T) {
	st := state.NewMemory()
	ctx := context.Background()
	v := func(at time.Duration, off int64) []byte {
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(t0.Add(at).UnixMilli())), uint64(off))
	}
	if err := st.Save(ctx, state.Dedup, "salespulse.leads", 0, []state.Record{
		{Key: []byte("lead"), Value: v(0, 1)},
		{Key: []byte("\x00call"), Value: v(time.Minute, 1)},
	}); err != nil {
		t.Fatal(err)
	}
	pair := ev("call", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{})
	pair.PairOnly = true
	b := batch("salespulse.leads", 2, ev("lead", 0, schemas.TypeLeadCreated, "L1", schemas.ContactKeys{}), pair,
		ev("call", time.Minute, schemas.TypeCallOutbound, "L1", schemas.ContactKeys{}))
	if err := newLeads(t, st).NewDedup(time.Hour).Process(ctx, b); err != nil {
		t.Fatal(err)
	}
	if len(b.Interactions) != 1 || b.Interactions[0].EventID != "call" || b.Interactions[0].PairOnly {
		t.Fatalf("kept %+v, want only the call (lead and the pair-only call are redeliveries)", b.Interactions)
	}
	saved, err := st.Load(ctx, state.Dedup, "salespulse.leads", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range saved {
		if k[0] == upstreamMark {
			continue
		}
		if len(k) != 17 || k[0] != digestMark {
			t.Fatalf("saved key %q, want digests only", k)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d ids saved, want 3 (lead, the pair-only call, call)", n)
	}
}

func TestSeenQueueOrder(t *testing.T) {
	var q seenQueue
	rng := rand.New(rand.NewPCG(1, 2))
	var want []int64
	for range 1000 {
		at := rng.Int64N(50)
		q.push(seenID{keyOf(strconv.Itoa(len(want)), false), at})
		want = append(want, at)
	}
	slices.Sort(want)
	for k, w := range want {
		s := q.pop()
		if s.at != w || len(q) > 0 && q[0].less(s) {
			t.Fatalf("pop %d: %d, want %d in (event time, digest) order", k, s.at, w)
		}
	}
}
