package salesforce

import (
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
	return vendorkit.Configured[Config](Name, DefaultTopic, NewDecoder, func() vendorkit.Encoder { return sfsynth.Encoder{Vendor: Name} })
}
