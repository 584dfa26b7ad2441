package app

import (
	"maps"
	"slices"
	"testing"

	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
)

// TestDefaultPrivacyKeepsCRMIdentifiers: with the default allow-list, the
// record and user ids the CRM decoders emit survive the privacy stage, so a
// HubSpot win stays joined to its deal and a Salesforce conversion to its
// opportunity, while the contact's address is still removed. Payloads are
// hand-made after the vendors' documentation:
//   - HubSpot Webhooks API v3, "Webhook payloads" (subscriptionType,
//     objectId, propertyName/propertyValue, changeSource, sourceId "userId:…"):
//     https://developers.hubspot.com/docs/api/webhooks#webhook-payloads
//   - Salesforce Change Data Capture Developer Guide, "Change Events for Lead
//     Conversion" (the Lead UPDATE with IsConverted, Converted*Id):
//     https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_standard_objects_lead_conversion.htm
func TestDefaultPrivacyKeepsCRMIdentifiers(t *testing.T) {
	idx := schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "team-1", Name: "One", ManagerID: "rep-mgr"}},
		Reps: []schemas.Rep{{ID: "rep-1", TeamID: "team-1",
			SalesforceUserIDs: []string{"005SM000000146QYAQ"}, HubSpotUserIDs: []string{"2620022"}}},
	})
	payloads := map[string]string{
		"hubspot": `[{"eventId":1773962043,"subscriptionId":1103,"portalId":62515,"appId":1160452,"occurredAt":1714500000000,
			"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":8837401,"propertyName":"dealstage",
			"propertyValue":"closedwon","changeSource":"CRM_UI","sourceId":"userId:2620022"}]`,
		"salesforce": `{"ChangeEventHeader":{"entityName":"Lead","recordIds":["00Q5g00000XyZaBEAV"],"changeType":"UPDATE",
			"changeOrigin":"com/salesforce/api/soap/61.0;client=SfdcInternalAPI/","transactionKey":"000b7c11-48aa-2f0e-93ce-77c0e5dfb001",
			"sequenceNumber":4,"commitTimestamp":1714500000000,"commitNumber":11873020112300,"commitUser":"005SM000000146QYAQ",
			"nulledFields":[],"diffFields":[],"changedFields":["0x1C00000E"]},
			"Email":null,"OwnerId":null,"Status":"Closed - Converted","IsConverted":true,"ConvertedDate":1714435200000,
			"ConvertedAccountId":"0015g00000QwErTAAZ","ConvertedContactId":"0035g00000AsDfGAAZ","ConvertedOpportunityId":"0065g00000ZxCvBAAZ"}`,
	}
	want := map[string][]string{
		"hubspot":    {"hs_change_source", "opportunity_id"},
		"salesforce": {"opportunity_id", "sf_change_type", "sf_commit_rep", "sf_commit_user", "sf_contact_id"},
	}
	pz, err := privacy.New(privacy.Config{Key: privacy.DevKey()})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range sources.Vendors() {
		p, ok := payloads[v.Name]
		if !ok {
			continue
		}
		dec, err := v.NewDefaultDecoder(idx, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.Decode(nil, []byte(p))
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events, %v", v.Name, len(got), err)
		}
		it := got[0]
		before := maps.Clone(it.Attributes)
		pz.Apply(&it)
		for _, k := range want[v.Name] {
			if it.Attributes[k] == "" || it.Attributes[k] != before[k] {
				t.Errorf("%s: attribute %s = %q after privacy, decoded %q", v.Name, k, it.Attributes[k], before[k])
			}
		}
		if it.Attributes["opportunity_id"] == "" {
			t.Errorf("%s: no opportunity_id to join on: %v", v.Name, slices.Sorted(maps.Keys(it.Attributes)))
		}
	}
	// The per-source lists do not leak: a canonical producer's hs_/sf_
	// attribute (possibly free text) is still dropped.
	it := schemas.Interaction{Source: "canonical", Attributes: map[string]string{"hs_meeting_title": "Lunch with Anna", "opportunity_id": "o-1"}}
	pz.Apply(&it)
	if _, ok := it.Attributes["hs_meeting_title"]; ok || it.Attributes["opportunity_id"] != "o-1" {
		t.Errorf("canonical attributes after privacy: %v", it.Attributes)
	}
}
