// Package robust scores a value against a sample with the robust z-score
// (median and median absolute deviation): Z by selection on a copy of the
// sample, Sorted from the sample's values kept in order beside it.
package robust

import (
	"math"
	"slices"
)

// Z scores x against sample: 0.6745·(x−median)/MAD, falling back to
// the mean absolute deviation (·1.2533) when more than half the sample is
// one value (MAD 0, e.g. many 0 % discounts). ok is false when the sample
// has no spread at all.
//
// The medians come from quickselect, not a sort: with the default team
// window of 200 values, two sorts per observed quote or answer were most of
// the anomaly stage's CPU. Selection returns the same order statistics, so
// the results are bit for bit those of sorting; only the rare fallback,
// whose sum depends on the order of its terms, still sorts.
func Z(x float64, sample, scratch []float64) (z, med, spread float64, ok bool) {
	s := append(scratch[:0], sample...)
	med = Median(s)
	for k := range s {
		s[k] = math.Abs(s[k] - med)
	}
	if mad := Median(s); mad > 0 {
		return 0.6745 * (x - med) / mad, med, mad, true
	}
	slices.Sort(s)
	var sum float64
	for _, d := range s {
		sum += d
	}
	if mean := sum / float64(len(s)); mean > 0 {
		return (x - med) / (1.2533 * mean), med, mean, true
	}
	return 0, med, 0, false
}

// Median returns median(s sorted), reordering s. Values are compared
// like slices.Sort compares them; with a NaN, whose place in a sort is not
// an order statistic, it sorts instead.
func Median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	for _, v := range s {
		if v != v {
			slices.Sort(s)
			return medianSorted(s)
		}
	}
	k := n / 2
	hi := nthElement(s, k)
	if n%2 == 1 {
		return hi
	}
	// s[:k] now holds the k smallest values: the lower middle is their
	// maximum.
	lo := s[0]
	for _, v := range s[1:k] {
		if v > lo {
			lo = v
		}
	}
	return (lo + hi) / 2
}

// nthElement reorders s so that s[k] is the value a sort would put there,
// every value before it is ≤ s[k] and every value after it ≥ s[k], and
// returns s[k]. s must not contain NaN. Hoare's selection (FIND) with a
// median-of-three pivot; insertion sort for short ranges.
func nthElement(s []float64, k int) float64 {
	lo, hi := 0, len(s)-1
	for hi-lo > 12 {
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		p := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < p {
				i++
			}
			for p < s[j] {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		// s[lo..j] ≤ p, s[i..hi] ≥ p, and everything between equals p.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return s[k]
		}
	}
	for a := lo + 1; a <= hi; a++ {
		for b := a; b > lo && s[b] < s[b-1]; b-- {
			s[b], s[b-1] = s[b-1], s[b]
		}
	}
	return s[k]
}

func medianSorted(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
