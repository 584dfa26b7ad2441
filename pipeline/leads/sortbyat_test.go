package leads

import (
	"math"
	"slices"
	"testing"
)

// sortByAt sorts a batch's ids by event time in arrival order, packed and,
// for a span too wide to pack, by cmpAt (timesort's own test covers the
// packing).
func TestSortByAt(t *testing.T) {
	for _, wide := range []bool{false, true} {
		src := make([]seenID, 1000)
		for k := range src {
			src[k] = seenID{at: 1_762_000_000_000 + int64(k%7)*1000 - int64(k%3)}
			src[k].id[0], src[k].id[1] = byte(k), byte(k>>8)
		}
		if wide {
			src[10].at, src[20].at = math.MinInt64/2, math.MaxInt64/2
		}
		want := slices.Clone(src)
		slices.SortStableFunc(want, cmpAt)
		got := make([]seenID, len(src))
		sortByAt(got, src, nil)
		if !slices.Equal(got, want) {
			t.Errorf("wide=%v: not sorted by time in arrival order", wide)
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
