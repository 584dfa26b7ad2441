package graph

import (
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
	v := vendorkit.Configured[Config](Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
	v.Webhook = Webhook()
	return v
}
