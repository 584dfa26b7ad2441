// Package timesort orders a batch's events by event time fast. The stages
// that hold events until the progress reaches them (the SLA detector, lead
// dedup's expiry runs) sort each batch's events by time, and a batch of
// the lead topics is merged from many upstreams, so it comes in no order:
// with slices.SortFunc (a call per comparison) that sort was a third of
// their own CPU in drains. Packed as (at - earliest) << b | index into one
// integer, the times sort with the comparison inline, 3-4x faster
// (pipeline/leads BenchmarkSortByAt, pipeline/anomaly BenchmarkSortHeld).
package timesort

import (
	"math/bits"
	"slices"
)

// Permute writes src into dst (at least as long) ordered by at, ties in
// src's order, and returns keys for reuse. ok is false, and dst untouched,
// when the span of src's times is too wide to pack beside an index (more
// than 2^(64 - bits.Len(len(src)-1)) ms: millennia for any batch): the
// caller sorts by its own comparison then.
func Permute[T any](dst, src []T, at func(*T) int64, keys []uint64) (_ []uint64, ok bool) {
	if len(src) == 0 {
		return keys, true
	}
	lo, hi := at(&src[0]), at(&src[0])
	for k := range src {
		t := at(&src[k])
		lo, hi = min(lo, t), max(hi, t)
	}
	b := bits.Len(uint(len(src) - 1))
	if (uint64(hi)-uint64(lo))>>(64-b) != 0 {
		return keys, false
	}
	keys = keys[:0]
	for k := range src {
		keys = append(keys, (uint64(at(&src[k]))-uint64(lo))<<b|uint64(k))
	}
	slices.Sort(keys)
	mask := uint64(1)<<b - 1
	for k, key := range keys {
		dst[k] = src[key&mask]
	}
	return keys, true
}
