package signals

import (
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.signals config section and the
// decoder name kafka.topics maps topics to.
const Name = "signals"

// DefaultTopic is the Kafka topic canonical market signals are read from
// unless sources.signals.topic names another.
const DefaultTopic = "sales.signals"

// Vendor declares the canonical market-signal decoder: sources.Vendors
// lists it.
func Vendor() vendorkit.Vendor {
	return vendorkit.Plain(Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
}
