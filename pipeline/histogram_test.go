package pipeline

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A batchHistogram exposes what a prometheus.Histogram with the same
// buckets exposes after the same observations: the same bucket counts
// (values on a bound included), count and sum (to rounding), also behind
// a wrapping registerer's labels, as the flows register it.
func TestBatchHistogram(t *testing.T) {
	const name, help = "h_seconds", "help"
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: eventToStoreBuckets})
	h := newBatchHistogram(name, help, eventToStoreBuckets)
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		b := h.batch()
		for range r.IntN(2000) {
			var v float64
			switch r.IntN(4) {
			case 0:
				v = eventToStoreBuckets[r.IntN(len(eventToStoreBuckets))] // on a bound
			case 1:
				v = -r.Float64() // a clock ahead of the event
			case 2:
				v = 1e6 * r.Float64() // past the last bound
			default:
				v = 10 * r.ExpFloat64()
			}
			ref.Observe(v)
			h.observe(&b, v)
		}
		h.add(&b)
	}
	want, got := gather(t, ref), gather(t, h)
	if got.GetSampleCount() != want.GetSampleCount() || got.GetSampleCount() == 0 {
		t.Fatalf("count %d, want %d", got.GetSampleCount(), want.GetSampleCount())
	}
	if d := math.Abs(got.GetSampleSum() - want.GetSampleSum()); d > 1e-9*math.Abs(want.GetSampleSum()) {
		t.Fatalf("sum %v, want %v", got.GetSampleSum(), want.GetSampleSum())
	}
	if len(got.Bucket) != len(want.Bucket) {
		t.Fatalf("%d buckets, want %d", len(got.Bucket), len(want.Bucket))
	}
	for k := range want.Bucket {
		if got.Bucket[k].GetUpperBound() != want.Bucket[k].GetUpperBound() || got.Bucket[k].GetCumulativeCount() != want.Bucket[k].GetCumulativeCount() {
			t.Fatalf("bucket %d: le %v count %d, want le %v count %d", k, got.Bucket[k].GetUpperBound(), got.Bucket[k].GetCumulativeCount(),
				want.Bucket[k].GetUpperBound(), want.Bucket[k].GetCumulativeCount())
		}
	}

	reg := prometheus.NewPedanticRegistry()
	prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": "ingest"}, reg).MustRegister(h)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetType() != dto.MetricType_HISTOGRAM || mfs[0].Metric[0].Label[0].GetValue() != "ingest" ||
		mfs[0].Metric[0].GetHistogram().GetSampleCount() != want.GetSampleCount() {
		t.Fatalf("wrapped: %v", mfs)
	}
}

func gather(t *testing.T, c prometheus.Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs[0].Metric[0].GetHistogram()
}

// BenchmarkObserveBatch is the event → stored histogram's cost per
// 1,000-interaction batch, both workers at once (b.RunParallel), as
// prometheus.Histogram.Observe per row and as batchHistogram.
//
//	go test ./pipeline -run '^$' -bench ObserveBatch -count 6
func BenchmarkObserveBatch(b *testing.B) {
	vals := make([]float64, 1000)
	for k := range vals {
		vals[k] = 0.3 + float64(k%97)/50
	}
	b.Run("prometheus", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h", Buckets: eventToStoreBuckets})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for _, v := range vals {
					h.Observe(v)
				}
			}
		})
	})
	b.Run("batch", func(b *testing.B) {
		h := newBatchHistogram("h", "h", eventToStoreBuckets)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				hb := h.batch()
				for _, v := range vals {
					h.observe(&hb, v)
				}
				h.add(&hb)
			}
		})
	})
}
