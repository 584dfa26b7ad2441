package robust

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestZFallsBackWhenMADIsZero(t *testing.T) {
	sample := []float64{0, 0, 0, 0, 0, 0, 10, 20}
	z, med, _, ok := Z(20, sample, nil)
	if !ok || med != 0 || z <= 3.5 {
		t.Fatalf("z %v med %v ok %v", z, med, ok)
	}
	if _, _, _, ok := Z(1, []float64{3, 3, 3}, nil); ok {
		t.Fatal("no spread must not score")
	}
}

// robustZSorted is Z as it was before selection replaced sorting: the
// reference the faster one must match bit for bit.
func robustZSorted(x float64, sample []float64) (z, med, spread float64, ok bool) {
	s := slices.Clone(sample)
	slices.Sort(s)
	med = medianSorted(s)
	for k := range s {
		s[k] = math.Abs(s[k] - med)
	}
	slices.Sort(s)
	if mad := medianSorted(s); mad > 0 {
		return 0.6745 * (x - med) / mad, med, mad, true
	}
	var sum float64
	for _, d := range s {
		sum += d
	}
	if mean := sum / float64(len(s)); mean > 0 {
		return (x - med) / (1.2533 * mean), med, mean, true
	}
	return 0, med, 0, false
}

func TestZMatchesSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	var scratch []float64
	for n := 1; n <= 260; n++ {
		for trial := range 20 {
			sample := make([]float64, n)
			for k := range sample {
				switch trial % 4 {
				case 0: // continuous
					sample[k] = rng.Float64() * 100
				case 1: // few distinct values: many ties, MAD often 0
					sample[k] = float64(rng.IntN(3)) * 5
				case 2: // mostly one value: the mean-deviation fallback
					if rng.IntN(10) == 0 {
						sample[k] = rng.Float64() * 1000
					}
				default: // response times in seconds, with infinities
					sample[k] = math.Floor(rng.ExpFloat64() * 3600)
					if rng.IntN(50) == 0 {
						sample[k] = math.Inf(1)
					}
				}
			}
			x := rng.Float64() * 100
			wz, wm, ws, wok := robustZSorted(x, sample)
			before := slices.Clone(sample)
			z, m, sp, ok := Z(x, sample, scratch)
			if !same(z, wz) && !(z != z && wz != wz) || !same(m, wm) || !same(sp, ws) || ok != wok {
				t.Fatalf("n %d trial %d: got %v %v %v %v, sorting gives %v %v %v %v", n, trial, z, m, sp, ok, wz, wm, ws, wok)
			}
			if !slices.Equal(sample, before) {
				t.Fatalf("n %d trial %d: Z modified its sample", n, trial)
			}
			sorted := slices.Clone(sample)
			slices.Sort(sorted)
			if got, want := Median(slices.Clone(sample)), medianSorted(sorted); !same(got, want) {
				t.Fatalf("n %d trial %d: Median %v, median of sorted %v", n, trial, got, want)
			}
		}
	}
	// With a NaN it sorts, and slices.Sort puts NaN first: [NaN 1 3].
	if got := Median([]float64{3, math.NaN(), 1}); got != 1 {
		t.Fatalf("Median with NaN: %v, want 1", got)
	}
}

// TestSortedMatchesZ feeds random streams through a ring with a Sorted
// beside it, as the outlier detector keeps its windows, and checks that
// Sorted.Z and Sorted.Median give what Z and Median give on the ring (and
// sorting, where the ring holds no NaN or −0) bit for bit after every
// value, and that a Sorted rebuilt by Reset (a restored ring) does too.
func TestSortedMatchesZ(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	odd := func(s []float64) bool {
		return slices.ContainsFunc(s, func(v float64) bool { return v != v || v == 0 && math.Signbit(v) })
	}
	values := []func() float64{
		func() float64 { return rng.Float64() * 100 },                 // continuous
		func() float64 { return float64(rng.IntN(3)) * 5 },            // ties, MAD often 0
		func() float64 { return -float64(rng.IntN(4)) },               // negative ties
		func() float64 { return rng.NormFloat64() * 1e-300 },          // tiny: medians of subnormal sums
		func() float64 { return rng.NormFloat64() * 1e307 },           // huge: deviations overflow
		func() float64 { return math.Floor(rng.ExpFloat64() * 3600) }, // response times
		func() float64 { // mostly zero: the mean-deviation fallback
			if rng.IntN(10) == 0 {
				return rng.Float64() * 1000
			}
			return 0
		},
		func() float64 { // mostly one value, the others on both sides: the fallback sums both runs
			if rng.IntN(3) == 0 {
				return rng.Float64() * 10
			}
			return 5
		},
	}
	check := func(what string, s *Sorted, ring []float64, x float64) {
		t.Helper()
		var scratch []float64
		wz, wm, ws, wok := Z(x, ring, nil)
		z, m, sp, ok := s.Z(x, ring, scratch)
		if !same(z, wz) || !same(m, wm) || !same(sp, ws) || ok != wok {
			t.Fatalf("%s: ring %v x %v: Sorted.Z %v %v %v %v, Z %v %v %v %v", what, ring, x, z, m, sp, ok, wz, wm, ws, wok)
		}
		if !odd(ring) {
			rz, rm, rs, rok := robustZSorted(x, ring)
			if !same(z, rz) && !(z != z && rz != rz) || !same(m, rm) || !same(sp, rs) || ok != rok {
				t.Fatalf("%s: ring %v x %v: Sorted.Z %v %v %v %v, sorting %v %v %v %v", what, ring, x, z, m, sp, ok, rz, rm, rs, rok)
			}
		}
		if got, want := s.Median(ring, scratch), Median(slices.Clone(ring)); !same(got, want) {
			t.Fatalf("%s: ring %v: Sorted.Median %v, Median %v", what, ring, got, want)
		}
	}
	for trial := range 400 {
		size := 1 + rng.IntN(60)
		if trial%10 == 0 {
			size = 200
		}
		var ring []float64
		var s Sorted
		next := 0
		value := values[trial%len(values)]
		for k := range 3 * size {
			x := value()
			switch r := rng.IntN(100); {
			case r == 0 && trial%3 == 0:
				x = math.NaN()
			case r == 1 && trial%3 == 0:
				x = math.Copysign(0, -1)
			case r == 2:
				x = math.Inf(1)
			case r == 3:
				x = math.Inf(-1)
			case r < 10:
				x = values[rng.IntN(len(values))]() // another regime's value
			}
			if len(ring) < size {
				ring = append(ring, x)
				s.Add(x)
			} else {
				s.Replace(ring[next], x)
				ring[next] = x
				next = (next + 1) % size
			}
			if !slices.IsSorted(s.v) || len(s.v)+s.odd != len(ring) {
				t.Fatalf("trial %d value %d: sorted %v, %d odd, ring %v", trial, k, s.v, s.odd, ring)
			}
			score := value()
			if rng.IntN(20) == 0 {
				score = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)}[rng.IntN(4)]
			}
			check("incremental", &s, ring, score)
			if k%17 == 0 {
				var r Sorted
				r.Reset(ring)
				check("reset", &r, ring, score)
			}
		}
	}
}
