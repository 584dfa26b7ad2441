package sources_test

import (
	"testing"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// TestVendors checks what the app and the generator rely on: unique names
// and default topics, legal topic names, a decoder that builds from the
// default config, and an encoder.
func TestVendors(t *testing.T) {
	names, topics := map[string]bool{}, map[string]bool{}
	idx := schemas.NewIndex(&schemas.Org{})
	for _, v := range sources.Vendors() {
		if v.Name == "" || names[v.Name] {
			t.Errorf("vendor name %q empty or listed twice", v.Name)
		}
		names[v.Name] = true
		if !vendorkit.ValidTopic(v.DefaultTopic) || topics[v.DefaultTopic] {
			t.Errorf("%s: default topic %q invalid or shared", v.Name, v.DefaultTopic)
		}
		topics[v.DefaultTopic] = true
		if v.NewConfig != nil {
			c := v.NewConfig()
			c.SetDefaults()
			if err := c.Validate(); err != nil {
				t.Errorf("%s: default config invalid: %v", v.Name, err)
			}
		}
		if d, err := v.NewDefaultDecoder(idx, nil); err != nil || d == nil {
			t.Errorf("%s: decoder with the default config: %v", v.Name, err)
		}
		if v.NewEncoder == nil || v.NewEncoder() == nil {
			t.Errorf("%s: no synthetic encoder", v.Name)
		}
		if got, ok := sources.Lookup(v.Name); !ok || got.Name != v.Name {
			t.Errorf("Lookup(%q) = %v, %v", v.Name, got.Name, ok)
		}
	}
	if dt := sources.DefaultTopics(); len(dt) != len(names) {
		t.Errorf("DefaultTopics has %d topics for %d vendors", len(dt), len(names))
	}
}
