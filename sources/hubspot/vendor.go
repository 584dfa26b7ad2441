package hubspot

import (
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
	v := vendorkit.Configured[Config](Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
	v.Webhook = Webhook()
	return v
}
