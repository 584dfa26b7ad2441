package clickhouse

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sink's Prometheus instruments. Label values are tables
// (a handful) and error codes (bounded by ClickHouse's error list plus a few
// client-side classes), so cardinality stays small.
type metrics struct {
	insertSeconds *prometheus.HistogramVec
	rows          *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	retries       *prometheus.CounterVec
	failures      *prometheus.CounterVec
	inFlight      prometheus.Gauge
	up            prometheus.Gauge
	groupMembers  prometheus.Histogram
	groupsClosed  *prometheus.CounterVec
	skipped       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		insertSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "salespulse_clickhouse_insert_duration_seconds",
			Help:    "Duration of one successful insert attempt (prepare, append, send) per table.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14), // 2ms .. ~16s
		}, []string{"table"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_clickhouse_rows_inserted_total",
			Help: "Rows acknowledged by ClickHouse per table (replayed blocks ClickHouse deduplicated are counted too).",
		}, []string{"table"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_clickhouse_bytes_inserted_total",
			Help: "Uncompressed column bytes acknowledged by ClickHouse per table, as estimated by the sink.",
		}, []string{"table"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_clickhouse_retries_total",
			Help: "Insert attempts that failed with a retryable error and were retried, by table and error code.",
		}, []string{"table", "code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_clickhouse_failures_total",
			Help: "Inserts given up (non-retryable error, or context done while retrying), by table and error code.",
		}, []string{"table", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_clickhouse_batches_in_flight",
			Help: "Batches inside Sink.Write, including those waiting to retry.",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "salespulse_clickhouse_up",
			Help: "1 when the last ClickHouse round trip succeeded or failed with a server answer, 0 when it failed to reach a server.",
		}),
		groupMembers: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "salespulse_clickhouse_group_members",
			Help:    "Batches whose interactions one grouped insert stored (clickhouse.group_max_rows).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8), // 1 .. 128
		}),
		groupsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_clickhouse_groups_closed_total",
			Help: "Groups of batches closed for insert, by flow (ingest: Sink.Grouped, leads: Sink.Derived) and reason: full (clickhouse.group_max_rows; derived_group_max_rows for leads), linger (its linger passed and no insert was in flight), flush (drain or shutdown), replay (a replayed batch kept apart from its earlier attempt).",
		}, []string{"flow", "reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_clickhouse_replayed_rows_skipped_total",
			Help: "Rows of replayed batches not inserted because a previous attempt stored them (grouped inserts look before they write), per table.",
		}, []string{"table"}),
	}
	if reg != nil {
		reg.MustRegister(m.insertSeconds, m.rows, m.bytes, m.retries, m.failures, m.inFlight, m.up, m.groupMembers, m.groupsClosed, m.skipped)
	}
	return m
}
