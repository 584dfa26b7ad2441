package salesforce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// Salesforce documentation the identity payloads follow.
const (
	// Change Event Body Fields: a CREATE carries every field, an UPDATE
	// (Pub/Sub) every field with unchanged ones null, a CometD UPDATE only
	// the changed fields; a field set to null is in changedFields (and
	// nulledFields) with a null value.
	docBody = "https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_event_fields_body.htm"
	// ChangeEventHeader Fields: entityName, recordIds, changeType,
	// commitUser, changedFields.
	docHeader = "https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_event_fields_header.htm"
	// Get Compound Fields in Change Events: Name and Address (Lead
	// Address, Contact MailingAddress) nested, changedFields naming
	// "Address.Country" style components.
	docCompound = "https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_subscribe_compound_fields.htm"
	// Lead and Contact standard objects: Email, Phone, MobilePhone,
	// Country, CountryCode (State and Country/Territory Picklists),
	// AccountId, OwnerId.
	docLead    = "https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm"
	docContact = "https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contact.htm"
	// Standard countries of the address picklists: CountryCode is the ISO
	// 3166-1 alpha-2 code, Country its label.
	docPicklists = "https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.admin_state_country_picklists_standard_countries.htm"
	// Change Events for Lead Conversion: the conversion's Lead UPDATE.
	docConversion = "https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_standard_objects_lead_conversion.htm"
)

// TestIdentityGolden decodes the hand-made identity_*.json payloads (also
// golden files of TestGolden) and checks what the canonical JSON of the
// golden files does not show: the contact's mobile and country, and who is
// credited. Every payload must be listed here with the docs it follows.
func TestIdentityGolden(t *testing.T) {
	type want struct {
		typ       schemas.Type
		lead      string
		account   string
		rep       string
		repSource string // sf_rep_source
		contact   schemas.Contact
		customer  bool // an existing customer's contact: opens and answers no lead
	}
	cases := []struct {
		file, rule string
		docs       []string
		want       []want
	}{
		{"identity_lead_create_pubsub_country_code.json",
			"a Lead CREATE is lead.created with every identity; CountryCode (picklists on) is the country, even with Country as its label",
			[]string{docBody, docCompound, docLead, docPicklists},
			[]want{{schemas.TypeLeadCreated, "00Q5g00000LdIdAEAV", "", "rep-ben", "", schemas.Contact{
				Email: "Maria.Lopez@Initech.example", Phone: "(201) 555-0123", Mobile: "(201) 555-0199", Name: "Ms. Maria Lopez", Country: "US"}, false}}},
		{"identity_lead_create_cometd_country_name.json",
			"without picklists Country is free text: a name gives no country (the team's applies)",
			[]string{docBody, docCompound, docLead},
			[]want{{schemas.TypeLeadCreated, "00Q5g00000LdIdBEAV", "", "rep-ben", "", schemas.Contact{
				Email: "jonas.weber@umbrella.example", Phone: "030 901820", Name: "Jonas Weber"}, false}}},
		{"identity_lead_create_cometd_country_alpha2_text.json",
			"a Country typed as a 2-letter code is taken, upper-cased; a mobile alone is an identity",
			[]string{docBody, docCompound, docLead},
			[]want{{schemas.TypeLeadCreated, "00Q5g00000LdIdCEAV", "", "rep-ben", "", schemas.Contact{
				Mobile: "06 12 34 56 78", Name: "Chloé Martin", Country: "FR"}, false}}},
		{"identity_lead_update_email_cometd.json",
			"a Lead UPDATE of Email is lead.updated with the new value; no OwnerId (owner unchanged): the commit user's rep",
			[]string{docBody, docHeader, docLead},
			[]want{{schemas.TypeLeadUpdated, "00Q5g00000LdIdAEAV", "", "rep-cho", "commit_user", schemas.Contact{
				Email: "maria@initech-corp.example"}, false}}},
		{"identity_lead_update_phone_owner_pubsub.json",
			"a Pub/Sub Lead UPDATE (bitmap changedFields, unchanged fields null) of Phone, owner changed with it: the owner's rep",
			[]string{docBody, docHeader, docLead},
			[]want{{schemas.TypeLeadUpdated, "00Q5g00000LdIdAEAV", "", "rep-ana", "", schemas.Contact{
				Phone: "+1 201 555 0177"}, false}}},
		{"identity_lead_update_email_cleared_cometd_skipped.json",
			"a cleared Email (changed to null) teaches no identity: skipped",
			[]string{docBody, docHeader},
			nil},
		{"identity_lead_conversion_with_email_cometd.json",
			"a conversion that also sets Email stays lead.converted",
			[]string{docConversion, docHeader},
			[]want{{schemas.TypeLeadConverted, "00Q5g00000LdIdBEAV", "0015g00000UmBrAAAZ", "rep-cho", "commit_user", schemas.Contact{}, false}}},
		{"identity_contact_create_pubsub_existing_customer.json",
			"a Contact CREATE is lead.updated of the contact id with its account: an existing customer's contact, no trigger",
			[]string{docBody, docCompound, docContact},
			[]want{{schemas.TypeLeadUpdated, "0035g00000CuStAAAZ", "0015g00000CuStAAAZ", "rep-ana", "", schemas.Contact{
				Email: "priya.shah@customer.example", Phone: "020 7946 0018", Mobile: "07700 900461", Country: "GB"}, true}}},
		{"identity_contact_update_mobile_cometd.json",
			"a Contact UPDATE of MobilePhone is lead.updated; no AccountId in a CometD UPDATE that leaves it alone",
			[]string{docBody, docHeader, docContact},
			[]want{{schemas.TypeLeadUpdated, "0035g00000CuStAAAZ", "", "rep-cho", "commit_user", schemas.Contact{
				Mobile: "+44 7700 900462"}, true}}},
		{"identity_contact_update_title_cometd_skipped.json",
			"a Contact UPDATE of other fields is skipped",
			[]string{docBody, docContact},
			nil},
	}
	listed := map[string]bool{}
	d := newTestDecoder(t, Config{})
	for _, c := range cases {
		listed[c.file] = true
		t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
			if len(c.docs) == 0 {
				t.Fatal("no doc cited")
			}
			value, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode(nil, value)
			if err != nil {
				t.Fatalf("%s: %v", c.rule, err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%s: %d interactions, want %d", c.rule, len(got), len(c.want))
			}
			for k, w := range c.want {
				g := got[k]
				if g.Type != w.typ || g.LeadID != w.lead || g.AccountID != w.account || g.RepID != w.rep ||
					g.Attributes["sf_rep_source"] != w.repSource || g.Contact != w.contact || g.Customer != w.customer {
					t.Errorf("%s:\n got %s lead %q account %q rep %q (%q) %+v customer %v\nwant %s lead %q account %q rep %q (%q) %+v customer %v", c.rule,
						g.Type, g.LeadID, g.AccountID, g.RepID, g.Attributes["sf_rep_source"], g.Contact, g.Customer,
						w.typ, w.lead, w.account, w.rep, w.repSource, w.contact, w.customer)
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "identity_*.json"))
	for _, f := range files {
		if b := filepath.Base(f); !strings.HasSuffix(b, ".golden.json") && !listed[b] {
			t.Errorf("%s is not listed with its rule and docs", b)
		}
	}
}
