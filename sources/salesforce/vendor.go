package salesforce

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/salesforce/sfsynth"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.salesforce config section and the
// decoder name kafka.topics maps topics to.
const Name = "salesforce"

// DefaultTopic is the Kafka topic Salesforce change events (CDC) are read from unless
// sources.salesforce.topic names another.
const DefaultTopic = "sales.salesforce"

// Vendor declares the Salesforce normaliser: sources.Vendors lists it.
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
		NewEncoder: func() vendorkit.Encoder { return sfsynth.Encoder{Vendor: Name} },
	}
}
