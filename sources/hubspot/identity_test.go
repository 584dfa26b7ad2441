package hubspot

import (
	"os"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// TestIdentityGolden decodes testdata/identity_contact_property_changes.json
// (also a golden file of TestGolden) and checks what its canonical JSON
// does not show: the contact's mobile. The payload follows the HubSpot
// Webhooks API, "Webhook payloads" (contact.creation and
// contact.propertyChange with objectId, propertyName, propertyValue,
// changeSource, sourceId, occurredAt, eventId, subscriptionId, portalId;
// generic object.propertyChange with objectTypeId "0-1"):
// https://developers.hubspot.com/docs/api/webhooks#webhook-payloads
// and HubSpot's default contact properties (email, phone, mobilephone):
// https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
//
// Rules: a change of email, phone or mobilephone is lead.updated of the
// contact's lead id (hs:<portal>:<objectId>, as contact.creation forms
// it), whatever its changeSource (an import's e-mail still says who the
// contact is, even when the import opened no lead); a cleared value and
// other properties are skipped; no country (HubSpot sends one property
// per event).
func TestIdentityGolden(t *testing.T) {
	value, err := os.ReadFile("testdata/identity_contact_property_changes.json")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		id, lead, rep string
		typ           schemas.Type
		contact       schemas.Contact
	}
	wants := []want{
		{"hs:62515:22:300001", "hs:62515:7700101", "rep-dee", schemas.TypeLeadCreated, schemas.Contact{}},
		{"hs:62515:25:300002", "hs:62515:7700101", "rep-dee", schemas.TypeLeadUpdated, schemas.Contact{Email: "Maria.Lopez@Initech.example"}},
		{"hs:62515:26:300003", "hs:62515:7700101", "rep-dee", schemas.TypeLeadUpdated, schemas.Contact{Phone: "(201) 555-0123"}},
		{"hs:62515:27:300004", "hs:62515:7700101", "", schemas.TypeLeadUpdated, schemas.Contact{Mobile: "+1 201 555 0199"}},
		// 300005, the imported contact's creation, opens no lead.
		{"hs:62515:25:300006", "hs:62515:7700102", "", schemas.TypeLeadUpdated, schemas.Contact{Email: "ops@customer.example"}},
		// 300007 clears the e-mail, 300008 is firstname: skipped.
		{"hs:62515:29:300009", "hs:62515:7700103", "", schemas.TypeLeadUpdated, schemas.Contact{Phone: "030 901820"}},
	}
	for _, cfg := range []Config{{}, {LeadChangeSources: []string{"FORM", "CRM_UI"}}} {
		got, err := newTestDecoder(t, cfg).Decode(nil, value)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wants) {
			t.Fatalf("lead_change_sources %q: %d interactions, want %d", cfg.LeadChangeSources, len(got), len(wants))
		}
		for k, w := range wants {
			g := got[k]
			if g.EventID != w.id || g.Type != w.typ || g.LeadID != w.lead || g.RepID != w.rep || g.Contact != w.contact {
				t.Errorf("got  %s %s lead %q rep %q %+v\nwant %s %s lead %q rep %q %+v",
					g.EventID, g.Type, g.LeadID, g.RepID, g.Contact, w.id, w.typ, w.lead, w.rep, w.contact)
			}
		}
	}
}
