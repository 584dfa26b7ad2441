package twilio

import (
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.twilio config section and the
// decoder name kafka.topics maps topics to.
const Name = "twilio"

// DefaultTopic is the Kafka topic Twilio call resources and callbacks are read from unless
// sources.twilio.topic names another.
const DefaultTopic = "sales.twilio"

// Vendor declares the Twilio normaliser: sources.Vendors lists it.
func Vendor() vendorkit.Vendor {
	v := vendorkit.Plain(Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
	v.Webhook = Webhook()
	return v
}
