package kafkaio

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/state"
)

// stateMetrics are StateStore's (docs/metrics.md, "State store").
type stateMetrics struct {
	restores       prometheus.Counter
	restoreSeconds prometheus.Histogram
	records        *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	fenced         prometheus.Counter
	migrated       prometheus.Counter
	foreign        prometheus.Counter
	forwarded      prometheus.Counter
	window, anom   nsWritten // children looked up once
}

type nsWritten struct{ records, bytes prometheus.Counter }

func newStateMetrics(reg prometheus.Registerer) *stateMetrics {
	m := &stateMetrics{
		restores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_state_restores_total",
			Help: "Reads of an input partition's state from the state topic (assignment, restart, redelivery); the second stage's Load of the same assignment is served from the first's read and not counted.",
		}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "salespulse_state_restore_seconds",
			Help:    "Time to claim and read one input partition's state (with an upgrade's migration).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_state_records_written_total",
			Help: "State records (with tombstones) committed to the state topic, by namespace.",
		}, []string{"namespace"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_state_bytes_written_total",
			Help: "Key and value bytes of the state records committed, by namespace.",
		}, []string{"namespace"}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_state_fenced_saves_total",
			Help: "Saves refused because another instance claimed the partition (or none was claimed since a failed save).",
		}),
		migrated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_state_migrated_records_total",
			Help: "State records migrated from the legacy changelog topics (once per input partition).",
		}),
		foreign: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_state_foreign_claims_total",
			Help: "Partition loads whose state was last claimed under another transactional id: another consumer group (or transactional_id_prefix) keeps state of the same input in this state topic.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_state_forwarded_messages_total",
			Help: "Messages produced to the internal lead topics in the transactions that save the routing and resolution state.",
		}),
	}
	m.window = nsWritten{m.records.WithLabelValues(nsName(state.Window)), m.bytes.WithLabelValues(nsName(state.Window))}
	m.anom = nsWritten{m.records.WithLabelValues(nsName(state.Anomaly)), m.bytes.WithLabelValues(nsName(state.Anomaly))}
	if reg != nil {
		reg.MustRegister(m.restores, m.restoreSeconds, m.records, m.bytes, m.fenced, m.migrated, m.foreign, m.forwarded)
	}
	return m
}

func (m *stateMetrics) written(ns state.Namespace) nsWritten {
	switch ns {
	case state.Window:
		return m.window
	case state.Anomaly:
		return m.anom
	}
	return nsWritten{m.records.WithLabelValues(nsName(ns)), m.bytes.WithLabelValues(nsName(ns))}
}
