package twilio

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_twilio_skipped_total",
		Help: "Twilio call records deliberately decoded to no interaction, by reason.",
	}, []string{"reason"})
	unmapped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "salespulse_twilio_unmapped_inbound_total",
		Help: "Inbound Twilio calls emitted without a rep because the called number is not in the org file.",
	})
	if err := register(reg, &skipped); err != nil {
		return nil, err
	}
	if err := register(reg, &unmapped); err != nil {
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
