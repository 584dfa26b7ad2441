package zoom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.zoom config section and the
// decoder name kafka.topics maps topics to.
const Name = "zoom"

// DefaultTopic is the Kafka topic Zoom webhook bodies are read from unless
// sources.zoom.topic names another.
const DefaultTopic = "sales.zoom"

// Vendor declares the Zoom normaliser: sources.Vendors lists it.
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
