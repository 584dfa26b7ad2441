package devstack

import (
	"maps"
	"slices"
	"testing"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/sources"
)

// TestTopicsFollowTheConfig: dev creates and feeds the topics the app
// consumes, which come from the vendor list and the config's routing, not
// from a list of its own.
func TestTopicsFollowTheConfig(t *testing.T) {
	if got, want := DataTopics(app.Config{}), slices.Sorted(maps.Keys(sources.DefaultTopics())); !slices.Equal(got, want) {
		t.Errorf("default data topics = %v, want %v", got, want)
	}
	var ac app.Config
	ac.Kafka.Topics = map[string]string{"z.legacy": "zoom", "z.new": "zoom", "crm.events": "canonical"}
	if got := DataTopics(ac); !slices.Equal(got, []string{"crm.events", "z.legacy", "z.new"}) {
		t.Errorf("routed data topics = %v", got)
	}
	vt := vendorTopics(ac)
	if vt["zoom"] != "z.legacy" || vt["canonical"] != "crm.events" || vt["graph"] != "" {
		t.Errorf("vendor topics = %v", vt)
	}
	ac = app.Config{Sources: map[string]*app.SourceConfig{"zoom": {Topic: "zoom.webhooks"}}}
	if vt := vendorTopics(ac); vt["zoom"] != "zoom.webhooks" || vt["graph"] != "sales.graph" {
		t.Errorf("vendor topics from sources.<vendor>.topic = %v", vt)
	}
}
