package window

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	open           *prometheus.GaugeVec // kind: lead, approval
	watermarkLag   *prometheus.GaugeVec // topic, partition
	late           prometheus.Counter
	facts          *prometheus.CounterVec // table
	restoreSeconds prometheus.Histogram
	restored       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_window_open_items",
			Help: "Leads awaiting a response and approvals awaiting a decision, held in memory by this process.",
		}, []string{"kind"}),
		watermarkLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_window_watermark_lag_seconds",
			Help: "Clock time minus the partition's watermark (largest event time minus out_of_orderness), at its last batch. Grows on an idle partition, whose expiries wait for it.",
		}, []string{"topic", "partition"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_window_late_events_total",
			Help: "Events older than watermark - allowed_lateness: moved to late_events, not counted in any KBI.",
		}),
		facts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_window_facts_total",
			Help: "Fact rows emitted per table (replayed batches emit them again; ClickHouse drops the repeat).",
		}, []string{"table"}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "salespulse_window_state_restore_seconds",
			Help:    "Time to restore one partition's pairing state from the state store.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_window_state_restores_total",
			Help: "Partition state restores: on assignment, after a restart, or after a redelivery rewound a partition.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.open, m.watermarkLag, m.late, m.facts, m.restoreSeconds, m.restored)
	}
	return m
}
