// Package metrics holds the Kafka source's Prometheus metrics, with each
// topic's children looked up once.
package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the source's metrics.
type Metrics struct {
	Records      *prometheus.CounterVec
	RecordBytes  *prometheus.CounterVec
	Decoded      *prometheus.CounterVec
	Skipped      *prometheus.CounterVec
	DeadLetters  *prometheus.CounterVec
	Batches      *prometheus.CounterVec
	BatchRows    prometheus.Histogram
	BatchBytes   prometheus.Histogram
	Lag          *prometheus.GaugeVec
	CommitErrors prometheus.Counter
	InFlight     prometheus.Gauge
	ReadAhead    prometheus.Gauge
	Redelivered  prometheus.Counter
	DLQErrors    prometheus.Counter

	mu    sync.Mutex
	rules map[string]map[string]struct{} // source → rule label values seen
}

// New registers the metrics with reg (nil: kept private).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_records_total", Help: "Records consumed, by topic.",
		}, []string{"topic"}),
		RecordBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_record_bytes_total", Help: "Record value bytes consumed, by topic.",
		}, []string{"topic"}),
		Decoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_interactions_decoded_total", Help: "Interactions decoded, by source (decoder).",
		}, []string{"source"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_records_skipped_total", Help: "Records a decoder deliberately skipped (no interaction, no error), by source.",
		}, []string{"source"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by source and rule (oversized, malformed, panic, or the field rule broken).",
		}, []string{"source", "rule"}),
		Batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_batches_total", Help: "Batches cut, by topic.",
		}, []string{"topic"}),
		BatchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salespulse_kafka_batch_interactions", Help: "Interactions per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		BatchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salespulse_kafka_batch_bytes", Help: "Record value bytes per batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9),
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_kafka_consumer_lag", Help: "Records behind the high watermark, by topic and partition, as of the last fetch.",
		}, []string{"topic", "partition"}),
		CommitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_kafka_commit_errors_total", Help: "Failed offset commits.",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_kafka_inflight_batches", Help: "Batches handed out and not yet acknowledged.",
		}),
		ReadAhead: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_kafka_read_ahead_bytes",
			Help: "Estimated bytes fetched and decoded but not yet acknowledged (kafka.read_ahead_bytes), as of the last poll.",
		}),
		Redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_kafka_batches_redelivered_total", Help: "Batches acknowledged with an error and consumed again.",
		}),
		DLQErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_kafka_dead_letter_errors_total", Help: "Dead-letter produces that failed (their batch is consumed again).",
		}),
		rules: make(map[string]map[string]struct{}),
	}
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics not wanted: keep them private
	}
	reg.MustRegister(m.Records, m.RecordBytes, m.Decoded, m.Skipped, m.DeadLetters, m.Batches,
		m.BatchRows, m.BatchBytes, m.Lag, m.CommitErrors, m.InFlight, m.ReadAhead, m.Redelivered, m.DLQErrors)
	return m
}

// maxRulesPerSource bounds the rule label: decoders' rules are a fixed set
// of strings in code, but one that embeds a value must not explode the
// series count.
const maxRulesPerSource = 32

// DeadLetter counts one dead letter (not on the hot path: bad records are
// rare, so the label lookup per record is fine here).
func (m *Metrics) DeadLetter(source, rule string) {
	m.mu.Lock()
	seen := m.rules[source]
	if seen == nil {
		seen = make(map[string]struct{})
		m.rules[source] = seen
	}
	if _, ok := seen[rule]; !ok {
		if len(seen) >= maxRulesPerSource {
			rule = "other"
		} else {
			seen[rule] = struct{}{}
		}
	}
	m.mu.Unlock()
	m.DeadLetters.WithLabelValues(source, rule).Inc()
}

// Topic holds one topic's children, looked up once per topic.
type Topic struct {
	Records, Bytes, Batches prometheus.Counter
	Decoded, Skipped        prometheus.Counter
}

// ForTopic returns topic's children; source is its decoder's name.
func (m *Metrics) ForTopic(topic, source string) *Topic {
	return &Topic{
		Records: m.Records.WithLabelValues(topic),
		Bytes:   m.RecordBytes.WithLabelValues(topic),
		Batches: m.Batches.WithLabelValues(topic),
		Decoded: m.Decoded.WithLabelValues(source),
		Skipped: m.Skipped.WithLabelValues(source),
	}
}

// LagFor is one partition's lag gauge.
func (m *Metrics) LagFor(topic string, partition int32) prometheus.Gauge {
	return m.Lag.WithLabelValues(topic, strconv.Itoa(int(partition)))
}

// DropLag removes a partition's lag series (it is no longer owned).
func (m *Metrics) DropLag(topic string, partition int32) {
	m.Lag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}
