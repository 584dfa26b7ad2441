package smarte

import (
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.smarte config section and the
// decoder name kafka.topics maps topics to.
const Name = "smarte"

// DefaultTopic is the Kafka topic SMARTe signal webhook bodies are read
// from unless sources.smarte.topic names another.
const DefaultTopic = "sales.smarte"

// Vendor declares the SMARTe signal decoder: sources.Vendors lists it. It
// has no ingress route: SMARTe documents no signature for its webhook, so
// a relay that authenticates it some other way writes the bodies to Kafka
// (docs/signals.md).
func Vendor() vendorkit.Vendor {
	return vendorkit.Plain(Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
}
