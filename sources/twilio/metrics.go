package twilio

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// metrics counts records that decode to no interaction on purpose, by
// reason. Rejections are counted by the Kafka source, which dead-letters them.
type metrics struct {
	skipNotFinal       prometheus.Counter
	skipInternal       prometheus.Counter
	skipFailedOutbound prometheus.Counter
	// The legs of a conversation that are not its call (package doc).
	skipSharedNumber    prometheus.Counter
	skipRepLeg          prometheus.Counter
	skipUnansweredLeg   prometheus.Counter
	skipUnattributedLeg prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "twilio", "Twilio call records deliberately decoded to no interaction, by reason.")
	if err != nil {
		return nil, err
	}
	// Children looked up once, not per record.
	return &metrics{
		skipNotFinal:        skipped.WithLabelValues("not_final"),
		skipInternal:        skipped.WithLabelValues("internal"),
		skipFailedOutbound:  skipped.WithLabelValues("failed_outbound"),
		skipSharedNumber:    skipped.WithLabelValues("shared_number"),
		skipRepLeg:          skipped.WithLabelValues("rep_leg"),
		skipUnansweredLeg:   skipped.WithLabelValues("unanswered_dial_leg"),
		skipUnattributedLeg: skipped.WithLabelValues("unattributed_dial_leg"),
	}, nil
}
