package salesforce

import (
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
)

// leadConversion is the Lead UPDATE of a conversion, in the Pub/Sub shape
// (unchanged fields null, changedFields a bitmap), after the example "Lead
// Update Change Event" of the Salesforce Change Data Capture Developer
// Guide, "Change Events for Lead Conversion":
// https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_standard_objects_lead_conversion.htm
// The owner did not change, so OwnerId is null; commitUser is the user who
// converted.
func leadConversion(commitUser, owner string) string {
	return `{"ChangeEventHeader":{"entityName":"Lead","recordIds":["00Q5g00000XyZaBEAV"],"changeType":"UPDATE",` +
		`"changeOrigin":"com/salesforce/api/soap/61.0;client=SfdcInternalAPI/","transactionKey":"000b7c11-48aa-2f0e-93ce-77c0e5dfb001",` +
		`"sequenceNumber":4,"commitTimestamp":1714500000000,"commitNumber":11873020112300,"commitUser":"` + commitUser + `",` +
		`"nulledFields":[],"diffFields":[],"changedFields":["0x1C00000E"]},` +
		`"Name":null,"Email":null,"Phone":null,"Status":"Closed - Converted","OwnerId":` + owner + `,"IsConverted":true,` +
		`"ConvertedDate":1714435200000,"ConvertedAccountId":"0015g00000QwErTAAZ","ConvertedContactId":"0035g00000AsDfGAAZ",` +
		`"ConvertedOpportunityId":"0065g00000ZxCvBAAZ","LastModifiedDate":null}`
}

// TestConversionCredit: a conversion without OwnerId is credited to the
// rep of the user who converted; an OwnerId (the owner changed with the
// conversion) wins; an unknown converting user leaves it uncredited but
// keeps the user id. The opportunity id is kept either way, so the
// conversion joins to its opportunity.
func TestConversionCredit(t *testing.T) {
	d := newTestDecoder(t, Config{})
	f := func(name, value, rep, repSource string) {
		t.Helper()
		got, err := d.Decode(nil, []byte(value))
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events, %v", name, len(got), err)
		}
		it := got[0]
		if it.Type != schemas.TypeLeadConverted || it.Stage != "" || it.LeadID != "00Q5g00000XyZaBEAV" {
			t.Errorf("%s: %s %q lead %q, want the conversion of the lead", name, it.Type, it.Stage, it.LeadID)
		}
		if it.RepID != rep || it.Attributes["sf_rep_source"] != repSource {
			t.Errorf("%s: rep %q (sf_rep_source %q), want %q (%q)", name, it.RepID, it.Attributes["sf_rep_source"], rep, repSource)
		}
		if rep != "" && it.TeamID != "team-emea" {
			t.Errorf("%s: team %q", name, it.TeamID)
		}
		if it.Attributes["opportunity_id"] != "0065g00000ZxCvBAAZ" || it.AccountID != "0015g00000QwErTAAZ" {
			t.Errorf("%s: opportunity %q account %q", name, it.Attributes["opportunity_id"], it.AccountID)
		}
	}
	f("owner unchanged: the converting user's rep", leadConversion("005SM000000146QYAQ", "null"), "rep-cho", "commit_user")
	f("owner changed with the conversion: the new owner", leadConversion("005SM000000146QYAQ", `"005SM000000146PYAQ"`), "rep-ben", "")
	f("converted by an unknown (integration) user: nobody", leadConversion("005INTEGRATION0001", "null"), "", "")
	got, _ := d.Decode(nil, []byte(leadConversion("005INTEGRATION0001", "null")))
	if len(got) == 1 && got[0].Attributes["sf_commit_user"] != "005INTEGRATION0001" {
		t.Errorf("unknown converting user not kept: %v", got[0].Attributes)
	}
	// CometD shape: only changed fields present, OwnerId absent.
	cometd := `{"schema":"x","payload":` + strings.Replace(strings.Replace(leadConversion("005SM000000146QYAQ", "null"),
		`"changedFields":["0x1C00000E"]`, `"changedFields":["Status","IsConverted","ConvertedDate","ConvertedAccountId","ConvertedContactId","ConvertedOpportunityId"]`, 1),
		`"OwnerId":null,`, "", 1) + `,"event":{"replayId":18402}}`
	f("CometD, OwnerId absent", cometd, "rep-cho", "commit_user")
}

