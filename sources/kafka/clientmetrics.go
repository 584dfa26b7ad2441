package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// ClientMetrics is an option for NewSource that exports franz-go's own
// client metrics (salespulse_franz_*: connections, requests, bytes, per
// broker) to reg, labelled by client id. Give it once per registry: kprom
// unregisters its metrics when the client closes.
func ClientMetrics(reg prometheus.Registerer) kgo.Opt {
	return kgo.WithHooks(kprom.NewMetrics("salespulse_franz", kprom.Registerer(reg), kprom.WithClientLabel()))
}
