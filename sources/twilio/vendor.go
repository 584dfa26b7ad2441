package twilio

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.twilio config section and the
// decoder name kafka.topics maps topics to.
const Name = "twilio"

// DefaultTopic is the Kafka topic Twilio call resources and callbacks are read from unless
// sources.twilio.topic names another.
const DefaultTopic = "sales.twilio"

// Vendor declares the Twilio normaliser: sources.Vendors lists it.
func Vendor() vendorkit.Vendor {
	return vendorkit.Vendor{
		Name:         Name,
		DefaultTopic: DefaultTopic,
		NewDecoder: func(cfg vendorkit.Config, idx *schemas.Index, reg prometheus.Registerer) (vendorkit.Decoder, error) {
			d, err := NewDecoder(idx, reg)
			if err != nil {
				return nil, err
			}
			return d, nil
		},
		NewEncoder: func() vendorkit.Encoder { return synth{} },
	}
}
