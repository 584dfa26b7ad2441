package alert

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	queue      *prometheus.GaugeVec
	breaker    *prometheus.GaugeVec
	consumed   *prometheus.CounterVec

	digests      *prometheus.CounterVec
	digestSize   *prometheus.HistogramVec
	groups, held *prometheus.GaugeVec
	quietHeld    *prometheus.CounterVec
	breakThrough *prometheus.CounterVec

	// The alert budget (docs/alerts.md): pages by recipient role, and
	// how many people the org has in each role to divide them by. By
	// role, not by person: a person's id in a label would put who gets
	// paged how often into the metrics store, outside the pipeline's
	// data handling, and leave a series per departed rep; the
	// per-person distribution is `salespulse alerts budget`'s.
	pages      *prometheus.CounterVec
	recipients *prometheus.GaugeVec
}

// Delivery outcomes.
const (
	outcomeDelivered = "delivered"
	outcomeRetry     = "retry"      // an attempt failed, another follows
	outcomeParked    = "parked"     // given up for now, kept on the park topic
	outcomeRejected  = "rejected"   // the receiver refused it (4xx); parked too
	outcomeQueueFull = "queue_full" // parked without trying
	outcomeBreaker   = "breaker_open"
)

// roleNone is the pages' role label of a delivery to the hook's own
// channel (RecipientNone).
const roleNone = "none"

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_alert_deliveries_total",
			Help: "Delivery attempts and their fate, by hook and outcome.",
		}, []string{"hook", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "salespulse_alert_delivery_latency_seconds",
			Help:    "From the alert record's produce time to the hook's acknowledgement.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"hook"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_alert_queue_depth",
			Help: "Alerts waiting for a hook.",
		}, []string{"hook"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_alert_breaker_state",
			Help: "Circuit breaker per hook: 0 closed, 1 half-open, 2 open.",
		}, []string{"hook"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_alert_messages_total",
			Help: "Alert messages consumed by the dispatcher, by rule, state and severity (invalid: rule \"\").",
		}, []string{"rule", "state", "severity"}),
		digests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_alert_digests_total",
			Help: "Digest notifications delivered by hooks with group_by, by reason (initial, update, repeat).",
		}, []string{"hook", "reason"}),
		digestSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "salespulse_alert_digest_alerts",
			Help:    "Alerts (firing and resolved) per delivered digest.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}, []string{"hook"}),
		groups: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_alert_groups",
			Help: "Open alert groups of a digest hook.",
		}, []string{"hook"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_alert_held",
			Help: "Consumed alert deliveries waiting in a group for its next flush (group_wait, group_interval, quiet hours); their offsets are not committed yet.",
		}, []string{"hook"}),
		quietHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_alert_quiet_postponed_total",
			Help: "Group flushes postponed to the end of quiet hours.",
		}, []string{"hook"}),
		breakThrough: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_alert_break_through_total",
			Help: "Group flushes sent in quiet hours because of an alert at or above break_through.",
		}, []string{"hook"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "salespulse_alert_pages_total",
			Help: "Notifications delivered (one alert, or one digest), by hook and recipient role (rep, manager, team; none: the hook's own channel).",
		}, []string{"hook", "role"}),
		recipients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "salespulse_alert_recipients",
			Help: "People of the org file by recipient role (rep, manager, team: teams): what pages per recipient divide by.",
		}, []string{"role"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.latency, m.queue, m.breaker, m.consumed,
			m.digests, m.digestSize, m.groups, m.held, m.quietHeld, m.breakThrough,
			m.pages, m.recipients)
	}
	return m
}
