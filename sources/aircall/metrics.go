package aircall

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// metrics counts records that decode to no interaction on purpose, by reason,
// and calls whose rep could not be resolved (allowed for inbound calls only).
// Rejections are counted by the Kafka source, which dead-letters them.
type metrics struct {
	skipNotFinal    prometheus.Counter
	skipOther       prometheus.Counter
	unmappedInbound prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "aircall", "Aircall webhooks deliberately decoded to no interaction, by reason.")
	if err != nil {
		return nil, err
	}
	unmapped, err := vendorkit.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "salespulse_aircall_unmapped_inbound_total",
		Help: "Inbound Aircall calls emitted without a rep because their user is missing or not in the org file.",
	}))
	if err != nil {
		return nil, err
	}
	// Children looked up once, not per record.
	return &metrics{
		skipNotFinal:    skipped.WithLabelValues("not_final"),
		skipOther:       skipped.WithLabelValues("unsupported_event"),
		unmappedInbound: unmapped,
	}, nil
}
