package zoom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// metrics counts records that decode to no interaction on purpose, by reason,
// so a silent drop is still visible on a dashboard. Rejections are counted by
// the Kafka source, which dead-letters them.
type metrics struct {
	skipURLValidation prometheus.Counter
	skipStarted       prometheus.Counter
	skipLeft          prometheus.Counter
	skipJoinNoEmail   prometheus.Counter
	skipJoinHost      prometheus.Counter
	skipJoinRep       prometheus.Counter
	skipOther         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped, err := vendorkit.NewSkipped(reg, "zoom", "Zoom webhooks deliberately decoded to no interaction, by reason.")
	if err != nil {
		return nil, err
	}
	// Children looked up once, not per record.
	return &metrics{
		skipURLValidation: skipped.WithLabelValues("url_validation"),
		skipStarted:       skipped.WithLabelValues("meeting_started"),
		skipLeft:          skipped.WithLabelValues("participant_left"),
		skipJoinNoEmail:   skipped.WithLabelValues("participant_no_email"),
		skipJoinHost:      skipped.WithLabelValues("participant_host"),
		skipJoinRep:       skipped.WithLabelValues("participant_rep"),
		skipOther:         skipped.WithLabelValues("unsupported_event"),
	}, nil
}
