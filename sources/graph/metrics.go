package graph

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// metrics counts records that decode to no interaction on purpose, by reason,
// and change notifications, which only reference messages.
// Rejections are counted by the Kafka source, which dead-letters them.
type metrics struct {
	notifications prometheus.Counter
	skipDraft     prometheus.Counter
	skipInternal  prometheus.Counter
	skipRemoved   prometheus.Counter
	skipEmpty     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "graph", "Graph mail records deliberately decoded to no interaction, by reason.")
	if err != nil {
		return nil, err
	}
	notifications, err := vendorkit.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "salespulse_graph_notifications_total",
		Help: "Graph change and lifecycle notifications seen (references to messages, never interactions).",
	}))
	if err != nil {
		return nil, err
	}
	// Children looked up once, not per record.
	return &metrics{
		notifications: notifications,
		skipDraft:     skipped.WithLabelValues("draft"),
		skipInternal:  skipped.WithLabelValues("internal"),
		skipRemoved:   skipped.WithLabelValues("removed"),
		skipEmpty:     skipped.WithLabelValues("empty_page"),
	}, nil
}
