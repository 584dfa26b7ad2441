package app

import (
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// TestNewDecoders: one decoder per consumed topic, built from the vendor
// list, and one per vendor however many topics route to it.
func TestNewDecoders(t *testing.T) {
	testEnv(t)
	c, err := LoadConfig("testdata/sources_topics.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	c.Kafka.Topics["zoom.legacy"] = "zoom"
	decs, err := newDecoders(*c, schemas.NewIndex(&schemas.Org{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(decs) != len(c.Kafka.Topics) {
		t.Errorf("%d decoders for %d topics", len(decs), len(c.Kafka.Topics))
	}
	if decs["zoom.webhooks"] == nil || decs["zoom.webhooks"] != decs["zoom.legacy"] {
		t.Error("the topics of one vendor do not share its decoder")
	}
	c.Kafka.Topics["sales.pipedrive"] = "pipedrive"
	if _, err := newDecoders(*c, nil, nil); err == nil {
		t.Error("an unknown decoder name was accepted")
	}
}
