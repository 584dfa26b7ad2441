package detect

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// BenchmarkDeadlineHeap: 100,000 deadlines over a week (a drain's open
// leads' SLA and escalation deadlines), pushed in random order and popped
// in deadline order. One op is all of them.
func BenchmarkDeadlineHeap(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	dls := make([]Deadline, n)
	for k := range dls {
		dls[k] = Deadline{At: t0.Add(time.Duration(rng.Int64N(int64(7*24*time.Hour/time.Millisecond))) * time.Millisecond),
			Kind: uint8(k % 2), owner: uint8(k % 3), Gen: uint32(k), Key: "lead-" + strconv.Itoa(k%40_000)}
	}
	var h deadlineHeap
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range dls {
			h.push(d)
		}
		for len(h) > 0 {
			h.pop()
		}
	}
}

// The heap pops deadlines in (At, owner, Kind, Key) order, whatever order
// they were pushed in, including instants that differ only in their
// nanoseconds and zero or far-future times.
func TestDeadlineHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var dls []Deadline
	for k := range 5000 {
		at := t0.Add(time.Duration(rng.Int64N(1000)) * time.Nanosecond)
		switch k % 50 {
		case 0:
			at = time.Time{}
		case 1:
			at = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		case 2:
			at = at.In(time.FixedZone("X", 3600))
		}
		dls = append(dls, Deadline{At: at, Kind: uint8(rng.IntN(2)), owner: uint8(rng.IntN(3)), Key: strconv.Itoa(rng.IntN(20))})
	}
	var h deadlineHeap
	for _, d := range dls {
		h.push(d)
	}
	prev := h.pop()
	for len(h) > 0 {
		d := h.pop()
		if before(d, prev) {
			t.Fatalf("popped %v after %v", d, prev)
		}
		prev = d
	}
}

// before is the heap's order spelled out on the times themselves.
func before(a, b Deadline) bool {
	switch {
	case !a.At.Equal(b.At):
		return a.At.Before(b.At)
	case a.owner != b.owner:
		return a.owner < b.owner
	case a.Kind != b.Kind:
		return a.Kind < b.Kind
	}
	return a.Key < b.Key
}
