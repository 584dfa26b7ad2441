package pairing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

const msPerDay = 24 * 60 * 60 * 1000

// TestWakeQueueTakesWhatASortDoes: whatever the pushes (near, far, equal
// times, before the first take) and however far the horizon jumps, take
// returns exactly the wakes before it, in wakeLess order.
func TestWakeQueueTakesWhatASortDoes(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		items := make([]*item, 50)
		for k := range items {
			items[k] = &item{key: fmt.Sprint("k", k), fam: []uint8{Lead, Approval}[k%2]}
		}
		q := &wakeQueue{}
		var ref []wake
		horizon := rng.Int64N(1 << 40)
		for round := range 300 {
			for range rng.IntN(200) {
				var d int64
				switch rng.IntN(4) {
				case 0: // within the ring
					d = rng.Int64N(ringSize << ringShift)
				case 1: // days ahead
					d = rng.Int64N(30 * msPerDay)
				case 2: // at the horizon, same millisecond as others
					d = 0
				default: // a few seconds
					d = rng.Int64N(5000)
				}
				w := wake{t: horizon + d, it: items[rng.IntN(len(items))]}
				q.push(w)
				ref = append(ref, w)
			}
			switch rng.IntN(10) {
			case 0:
				horizon += rng.Int64N(40 * msPerDay) // far beyond the ring
			default:
				horizon += rng.Int64N(3 << ringShift)
			}
			got := slices.Clone(q.take(horizon))
			q.release()
			slices.SortStableFunc(ref, func(a, b wake) int {
				switch {
				case wakeLess(&a, &b):
					return -1
				case wakeLess(&b, &a):
					return 1
				}
				return 0
			})
			n := 0
			for n < len(ref) && ref[n].t < horizon {
				n++
			}
			want := ref[:n]
			if len(got) != len(want) {
				t.Fatalf("seed %d round %d: took %d wakes, want %d", seed, round, len(got), len(want))
			}
			for k := range got {
				// Equal wakes (same time and item) may come in any order.
				if got[k].t != want[k].t || got[k].it != want[k].it {
					t.Fatalf("seed %d round %d: wake %d is (%d, %s), want (%d, %s)", seed, round, k, got[k].t, got[k].it.key, want[k].t, want[k].it.key)
				}
			}
			ref = slices.Delete(ref, 0, n)
			if q.len() != len(ref) {
				t.Fatalf("seed %d round %d: %d queued, want %d", seed, round, q.len(), len(ref))
			}
		}
	}
}
