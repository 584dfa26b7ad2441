package aircall

import (
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.aircall config section and the
// decoder name kafka.topics maps topics to.
const Name = "aircall"

// DefaultTopic is the Kafka topic Aircall webhook bodies are read from unless
// sources.aircall.topic names another.
const DefaultTopic = "sales.aircall"

// Vendor declares the Aircall normaliser: sources.Vendors lists it.
func Vendor() vendorkit.Vendor {
	v := vendorkit.Plain(Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
	v.Webhook = Webhook()
	return v
}
