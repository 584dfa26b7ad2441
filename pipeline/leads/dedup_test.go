package leads

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
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
