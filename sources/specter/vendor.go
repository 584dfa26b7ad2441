package specter

import (
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Name is the vendor's key: the sources.specter config section and the
// decoder name kafka.topics maps topics to.
const Name = "specter"

// DefaultTopic is the Kafka topic Specter news-signal responses are read
// from unless sources.specter.topic names another.
const DefaultTopic = "sales.specter"

// Vendor declares the Specter news-signal decoder: sources.Vendors lists
// it. Specter is polled (a REST API), so it has no ingress route.
func Vendor() vendorkit.Vendor {
	return vendorkit.Plain(Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return synth{} })
}
