package twilio

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// metrics counts records that decode to no interaction on purpose, by reason,
// and calls whose rep could not be resolved (allowed for inbound calls only).
// Rejections are counted by the Kafka source, which dead-letters them.
type metrics struct {
	skipNotFinal       prometheus.Counter
	skipInternal       prometheus.Counter
	skipFailedOutbound prometheus.Counter
	unmappedInbound    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "twilio", "Twilio call records deliberately decoded to no interaction, by reason.")
	if err != nil {
		return nil, err
	}
	unmapped, err := vendorkit.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "salespulse_twilio_unmapped_inbound_total",
		Help: "Inbound Twilio calls emitted without a rep because the called number is not in the org file.",
	}))
	if err != nil {
		return nil, err
	}
	// Children looked up once, not per record.
	return &metrics{
		skipNotFinal:       skipped.WithLabelValues("not_final"),
		skipInternal:       skipped.WithLabelValues("internal"),
		skipFailedOutbound: skipped.WithLabelValues("failed_outbound"),
		unmappedInbound:    unmapped,
	}, nil
}
