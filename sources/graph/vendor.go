package graph

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.graph config section and the
// decoder name kafka.topics maps topics to.
const Name = "graph"

// DefaultTopic is the Kafka topic Microsoft Graph mail messages are read from unless
// sources.graph.topic names another.
const DefaultTopic = "sales.graph"

// Vendor declares the Microsoft Graph normaliser: sources.Vendors lists it.
func Vendor() vendorkit.Vendor {
	return vendorkit.Vendor{
		Name:         Name,
		DefaultTopic: DefaultTopic,
		NewConfig:    func() vendorkit.Config { return new(Config) },
		NewDecoder: func(cfg vendorkit.Config, idx *schemas.Index, reg prometheus.Registerer) (vendorkit.Decoder, error) {
			c, _ := cfg.(*Config)
			if c == nil {
				c = new(Config)
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
