package detect

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

type metrics struct {
	alerts    *prometheus.CounterVec
	skips     *prometheus.CounterVec
	late      prometheus.Counter
	replayed  prometheus.Counter
	forgotten prometheus.Counter

	restored       prometheus.Counter
	restoreSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_anomaly_alerts_total",
			Help: "Alert transitions emitted, by rule, state and severity.",
		}, []string{"rule", "state", "severity"}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_anomaly_skipped_total",
			Help: "Events a detector could not judge, by reason (missing data, no matrix entry).",
		}, []string{"reason"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_anomaly_late_events_total",
			Help: "Events older than their partition's watermark (beyond out_of_orderness).",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_anomaly_replayed_batches_total",
			Help: "Batches seen again after a redelivery; state was not changed twice.",
		}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_anomaly_forgotten_total",
			Help: "Open leads, quotes and approvals dropped after forget_after.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_anomaly_restores_total",
			Help: "Partition states restored from the state store.",
		}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "salespulse_anomaly_restore_seconds",
			Help:    "Time to restore one partition's detector state from the state store.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.alerts, m.skips, m.late, m.replayed, m.forgotten,
			m.restored, m.restoreSeconds)
	}
	return m
}

func (m *metrics) alert(rule string, s schemas.AlertState, sev schemas.Severity) prometheus.Counter {
	return m.alerts.WithLabelValues(rule, s.String(), sev.String())
}

func (m *metrics) skipped(reason string) prometheus.Counter { return m.skips.WithLabelValues(reason) }
