package graph

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_graph_skipped_total",
		Help: "Graph mail records deliberately decoded to no interaction, by reason.",
	}, []string{"reason"})
	notifications := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "salespulse_graph_notifications_total",
		Help: "Graph change and lifecycle notifications seen (references to messages, never interactions).",
	})
	if err := register(reg, &skipped); err != nil {
		return nil, err
	}
	if err := register(reg, &notifications); err != nil {
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

// register registers *c on reg (nil: nowhere); when a second decoder in the
// same process registers the same metric, *c becomes the existing one so both
// count into it.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(*c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
		*c = are.ExistingCollector.(C)
	}
	return nil
}
