package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

type metrics struct {
	batches      prometheus.Counter
	interactions prometheus.Counter
	late         prometheus.Counter
	alerts       prometheus.Counter
	batchSeconds prometheus.Histogram
	eventToStore *batchHistogram
	lastStored   prometheus.Gauge
	retried      prometheus.Counter
	abandoned    prometheus.Counter
	released     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_batches_retried_total",
			Help: "Batches handed back to be consumed again because a stage's state store was unavailable or another instance claimed the partition.",
		}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_batches_abandoned_total",
			Help: "Batches not processed further because their source gave them up (partition revoked while they waited, or range rewound).",
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_partitions_released_total",
			Help: "Partitions whose in-memory stage state was dropped because their source gave them up (revoked in a rebalance, or lost); a later batch of one loads its state from the store again.",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_batches_total",
			Help: "Batches processed and stored by every sink.",
		}),
		interactions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_interactions_stored_total",
			Help: "Valid interactions stored by the sinks (after ClickHouse acknowledged them).",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_late_events_total",
			Help: "Events later than the allowed lateness, stored in the late-data table instead of the windows.",
		}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_pipeline_alerts_total",
			Help: "Alert state changes produced while processing batches.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "salespulse_pipeline_batch_seconds",
			Help:    "Time from a batch entering the stages to every sink acknowledging it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		eventToStore: newBatchHistogram("salespulse_pipeline_event_to_stored_seconds",
			"Event time to queryable in ClickHouse, per interaction. Only meaningful for live traffic: replays and sped-up generators show their event-time offset.",
			eventToStoreBuckets),
		lastStored: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_pipeline_last_stored_timestamp_seconds",
			Help: "Wall time of the last batch stored; alert when it stops moving while lag grows.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.interactions, m.late, m.alerts, m.batchSeconds, m.eventToStore, m.lastStored, m.retried, m.abandoned, m.released)
	}
	return m
}

// eventToStoreBuckets are salespulse_pipeline_event_to_stored_seconds'.
var eventToStoreBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400}

func (m *metrics) observe(b *schemas.Batch, start, done time.Time) {
	m.batches.Inc()
	m.interactions.Add(float64(len(b.Interactions)))
	m.late.Add(float64(len(b.Late)))
	m.alerts.Add(float64(len(b.Alerts)))
	m.batchSeconds.Observe(done.Sub(start).Seconds())
	hb := m.eventToStore.batch()
	for k := range b.Interactions {
		m.eventToStore.observe(&hb, done.Sub(b.Interactions[k].OccurredAt).Seconds())
	}
	m.eventToStore.add(&hb)
	m.lastStored.Set(float64(done.UnixNano()) / 1e9)
}
