package ingress

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes and reasons of salespulse_ingest_requests_total. Each reason
// belongs to one outcome and one status (docs/ingest.md).
const (
	outAccepted    = "accepted"
	outHandshake   = "handshake"
	outRejected    = "rejected"
	outUnavailable = "unavailable"
)

type reason struct {
	outcome, name string
}

var (
	rAccepted     = reason{outAccepted, "ok"}
	rHandshake    = reason{outHandshake, "ok"}
	rNoSignature  = reason{outRejected, "no_signature"}  // 401
	rBadSignature = reason{outRejected, "bad_signature"} // 401: tampered body, wrong secret
	rStale        = reason{outRejected, "stale"}         // 401
	rMalformed    = reason{outRejected, "malformed"}     // 400
	rTooLarge     = reason{outRejected, "too_large"}     // 413
	rContentType  = reason{outRejected, "content_type"}  // 415
	rRateLimited  = reason{outRejected, "rate_limited"}  // 429
	rTimeout      = reason{outUnavailable, "kafka_timeout"}
	rKafkaError   = reason{outUnavailable, "kafka_error"}
	rKafkaDown    = reason{outUnavailable, "kafka_down"} // shed: not produced
)

var reasons = []reason{rAccepted, rHandshake, rNoSignature, rBadSignature, rStale, rMalformed, rTooLarge, rContentType, rRateLimited, rTimeout, rKafkaError, rKafkaDown}

type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	produceEr *prometheus.CounterVec
	down      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_ingest_requests_total",
			Help: "Webhook requests answered, by vendor, outcome (accepted, handshake, rejected, unavailable) and reason; unavailable/kafka_down were shed without producing.",
		}, []string{"vendor", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "salespulse_ingest_request_duration_seconds",
			Help: "Time from a webhook request's arrival to its answer, by vendor and outcome; accepted requests include Kafka's acknowledgement.",
			// Kafka acks in ms; the top buckets show produce timeouts.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"vendor", "outcome"}),
		produceEr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_ingest_produce_errors_total",
			Help: "Webhook bodies Kafka did not acknowledge, by vendor and reason (timeout: not within ingest.produce_timeout; error: refused).",
		}, []string{"vendor", "reason"}),
		down: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_ingest_kafka_down",
			Help: "1 while the vendor's topic is taken as down (a record waited past ingest.shed_after or was refused) and its requests are answered 503 without producing, until a probe is acknowledged; else 0.",
		}, []string{"vendor"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.produceEr, m.down} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// vendorMetrics are one route's children, looked up once.
type vendorMetrics struct {
	requests                 map[reason]prometheus.Counter
	duration                 map[string]prometheus.Observer
	produceTimeout, produceE prometheus.Counter
	down                     prometheus.Gauge
}

func (m *metrics) vendor(name string) *vendorMetrics {
	v := &vendorMetrics{requests: map[reason]prometheus.Counter{}, duration: map[string]prometheus.Observer{}}
	for _, r := range reasons {
		v.requests[r] = m.requests.WithLabelValues(name, r.outcome, r.name)
		v.duration[r.outcome] = m.duration.WithLabelValues(name, r.outcome)
	}
	v.produceTimeout = m.produceEr.WithLabelValues(name, "timeout")
	v.produceE = m.produceEr.WithLabelValues(name, "error")
	v.down = m.down.WithLabelValues(name)
	return v
}
