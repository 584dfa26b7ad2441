package graph

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// metrics counts records that decode to no interaction on purpose, by reason,
// and change notifications, which only reference messages, by outcome.
// Rejections are counted by the Kafka source, which dead-letters them.
type metrics struct {
	notifVerified   prometheus.Counter
	notifUnverified prometheus.Counter
	notifRejected   prometheus.Counter
	skipDraft       prometheus.Counter
	skipInternal    prometheus.Counter
	skipRemoved     prometheus.Counter
	skipEmpty       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "graph", "Graph mail records deliberately decoded to no interaction, by reason.")
	if err != nil {
		return nil, err
	}
	notifications, err := vendorkit.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_graph_notifications_total",
		Help: "Graph change and lifecycle notifications seen (references to messages, never interactions), by outcome: verified (clientState matches), unverified (no sources.graph.client_state configured), rejected (dead-lettered).",
	}, []string{"outcome"}))
	if err != nil {
		return nil, err
	}
	// Children looked up once, not per record.
	return &metrics{
		notifVerified:   notifications.WithLabelValues("verified"),
		notifUnverified: notifications.WithLabelValues("unverified"),
		notifRejected:   notifications.WithLabelValues("rejected"),
		skipDraft:       skipped.WithLabelValues("draft"),
		skipInternal:    skipped.WithLabelValues("internal"),
		skipRemoved:     skipped.WithLabelValues("removed"),
		skipEmpty:       skipped.WithLabelValues("empty_page"),
	}, nil
}
