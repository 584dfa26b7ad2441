package testenv

import "github.com/prometheus/client_golang/prometheus"

// SumMetric adds the series of the metric family name gathered from g —
// only those carrying every label pair given (name, value, ...) — counting
// a histogram's samples; -1 when gathering fails.
func SumMetric(g prometheus.Gatherer, name string, labels ...string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return -1
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k := 0; k+1 < len(labels); k += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[k] && l.GetValue() == labels[k+1]
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}
