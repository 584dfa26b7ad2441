package salesforce

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/salesforce/sfsynth"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// TestSynthRoundTrip renders leads and their identity changes with the
// synthetic encoder (as `salespulse gen --format vendor` does) and decodes
// them with the real decoder: each record must give exactly its expected
// interactions, identities included, in both change event shapes.
func TestSynthRoundTrip(t *testing.T) {
	org := &schemas.Org{
		Teams: []schemas.Team{{ID: "team-us", ManagerID: "rep-mgr"}},
		Reps:  []schemas.Rep{{ID: "rep-ana", TeamID: "team-us", SalesforceUserIDs: []string{"005ZM000000M6o1YAC"}}},
	}
	d, err := NewDecoder(Config{}, schemas.NewIndex(org), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	enc := sfsynth.Encoder{Vendor: Name}
	rep := vendorkit.NewSynthRep(&org.Reps[0], Name, enc)
	rep.Colleague = rep
	e := &vendorkit.Synth{Rand: rand.New(rand.NewPCG(1, 2)), Seed: 1, SeedText: "1", Expect: true, Vendor: Name}
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	base := schemas.Interaction{Source: "gen", RepID: "rep-ana", TeamID: "team-us", LeadID: "lead-1-42", OccurredAt: at}
	f := func(name string, mod func(*schemas.Interaction), check func(got []schemas.Interaction)) {
		t.Helper()
		// Both shapes and the MobilePhone variant are drawn at random:
		// enough rounds see each.
		for round := 0; round < 16; round++ {
			in := base
			mod(&in)
			in.Channel = in.Type.DefaultChannel()
			in.EventID = "gen-1-" + name
			if enc.Carries(&in, rep) != vendorkit.CarryNative {
				t.Fatalf("%s: not carried", name)
			}
			e.Begin()
			enc.Encode(e, &in, []byte("k"), rep)
			var all []schemas.Interaction
			for _, r := range e.Records() {
				got, err := d.Decode(nil, r.Value)
				if err != nil {
					t.Fatalf("%s: %v\n%s", name, err, r.Value)
				}
				if len(got) != len(r.Expected) {
					t.Fatalf("%s: %d interactions, want %d\n%s", name, len(got), len(r.Expected), r.Value)
				}
				for k := range got {
					if diff := vendorkit.Diff(&r.Expected[k], &got[k]); diff != "" {
						t.Errorf("%s: %s\n%s", name, diff, r.Value)
					}
				}
				all = append(all, got...)
			}
			check(all)
		}
	}
	f("lead created with every identity", func(in *schemas.Interaction) {
		in.Type = schemas.TypeLeadCreated
		in.Contact = schemas.Contact{Email: "Maria.Lopez@Initech.example", Phone: "(201) 555-0123", Mobile: "(201) 555-0199", Name: "Maria Lopez", Country: "US"}
	}, func(got []schemas.Interaction) {
		if len(got) != 1 || got[0].Contact.Country != "US" || got[0].Contact.Mobile != "(201) 555-0199" || got[0].LeadID != sfsynth.ID("00Q", "Dn", 42) {
			t.Errorf("lead created: %+v", got)
		}
	})
	f("lead created with a phone only", func(in *schemas.Interaction) {
		in.Type = schemas.TypeLeadCreated
		in.Contact = schemas.Contact{Email: "jo@umbrella.example", Phone: "+49 30 901820", Name: "Jo Weber"}
	}, func(got []schemas.Interaction) {
		if len(got) != 1 || got[0].Contact.Phone+got[0].Contact.Mobile != "+49 30 901820" {
			t.Errorf("lead created: %+v", got)
		}
	})
	f("lead updated", func(in *schemas.Interaction) {
		in.Type = schemas.TypeLeadUpdated
		in.Contact = schemas.Contact{Email: "maria@initech-corp.example", Phone: "(201) 555-0177", Country: "US"}
	}, func(got []schemas.Interaction) {
		if len(got) != 1 || got[0].Type != schemas.TypeLeadUpdated || got[0].LeadID != sfsynth.ID("00Q", "Dn", 42) ||
			got[0].Contact != (schemas.Contact{Email: "maria@initech-corp.example", Phone: "(201) 555-0177", Country: "US"}) ||
			got[0].Attributes["sf_rep_source"] != "commit_user" {
			t.Errorf("lead updated: %+v", got)
		}
	})
	f("a lead at a known account updated is still the Lead", func(in *schemas.Interaction) {
		in.Type = schemas.TypeLeadUpdated
		in.AccountID = "acc-000123"
		in.Contact = schemas.Contact{Email: "maria@initech-corp.example"}
	}, func(got []schemas.Interaction) {
		if len(got) != 1 || got[0].LeadID != sfsynth.ID("00Q", "Dn", 42) || got[0].AccountID != "" {
			t.Errorf("lead updated: %+v", got)
		}
	})
	f("existing customer's contact updated", func(in *schemas.Interaction) {
		in.Type = schemas.TypeLeadUpdated
		in.LeadID, in.AccountID = "contact-1-1000000042", "acc-000123"
		in.Contact = schemas.Contact{Mobile: "07700 900461", Country: "GB"}
	}, func(got []schemas.Interaction) {
		if len(got) != 1 || got[0].LeadID != sfsynth.ContactID("contact-1-1000000042") || got[0].AccountID != sfsynth.ID("001", "Dn", 123) ||
			got[0].Contact != (schemas.Contact{Mobile: "07700 900461", Country: "GB"}) {
			t.Errorf("contact updated: %+v", got)
		}
	})
}
