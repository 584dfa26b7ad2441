package timesort

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

type ev struct {
	at int64
	n  int
}

func atOf(e *ev) int64 { return e.at }

// Permute orders as a stable sort by time does, and declines spans it
// cannot pack.
func TestPermute(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var keys []uint64
	for _, c := range []struct {
		name   string
		n      int
		lo, hi int64
		ok     bool
	}{
		{"empty", 0, 0, 1, true},
		{"one", 1, 5, 6, true},
		{"ties", 500, 1_000, 1_010, true},
		{"a drain's batch", 3000, 1_762_000_000_000, 1_762_000_600_000, true},
		{"negative times", 200, -50_000, 50_000, true},
		{"too wide to pack", 300, math.MinInt64 / 2, math.MaxInt64 / 2, false},
	} {
		src := make([]ev, c.n)
		for k := range src {
			src[k] = ev{at: c.lo + rng.Int64N(c.hi-c.lo), n: k}
		}
		if !c.ok {
			src[0].at, src[1].at = c.lo, c.hi
		}
		want := slices.Clone(src)
		slices.SortStableFunc(want, func(a, b ev) int { return int(min(max(a.at-b.at, -1), 1)) })
		dst := make([]ev, c.n)
		var ok bool
		keys, ok = Permute(dst, src, atOf, keys)
		if ok != c.ok {
			t.Fatalf("%s: ok %v, want %v", c.name, ok, c.ok)
		}
		if ok && !slices.Equal(dst, want) {
			t.Errorf("%s: not sorted by time in src's order", c.name)
		}
		if !ok && slices.ContainsFunc(dst, func(e ev) bool { return e != ev{} }) {
			t.Errorf("%s: dst written though not packed", c.name)
		}
	}
}
