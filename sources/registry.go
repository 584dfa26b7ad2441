// Package sources names the vendor folders: the one list the app, the
// generator and the dev stack read to know which vendors exist. Each
// folder declares itself (name, default topic, config, decoder, synthetic
// encoder) in its vendor.go; adding a vendor is its folder plus one line
// here (docs/sources.md, "Adding a vendor").
package sources

import (
	"github.com/salespulse/salespulse/sources/aircall"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/graph"
	"github.com/salespulse/salespulse/sources/hubspot"
	"github.com/salespulse/salespulse/sources/salesforce"
	"github.com/salespulse/salespulse/sources/signals"
	"github.com/salespulse/salespulse/sources/smarte"
	"github.com/salespulse/salespulse/sources/specter"
	"github.com/salespulse/salespulse/sources/twilio"
	"github.com/salespulse/salespulse/sources/vendorkit"
	"github.com/salespulse/salespulse/sources/zoom"
)

// Vendor is a vendor folder's declaration of itself.
type Vendor = vendorkit.Vendor

// Config is a vendor's own options: the keys of sources.<vendor> besides
// topic.
type Config = vendorkit.Config

// Vendors returns every vendor, in a fixed order: the generator draws
// between vendors that carry the same interaction in this order, so moving
// a line changes its output for a seed. Among CRMs (salesforce, hubspot)
// the order also decides which generated teams work in which: team-01 in
// the first, team-02 in the second, and so on round.
func Vendors() []Vendor {
	return []Vendor{
		canonical.Vendor(),
		salesforce.Vendor(),
		hubspot.Vendor(),
		zoom.Vendor(),
		graph.Vendor(),
		aircall.Vendor(),
		twilio.Vendor(),
		signals.Vendor(),
		smarte.Vendor(),
		specter.Vendor(),
	}
}

// Lookup returns the vendor called name.
func Lookup(name string) (Vendor, bool) {
	for _, v := range Vendors() {
		if v.Name == name {
			return v, true
		}
	}
	return Vendor{}, false
}

// Names returns every vendor's name, in Vendors order.
func Names() []string {
	vs := Vendors()
	names := make([]string, len(vs))
	for k, v := range vs {
		names[k] = v.Name
	}
	return names
}

// DefaultTopics maps every vendor's default topic to its name: the
// kafka.topics a config without sources.<vendor>.topic keys consumes.
func DefaultTopics() map[string]string {
	m := map[string]string{}
	for _, v := range Vendors() {
		m[v.DefaultTopic] = v.Name
	}
	return m
}
