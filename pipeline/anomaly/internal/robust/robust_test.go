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
