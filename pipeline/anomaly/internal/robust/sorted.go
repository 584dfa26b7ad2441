package robust

import (
	"math"
	"slices"
)

// Sorted holds a sample's values in ascending order, kept up to date as
// values come and go (Add, Replace) beside the sample itself, so that
// scoring against the sample needs neither a copy nor a selection: the
// median is the middle of the sorted values, and the deviations from it
// are two sorted runs (the values below the median read downwards, the
// others upwards) whose median is found by bisection.
//
// NaN and −0 are counted, not kept: where a sort may put a NaN, or a −0
// beside a +0, is not determined by the values, so what Z and Median
// return for a sample holding one depends on the sample's order. Z and
// Median of a Sorted holding one fall back to those of the sample.
type Sorted struct {
	v   []float64 // the values but NaNs and −0s, ascending
	odd int       // NaNs and −0s
}

func isOdd(x float64) bool { return x != x || x == 0 && math.Signbit(x) }

// Reset makes s hold sample's values.
func (s *Sorted) Reset(sample []float64) {
	if cap(s.v) < len(sample) {
		s.v = make([]float64, 0, len(sample))
	}
	s.v, s.odd = s.v[:0], 0
	for _, x := range sample {
		if isOdd(x) {
			s.odd++
		} else {
			s.v = append(s.v, x)
		}
	}
	slices.Sort(s.v)
}

// Add adds x.
func (s *Sorted) Add(x float64) {
	if isOdd(x) {
		s.odd++
		return
	}
	j := s.search(x)
	s.v = slices.Insert(s.v, j, x)
}

// Replace replaces one value old, which s must hold, with x: a full ring
// overwriting its oldest value. One move of the values between the two.
func (s *Sorted) Replace(old, x float64) {
	switch {
	case isOdd(old):
		s.odd--
		s.Add(x)
		return
	case isOdd(x):
		s.odd++
		i := s.search(old)
		s.v = slices.Delete(s.v, i, i+1)
		return
	}
	i := s.search(old) // s.v[i] == old: equal values other than ±0 and NaN are the same bits
	switch j := s.search(x); {
	case x > old: // s.v[i+1:j] < x: they move down one, x goes after them
		copy(s.v[i:], s.v[i+1:j])
		s.v[j-1] = x
	case x < old: // s.v[j:i] ≥ x: they move up one, x goes before them
		copy(s.v[j+1:], s.v[j:i])
		s.v[j] = x
	}
}

// search returns the index of the first value ≥ x.
func (s *Sorted) search(x float64) int {
	lo, hi := 0, len(s.v)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.v[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// searchAbove returns the index of the first value > x.
func (s *Sorted) searchAbove(x float64) int {
	lo, hi := 0, len(s.v)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.v[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Median is Median of the sample whose values s holds, without reordering
// sample; scratch is room for a copy of it, needed only when s holds a NaN
// or a −0.
func (s *Sorted) Median(sample, scratch []float64) float64 {
	if s.odd > 0 {
		return Median(append(scratch[:0], sample...))
	}
	return medianSorted(s.v)
}

// Z is Z(x, sample, scratch) for the sample whose values s holds, bit for
// bit. It reads sample, in its order, only when s holds a NaN or a −0 or
// the median is infinite (deviations from it are NaN): then it is Z.
func (s *Sorted) Z(x float64, sample, scratch []float64) (z, med, spread float64, ok bool) {
	v := s.v
	n := len(v)
	if s.odd > 0 || n == 0 {
		return Z(x, sample, scratch)
	}
	med = medianSorted(v)
	if math.IsInf(med, 0) {
		return Z(x, sample, scratch)
	}
	// The deviations |v[i]−med| ascend along v[k-1], v[k-2] … v[0] and
	// along v[k], v[k+1] … v[n-1]: v[:k] ≤ med ≤ v[k:], as a rounded mean
	// of two values lies between them. Without NaN and −0 (the median is
	// finite, so no deviation is NaN; Abs makes no −0), equal deviations
	// are the same bits, so any order statistic of them is that of a sort.
	k := n / 2
	hi, lo := devSelect(v, k, med, k)
	mad := hi
	if n%2 == 0 {
		mad = (lo + hi) / 2
	}
	if mad > 0 {
		return 0.6745 * (x - med) / mad, med, mad, true
	}
	// The mean deviation, summed in ascending order as Z sums its sorted
	// deviations: a float sum depends on the order of its terms. The
	// deviations of the values equal to the median, more than half of
	// them here, are +0 and come first: adding them to +0 leaves +0, so
	// the sum starts after them.
	var sum float64
	i, j := s.search(med)-1, s.searchAbove(med)
	for i >= 0 && j < n {
		if dl, dr := med-v[i], v[j]-med; dl <= dr {
			sum += dl
			i--
		} else {
			sum += dr
			j++
		}
	}
	for ; i >= 0; i-- {
		sum += med - v[i]
	}
	for ; j < n; j++ {
		sum += v[j] - med
	}
	if mean := sum / float64(n); mean > 0 {
		return (x - med) / (1.2533 * mean), med, mean, true
	}
	return 0, med, 0, false
}

// devSelect returns the k-th smallest (from 0) of the deviations
// |v[i]−med| of ascending v, split at m (v[:m] ≤ med ≤ v[m:]), and the
// (k−1)-th (−1 when k is 0). It bisects on how many of the k+1 smallest
// come from below the median (a) and how many from above (t−a).
func devSelect(v []float64, m int, med float64, k int) (kth, prev float64) {
	nl, nr := m, len(v)-m
	left := func(a int) float64 { return math.Abs(v[m-1-a] - med) } // a-th smallest below
	right := func(b int) float64 { return math.Abs(v[m+b] - med) }  // b-th smallest above
	t := k + 1
	lo, hi := max(0, t-nr), min(t, nl)
	for lo < hi {
		a := int(uint(lo+hi) >> 1)
		if left(a) < right(t-a-1) {
			lo = a + 1
		} else {
			hi = a
		}
	}
	a, b := lo, t-lo
	// The t smallest are left(0..a−1) and right(0..b−1): the largest of
	// them is the k-th, the next largest the (k−1)-th. Deviations are ≥ 0,
	// so −1 stands for none.
	at := func(f func(int) float64, i int) float64 {
		if i < 0 {
			return -1
		}
		return f(i)
	}
	l1, r1 := at(left, a-1), at(right, b-1)
	if l1 >= r1 {
		return l1, max(at(left, a-2), r1)
	}
	return r1, max(l1, at(right, b-2))
}
