package pipeline

import (
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// batchHistogram is a Prometheus histogram observed a batch at a time: the
// batch's values are counted into local buckets, then merged under one
// lock. The event → stored histogram takes one observation per
// interaction; prometheus.Histogram.Observe per row updates the same
// atomics from both workers' cores (BenchmarkObserveBatch: 143-201 µs per
// 1,000 rows, 6 µs per batch here). In a profiled ingest-only drain the
// loop went 0.12 → 0.08 CPU-s; the rest is reading each row's event time. It exposes what a
// prometheus.Histogram with the same buckets would (TestBatchHistogram).
type batchHistogram struct {
	desc  *prometheus.Desc
	upper []float64 // bucket upper bounds, ascending, without +Inf

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	count  uint64
	sum    float64
}

var _ prometheus.Collector = (*batchHistogram)(nil)

func newBatchHistogram(name, help string, buckets []float64) *batchHistogram {
	upper := slices.Clone(buckets)
	slices.Sort(upper)
	return &batchHistogram{
		desc:   prometheus.NewDesc(name, help, nil, nil),
		upper:  upper,
		counts: make([]uint64, len(upper)+1),
	}
}

// histBatch collects one batch's observations for batchHistogram.add.
type histBatch struct {
	counts []uint64
	n      uint64
	sum    float64
}

// batch returns an empty histBatch for h.
func (h *batchHistogram) batch() histBatch {
	return histBatch{counts: make([]uint64, len(h.upper)+1)}
}

// observe counts v into b as prometheus.Histogram.Observe would count it
// (v ≤ an upper bound is in that bucket).
func (h *batchHistogram) observe(b *histBatch, v float64) {
	b.counts[sort.SearchFloat64s(h.upper, v)]++
	b.n++
	b.sum += v
}

// add merges b into h.
func (h *batchHistogram) add(b *histBatch) {
	if b.n == 0 {
		return
	}
	h.mu.Lock()
	for k, c := range b.counts {
		h.counts[k] += c
	}
	h.count += b.n
	h.sum += b.sum
	h.mu.Unlock()
}

func (h *batchHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *batchHistogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(h.upper))
	h.mu.Lock()
	var cum uint64
	for k, u := range h.upper {
		cum += h.counts[k]
		buckets[u] = cum
	}
	count, sum := h.count, h.sum
	h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, buckets)
}
