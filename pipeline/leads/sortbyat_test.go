package leads

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortByAt sorts as a stable sort by event time does: packed, and through
// the fallback for spans too wide to pack.
func TestSortByAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []uint64
	for _, c := range []struct {
		name   string
		n      int
		lo, hi int64
	}{
		{"empty", 0, 0, 1},
		{"one", 1, 5, 6},
		{"ties", 500, 1_000, 1_010},
		{"a drain's batch", 3000, 1_762_000_000_000, 1_762_000_600_000},
		{"negative times", 200, -50_000, 50_000},
		{"too wide to pack", 300, math.MinInt64 / 2, math.MaxInt64 / 2},
	} {
		src := make([]seenID, c.n)
		for k := range src {
			src[k] = seenID{at: c.lo + rng.Int64N(c.hi-c.lo)}
			src[k].id[0], src[k].id[1] = byte(k), byte(k>>8)
		}
		want := slices.Clone(src)
		slices.SortStableFunc(want, cmpAt)
		got := make([]seenID, c.n)
		keys = sortByAt(got, src, keys)
		if !slices.Equal(got, want) {
			t.Errorf("%s: not sorted by time in arrival order", c.name)
		}
	}
}

// BenchmarkSortByAt: one lead-topic batch's 2,000 new ids, merged from 12
// upstreams each in event-time order, sorted for the expiry queue: packed
// (sortByAt) against a sort calling cmpAt (what seal did before).
func BenchmarkSortByAt(b *testing.B) {
	const n, upstreams = 2000, 12
	src := make([]seenID, n)
	for k := range src {
		src[k] = seenID{at: 1_762_000_000_000 + int64(k/upstreams) + int64(k%upstreams)*300}
		src[k].id[0], src[k].id[1] = byte(k), byte(k>>8)
	}
	dst := make([]seenID, n)
	b.Run("cmpAt", func(b *testing.B) {
		for b.Loop() {
			copy(dst, src)
			slices.SortFunc(dst, cmpAt)
		}
	})
	b.Run("packed", func(b *testing.B) {
		var keys []uint64
		for b.Loop() {
			keys = sortByAt(dst, src, keys)
		}
	})
}
