package kafka

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records      *prometheus.CounterVec
	recordBytes  *prometheus.CounterVec
	decoded      *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	batches      *prometheus.CounterVec
	batchRows    prometheus.Histogram
	batchBytes   prometheus.Histogram
	lag          *prometheus.GaugeVec
	commitErrors prometheus.Counter
	inFlight     prometheus.Gauge
	redelivered  prometheus.Counter
	dlqErrors    prometheus.Counter

	mu    sync.Mutex
	rules map[string]map[string]struct{} // source → rule label values seen
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_records_total", Help: "Records consumed, by topic.",
		}, []string{"topic"}),
		recordBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_record_bytes_total", Help: "Record value bytes consumed, by topic.",
		}, []string{"topic"}),
		decoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_interactions_decoded_total", Help: "Interactions decoded, by source (decoder).",
		}, []string{"source"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_records_skipped_total", Help: "Records a decoder deliberately skipped (no interaction, no error), by source.",
		}, []string{"source"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by source and rule (oversized, malformed, panic, or the field rule broken).",
		}, []string{"source", "rule"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_kafka_batches_total", Help: "Batches cut, by topic.",
		}, []string{"topic"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salespulse_kafka_batch_interactions", Help: "Interactions per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "salespulse_kafka_batch_bytes", Help: "Record value bytes per batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9),
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_kafka_consumer_lag", Help: "Records behind the high watermark, by topic and partition, as of the last fetch.",
		}, []string{"topic", "partition"}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_kafka_commit_errors_total", Help: "Failed offset commits.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_kafka_inflight_batches", Help: "Batches handed out and not yet acknowledged.",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_kafka_batches_redelivered_total", Help: "Batches acknowledged with an error and consumed again.",
		}),
		dlqErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_kafka_dead_letter_errors_total", Help: "Dead-letter produces that failed (their batch is consumed again).",
		}),
		rules: make(map[string]map[string]struct{}),
	}
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics not wanted: keep them private
	}
	reg.MustRegister(m.records, m.recordBytes, m.decoded, m.skipped, m.deadLetters, m.batches,
		m.batchRows, m.batchBytes, m.lag, m.commitErrors, m.inFlight, m.redelivered, m.dlqErrors)
	return m
}

// maxRulesPerSource bounds the rule label: decoders' rules are a fixed set
// of strings in code, but one that embeds a value must not explode the
// series count.
const maxRulesPerSource = 32

// deadLetter counts one dead letter (not on the hot path: bad records are
// rare, so the label lookup per record is fine here).
func (m *metrics) deadLetter(source, rule string) {
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
	m.deadLetters.WithLabelValues(source, rule).Inc()
}

// topicMetrics are one topic's children, looked up once per topic.
type topicMetrics struct {
	records, bytes, batches prometheus.Counter
	decoded, skipped        prometheus.Counter
}

func (m *metrics) forTopic(topic, source string) *topicMetrics {
	return &topicMetrics{
		records: m.records.WithLabelValues(topic),
		bytes:   m.recordBytes.WithLabelValues(topic),
		batches: m.batches.WithLabelValues(topic),
		decoded: m.decoded.WithLabelValues(source),
		skipped: m.skipped.WithLabelValues(source),
	}
}

func (m *metrics) lagFor(topic string, partition int32) prometheus.Gauge {
	return m.lag.WithLabelValues(topic, strconv.Itoa(int(partition)))
}

func (m *metrics) dropLag(topic string, partition int32) {
	m.lag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}
