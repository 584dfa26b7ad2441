package dealscore

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"
)

// Metrics are a set of predictions judged against outcomes.
type Metrics struct {
	N     int
	Won   int
	AUC   float64 // probability a won deal scores above a lost one (ties count half)
	Brier float64 // mean (p − y)²
}

// Bin is one row of a calibration table: predictions in [Lo, Hi).
type Bin struct {
	Lo, Hi   float64
	N        int
	MeanP    float64 // mean predicted probability
	ShareWon float64 // observed share won
}

// Report is an evaluation on a time-based hold-out.
type Report struct {
	Split       time.Time // train on deals closed before, test on those at or after
	Train, Test int
	Model       Metrics
	Base        Metrics // the base-rate model: every deal gets the training win rate
	Calibration []Bin   // the model's, 10 bins of width 0.1
}

// Judge computes the metrics of predictions p for outcomes y.
func Judge(p []float64, y []bool) Metrics {
	m := Metrics{N: len(p)}
	if m.N == 0 {
		return m
	}
	for k := range p {
		d := p[k]
		if y[k] {
			m.Won++
			d = p[k] - 1
		}
		m.Brier += d * d
	}
	m.Brier /= float64(m.N)
	// AUC by ranks (Mann-Whitney U), ties given their mean rank.
	idx := make([]int, m.N)
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(p[a], p[b]) })
	rankSum := 0.0
	for lo := 0; lo < m.N; {
		hi := lo
		for hi < m.N && p[idx[hi]] == p[idx[lo]] {
			hi++
		}
		r := float64(lo+hi+1) / 2 // mean of ranks lo+1 … hi
		for _, k := range idx[lo:hi] {
			if y[k] {
				rankSum += r
			}
		}
		lo = hi
	}
	pos, neg := float64(m.Won), float64(m.N-m.Won)
	if pos > 0 && neg > 0 {
		m.AUC = (rankSum - pos*(pos+1)/2) / (pos * neg)
	}
	return m
}

// Calibrate returns the 10-bin calibration table of p against y.
func Calibrate(p []float64, y []bool) []Bin {
	bins := make([]Bin, 10)
	for k := range bins {
		bins[k].Lo, bins[k].Hi = float64(k)/10, float64(k+1)/10
	}
	for k := range p {
		b := min(9, int(p[k]*10))
		bins[b].N++
		bins[b].MeanP += p[k]
		if y[k] {
			bins[b].ShareWon++
		}
	}
	for k := range bins {
		if n := float64(bins[k].N); n > 0 {
			bins[k].MeanP /= n
			bins[k].ShareWon /= n
		}
	}
	return bins
}

// Evaluate trains on the examples closed before split and judges the
// model and the base-rate model on the others.
func Evaluate(ex []Example, split time.Time, o TrainOptions) (*Report, *Model, error) {
	cut := split.UnixMilli()
	var train, test []Example
	for _, e := range ex {
		if e.At < cut {
			train = append(train, e)
		} else {
			test = append(test, e)
		}
	}
	m, err := Train(train, o)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	p := make([]float64, len(test))
	base := make([]float64, len(test))
	y := make([]bool, len(test))
	for k := range test {
		p[k] = m.Probability(&test[k].X)
		base[k] = m.BaseRate
		y[k] = test[k].Won
	}
	return &Report{Split: split.UTC(), Train: len(train), Test: len(test),
		Model: Judge(p, y), Base: Judge(base, y), Calibration: Calibrate(p, y)}, m, nil
}

// SplitAt returns the close time before which share of the examples fall:
// the hold-out is the latest 1−share of the deals.
func SplitAt(ex []Example, share float64) time.Time {
	ts := make([]int64, len(ex))
	for k, e := range ex {
		ts[k] = e.At
	}
	slices.Sort(ts)
	if len(ts) == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ts[min(len(ts)-1, int(share*float64(len(ts))))]).UTC()
}

// Print writes the report as text.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "hold-out: trained on %d deals closed before %s, tested on %d closed after\n", r.Train, r.Split.Format(time.RFC3339), r.Test)
	fmt.Fprintf(w, "test deals won: %d of %d (%.3f)\n\n", r.Model.Won, r.Model.N, float64(r.Model.Won)/float64(max(1, r.Model.N)))
	fmt.Fprintf(w, "%-12s %8s %8s\n", "model", "AUC", "Brier")
	fmt.Fprintf(w, "%-12s %8.4f %8.4f\n", "deal score", r.Model.AUC, r.Model.Brier)
	fmt.Fprintf(w, "%-12s %8.4f %8.4f\n", "base rate", r.Base.AUC, r.Base.Brier)
	fmt.Fprintf(w, "\ncalibration (deal score)\n%-11s %6s %10s %10s\n", "bin", "deals", "predicted", "won")
	for _, b := range r.Calibration {
		fmt.Fprintf(w, "[%.1f, %.1f) %6d %10.3f %10.3f\n", b.Lo, b.Hi, b.N, b.MeanP, b.ShareWon)
	}
}
