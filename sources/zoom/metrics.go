package zoom

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts records that decode to no interaction on purpose, by reason,
// so a silent drop is still visible on a dashboard. Rejections are counted by
// the Kafka source, which dead-letters them.
type metrics struct {
	skipURLValidation prometheus.Counter
	skipStarted       prometheus.Counter
	skipParticipant   prometheus.Counter
	skipOther         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_zoom_skipped_total",
		Help: "Zoom webhooks deliberately decoded to no interaction, by reason.",
	}, []string{"reason"})
	if reg != nil {
		if err := reg.Register(skipped); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			// A second decoder in the same process shares the counters.
			skipped = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	// Children looked up once, not per record.
	return &metrics{
		skipURLValidation: skipped.WithLabelValues("url_validation"),
		skipStarted:       skipped.WithLabelValues("meeting_started"),
		skipParticipant:   skipped.WithLabelValues("participant"),
		skipOther:         skipped.WithLabelValues("unsupported_event"),
	}, nil
}
