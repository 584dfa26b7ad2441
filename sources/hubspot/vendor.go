package hubspot

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.hubspot config section and the
// decoder name kafka.topics maps topics to.
const Name = "hubspot"

// DefaultTopic is the Kafka topic HubSpot webhook bodies are read from unless
// sources.hubspot.topic names another.
const DefaultTopic = "sales.hubspot"

// Vendor declares the HubSpot normaliser: sources.Vendors lists it.
func Vendor() vendorkit.Vendor {
	return vendorkit.Vendor{
		Name:         Name,
		DefaultTopic: DefaultTopic,
		NewConfig:    func() vendorkit.Config { return new(Config) },
		NewDecoder: func(cfg vendorkit.Config, idx *schemas.Index, reg prometheus.Registerer) (vendorkit.Decoder, error) {
			c, _ := cfg.(*Config)
			if c == nil {
				c = new(Config) // NewDecoder applies the defaults
			}
			d, err := NewDecoder(*c, idx, reg)
			if err != nil {
				return nil, err
			}
			return d, nil
		},
		NewEncoder: func() vendorkit.Encoder { return synth{} },
	}
}
