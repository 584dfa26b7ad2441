package main

import (
	"math"
	"sort"
	"sync/atomic"

	dto "github.com/prometheus/client_model/go"
)

func atomicAdd(p *int64, n int64) { atomic.AddInt64(p, n) }

// sum adds every series of the metric family name whose labels include
// match (nil: all series). fams is one Gather: a pipeline's registry is
// gathered once per "stat", not once per figure, since Gather (every
// series of every family, sorted and copied) was ~8 % of the drain's
// pipeline CPU when each figure gathered on its own.
func sum(fams []*dto.MetricFamily, name string, match map[string]string) float64 {
	var s float64
	for _, mf := range fams {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, match) {
				continue
			}
			switch {
			case m.Counter != nil:
				s += m.GetCounter().GetValue()
			case m.Gauge != nil:
				// Gauges here are timestamps and lags: the largest
				// timestamp is "last", lags add up.
				if name == "salespulse_pipeline_last_stored_timestamp_seconds" {
					s = math.Max(s, m.GetGauge().GetValue())
				} else {
					s += m.GetGauge().GetValue()
				}
			}
		}
	}
	return s
}

// histQuantiles returns p50, p99 and the count of a histogram over its
// series whose labels include match (nil: all), linearly interpolated
// inside buckets as Prometheus' histogram_quantile does.
func histQuantiles(fams []*dto.MetricFamily, name string, match map[string]string) (p50, p99, n float64) {
	for _, mf := range fams {
		if mf.GetName() != name || mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		var bs []bucket
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, match) {
				continue
			}
			h := m.GetHistogram()
			n += float64(h.GetSampleCount())
			for _, b := range h.GetBucket() {
				bs = addBucket(bs, b.GetUpperBound(), float64(b.GetCumulativeCount()))
			}
		}
		return quantile(bs, n, 0.5), quantile(bs, n, 0.99), n
	}
	return 0, 0, 0
}

type bucket struct{ le, cum float64 }

func addBucket(bs []bucket, le, cum float64) []bucket {
	for k := range bs {
		if bs[k].le == le {
			bs[k].cum += cum
			return bs
		}
	}
	bs = append(bs, bucket{le, cum})
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	return bs
}

func quantile(bs []bucket, n, q float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.cum >= rank {
			if b.cum == below {
				return b.le
			}
			return lo + (b.le-lo)*(rank-below)/(b.cum-below)
		}
		lo, below = b.le, b.cum
	}
	return math.Inf(1) // beyond the last bucket
}

// median of xs (NaN when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// hasLabels reports whether m carries every label of match.
func hasLabels(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		if label(m, k) != v {
			return false
		}
	}
	return true
}

// label is the value of m's label name ("" when m has none).
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
