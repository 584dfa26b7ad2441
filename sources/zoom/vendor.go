package zoom

import (
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
	v := vendorkit.Plain(Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
	v.Webhook = Webhook()
	return v
}
