package canonical

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.canonical config section and the
// decoder name kafka.topics maps topics to.
const Name = "canonical"

// DefaultTopic is the Kafka topic canonical interaction records (JSON) are
// read from unless sources.canonical.topic names another.
const DefaultTopic = "sales.canonical"

// Vendor declares the canonical normaliser: sources.Vendors lists it.
func Vendor() vendorkit.Vendor {
	return vendorkit.Vendor{
		Name:         Name,
		DefaultTopic: DefaultTopic,
		NewDecoder: func(_ vendorkit.Config, _ *schemas.Index, reg prometheus.Registerer) (vendorkit.Decoder, error) {
			// Canonical events name their rep: no index needed.
			return NewDecoder(reg), nil
		},
		NewEncoder: func() vendorkit.Encoder { return new(synth) },
		Webhook:    Webhook(),
	}
}