// conversionTransaction is the four change events one lead conversion
// commits, after the examples of the Salesforce Change Data Capture
// Developer Guide, "Change Events for Lead Conversion" (Account, Contact and
// Opportunity CREATEs and the Lead UPDATE, sequenceNumber 1 to 4, one
// transactionKey):
// https://developer.salesforce.com/docs/atlas.en-us.change_data_capture.meta/change_data_capture/cdc_standard_objects_lead_conversion.htm
func conversionTransaction() []string {
	hdr := func(entity, changeType, id string, seq int) string {
		return `"ChangeEventHeader":{"entityName":"` + entity + `","recordIds":["` + id + `"],"changeType":"` + changeType + `",` +
			`"changeOrigin":"com/salesforce/api/soap/61.0;client=SfdcInternalAPI/","transactionKey":"000b7c11-48aa-2f0e-93ce-77c0e5dfb001",` +
			`"sequenceNumber":` + string(rune('0'+seq)) + `,"commitTimestamp":1714500000000,"commitNumber":11873020112300,` +
			`"commitUser":"005SM000000146QYAQ","nulledFields":[],"diffFields":[],"changedFields":[]}`
	}
	return []string{
		`{` + hdr("Account", "CREATE", "0015g00000QwErTAAZ", 1) + `,"Name":"Globex","Phone":"(847) 262-5000","OwnerId":"005SM000000146QYAQ"}`,
		`{` + hdr("Contact", "CREATE", "0035g00000AsDfGAAZ", 2) + `,"Name":{"FirstName":"Omar","LastName":"Haddad"},"Email":"omar@globex.example","AccountId":"0015g00000QwErTAAZ","OwnerId":"005SM000000146QYAQ"}`,
		`{` + hdr("Opportunity", "CREATE", "0065g00000ZxCvBAAZ", 3) + `,"AccountId":"0015g00000QwErTAAZ","Name":"Globex-","StageName":"Prospecting","Amount":null,"LeadSource":"Web","IsClosed":false,"IsWon":false,"OwnerId":"005SM000000146QYAQ"}`,
		leadConversion("005SM000000146QYAQ", "null"),
	}
}

// TestConversionIsOneStageFact: the four events of a conversion, delivered
// as four records or as one JSON array, give exactly one
// opportunity.stage_changed — the Opportunity CREATE's first stage — and
// one lead.converted, the Lead UPDATE, joined to the opportunity by
// opportunity_id; the Contact CREATE is the new contact's lead.updated (its
// identities, see TestIdentityGolden) and the Account gives nothing. A plain stage-change
// count therefore counts the conversion once, and an opportunity a rep
// creates by hand counts the same way.
func TestConversionIsOneStageFact(t *testing.T) {
	evs := conversionTransaction()
	check := func(name string, got []schemas.Interaction) {
		t.Helper()
		var stages []string
		var conv, contact *schemas.Interaction
		for k, it := range got {
			switch it.Type {
			case schemas.TypeOpportunityStageChanged:
				stages = append(stages, it.Stage)
			case schemas.TypeLeadConverted:
				conv = &got[k]
			case schemas.TypeLeadUpdated:
				contact = &got[k]
			}
		}
		if contact == nil || contact.LeadID != "0035g00000AsDfGAAZ" || contact.AccountID != "0015g00000QwErTAAZ" || contact.Contact.Email != "omar@globex.example" || !contact.Customer {
			t.Errorf("%s: contact %+v, want lead.updated of customer contact 0035g00000AsDfGAAZ at account 0015g00000QwErTAAZ", name, contact)
		}
		if len(got) != 3 || len(stages) != 1 || stages[0] != "Prospecting" {
			t.Errorf("%s: %d events, stage facts %q, want the opportunity's first stage once", name, len(got), stages)
		}
		if conv == nil || conv.LeadID != "00Q5g00000XyZaBEAV" || conv.Attributes["opportunity_id"] != "0065g00000ZxCvBAAZ" {
			t.Errorf("%s: conversion %+v, want lead.converted of 00Q5g00000XyZaBEAV joined to 0065g00000ZxCvBAAZ", name, conv)
		}
	}
	d := newTestDecoder(t, Config{})
	var got []schemas.Interaction
	for _, v := range evs {
		var err error
		if got, err = d.Decode(got, []byte(v)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	check("four records", got)
	got, err := d.Decode(nil, []byte("["+strings.Join(evs, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	check("one array", got)
	// An opportunity created straight into a closed stage is still a deal.
	won, err := d.Decode(nil, []byte(strings.Replace(evs[2], `"StageName":"Prospecting"`, `"StageName":"Closed Won"`, 1)))
	if err != nil || len(won) != 1 || won[0].Type != schemas.TypeDealWon {
		t.Errorf("opportunity created won: %v %v", won, err)
	}
}
