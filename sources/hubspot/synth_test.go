package hubspot

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// TestSynthRoundTrip renders contacts and their identity changes with the
// synthetic encoder (as `salespulse gen --format vendor` does) and decodes
// them with the real decoder: a lead.created is the contact.creation plus
// one contact.propertyChange per identity, each its own event (own
// eventId, the creation's occurredAt) and its own lead.updated; a
// lead.updated is the property changes alone.
func TestSynthRoundTrip(t *testing.T) {
	org := &schemas.Org{
		Teams: []schemas.Team{{ID: "team-na", ManagerID: "rep-mgr"}},
		Reps:  []schemas.Rep{{ID: "rep-dee", TeamID: "team-na", HubSpotUserIDs: []string{"4242"}}},
	}
	d, err := NewDecoder(Config{}, schemas.NewIndex(org), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	enc := synth{}
	rep := vendorkit.NewSynthRep(&org.Reps[0], Name, enc)
	rep.Colleague = rep
	e := &vendorkit.Synth{Rand: rand.New(rand.NewPCG(3, 4)), Seed: 3, SeedText: "3", Expect: true, Vendor: Name}
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	lead := enc.LeadID(e, "lead-1-42")
	f := func(name string, typ schemas.Type, c schemas.Contact, want []schemas.Interaction) {
		t.Helper()
		for round := 0; round < 8; round++ {
			in := schemas.Interaction{EventID: "gen-3-1", Source: "gen", Type: typ, Channel: typ.DefaultChannel(),
				RepID: "rep-dee", TeamID: "team-na", LeadID: "lead-1-42", OccurredAt: at, Contact: c}
			e.Begin()
			enc.Encode(e, &in, []byte("k"), rep)
			var got []schemas.Interaction
			for _, r := range e.Records() {
				n := len(got)
				if got, err = d.Decode(got, r.Value); err != nil {
					t.Fatalf("%s: %v\n%s", name, err, r.Value)
				}
				if len(got)-n != len(r.Expected) {
					t.Fatalf("%s: %d interactions, want %d\n%s", name, len(got)-n, len(r.Expected), r.Value)
				}
				for k := range r.Expected {
					if diff := vendorkit.Diff(&r.Expected[k], &got[n+k]); diff != "" {
						t.Errorf("%s: %s\n%s", name, diff, r.Value)
					}
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d interactions, want %d", name, len(got), len(want))
			}
			ids := map[string]bool{}
			for k, w := range want {
				g := got[k]
				if g.Type != w.Type || g.LeadID != lead || g.Contact != w.Contact || !g.OccurredAt.Equal(at) || g.RepID != "rep-dee" {
					t.Errorf("%s: got %s %s %+v at %s by %q, want %s %s %+v", name, g.Type, g.LeadID, g.Contact, g.OccurredAt, g.RepID, w.Type, lead, w.Contact)
				}
				if ids[g.EventID] {
					t.Errorf("%s: event id %s twice", name, g.EventID)
				}
				ids[g.EventID] = true
			}
		}
	}
	created, updated := schemas.TypeLeadCreated, schemas.TypeLeadUpdated
	f("created with e-mail and phone", created,
		schemas.Contact{Email: "Maria.Lopez@Initech.example", Phone: "(201) 555-0123", Name: "Maria Lopez", Country: "US"},
		[]schemas.Interaction{{Type: created}, {Type: updated, Contact: schemas.Contact{Email: "Maria.Lopez@Initech.example"}},
			{Type: updated, Contact: schemas.Contact{Phone: "(201) 555-0123"}}})
	f("created without identities", created, schemas.Contact{Name: "Anon"}, []schemas.Interaction{{Type: created}})
	f("updated phone and mobile", updated, schemas.Contact{Phone: "+1 201 555 0177", Mobile: "+1 201 555 0199"},
		[]schemas.Interaction{{Type: updated, Contact: schemas.Contact{Phone: "+1 201 555 0177"}},
			{Type: updated, Contact: schemas.Contact{Mobile: "+1 201 555 0199"}}})
}
