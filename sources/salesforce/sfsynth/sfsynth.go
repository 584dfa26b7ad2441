// Package sfsynth renders the generator's interactions as the change events
// Salesforce sends: the synthetic side of sources/salesforce, kept in its own
// package so the decoder's package stays small. sources/salesforce's
// vendor.go hands its Encoder to the generator.
package sfsynth

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Encoder renders generated interactions as the change events Salesforce
// sends for them (docs/sources.md, "Synthetic payloads", has the whole
// mapping). It carries touches that name a lead as Tasks and Events of the
// lead: the generator keeps the lead id only on the share of a Salesforce
// team's lead touches that reps log in Salesforce; the others (and touches
// without a lead) go to the other vendors.
type Encoder struct {
	// Vendor is the vendor's name: teams whose CRM it is log their touches
	// here.
	Vendor string
}

var _ vendorkit.CRM = Encoder{}

func (e Encoder) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	if rep == nil || rep.CRM != e.Vendor {
		return vendorkit.CarryNo
	}
	switch in.Type {
	case schemas.TypeLeadCreated, schemas.TypeLeadUpdated, schemas.TypeOpportunityStageChanged, schemas.TypeDealWon, schemas.TypeDealLost, schemas.TypeQuoteCreated:
		return vendorkit.CarryNative
	case schemas.TypeMessageOutbound, schemas.TypeCallOutbound, schemas.TypeCallInbound, schemas.TypeMeetingHeld:
		if in.LeadID != "" {
			return vendorkit.CarryNative
		}
	}
	return vendorkit.CarryNo
}

func (Encoder) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	switch in.Type {
	case schemas.TypeLeadCreated:
		sfLead(e, in, key, rep)
	case schemas.TypeLeadUpdated:
		sfLeadUpdate(e, in, key, rep)
	case schemas.TypeMessageOutbound, schemas.TypeCallOutbound, schemas.TypeCallInbound:
		sfTask(e, in, key, rep)
	case schemas.TypeMeetingHeld:
		sfEvent(e, in, key, rep)
	case schemas.TypeQuoteCreated:
		sfQuoteLine(e, in, key, rep)
	default:
		sfOpportunity(e, in, key, rep)
	}
}

// LeadID: a generator lead is the Lead with the 00Q id of its number.
func (Encoder) LeadID(_ *vendorkit.Synth, lead string) string {
	return ID("00Q", "Dn", vendorkit.IDNumber(lead))
}

// AccountID: a generator account is the Account with the 001 id of its
// number.
func (Encoder) AccountID(_ *vendorkit.Synth, account string) string {
	return ID("001", "Dn", vendorkit.IDNumber(account))
}

// Salesforce stage labels for the generator's stages.
var (
	sfStages = map[string]string{
		"prospecting": "Prospecting", "qualification": "Qualification", "discovery": "Needs Analysis",
		"proposal": "Proposal/Price Quote", "negotiation": "Negotiation/Review",
		"closed_won": "Closed Won", "closed_lost": "Closed Lost",
	}
)

// sfHeader is the state shared by the records of one Salesforce
// transaction.
type sfHeader struct {
	entity, change, txKey, commitUser string
	recordID                          string
	seq                               int
	commit                            int64 // ms
	cometd                            bool
	changed                           []string // CometD changedFields of an UPDATE
}

func txKey(e *vendorkit.Synth) string {
	var b [16]byte
	u, v := e.Rand.Uint64(), e.Rand.Uint64()
	for k := 0; k < 8; k++ {
		b[k], b[8+k] = byte(u>>(8*k)), byte(v>>(8*k))
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// sfOpen writes the start of a change event up to and including the comma
// after ChangeEventHeader: the CometD shape opens "payload" first.
func sfOpen(e *vendorkit.Synth, b []byte, h *sfHeader) []byte {
	if h.cometd {
		b = append(b, `{"schema":"`...)
		b = append(b, sfSchemas[h.entity]...)
		b = append(b, `","payload":{`...)
	} else {
		b = append(b, '{')
	}
	b = append(b, `"ChangeEventHeader":{"entityName":`...)
	b = schemas.AppendJSONString(b, h.entity)
	b = append(b, `,"recordIds":[`...)
	b = schemas.AppendJSONString(b, h.recordID)
	b = append(b, `],"changeType":"`...)
	b = append(b, h.change...)
	b = append(b, `","changeOrigin":"com/salesforce/api/soap/61.0;client=SfdcInternalAPI/","transactionKey":"`...)
	b = append(b, h.txKey...)
	b = append(b, `","sequenceNumber":`...)
	b = strconv.AppendInt(b, int64(h.seq), 10)
	b = append(b, `,"commitTimestamp":`...)
	b = strconv.AppendInt(b, h.commit, 10)
	b = append(b, `,"commitNumber":`...)
	b = strconv.AppendUint(b, 1000000000000+e.Seq*7, 10)
	b = append(b, `,"commitUser":`...)
	b = schemas.AppendJSONString(b, h.commitUser)
	b = append(b, `,"nulledFields":[],"diffFields":[],"changedFields":[`...)
	switch {
	case h.change != "UPDATE":
	case h.cometd:
		for k, f := range h.changed {
			if k > 0 {
				b = append(b, ',')
			}
			b = schemas.AppendJSONString(b, f)
		}
	default:
		// Pub/Sub sends a bitmap the decoder does not decode.
		b = append(b, `"0x`...)
		b = strconv.AppendUint(b, uint64(len(h.changed))<<8|0x01, 16)
		b = append(b, '"')
	}
	return append(b, "]},"...)
}

// sfClose ends what sfOpen started: the CometD envelope carries the replay
// id.
func sfClose(e *vendorkit.Synth, b []byte, h *sfHeader) []byte {
	if !h.cometd {
		return append(b, '}')
	}
	b = append(b, `},"event":{"replayId":`...)
	b = strconv.AppendUint(b, 3000000+e.Seq, 10)
	return append(b, "}}"...)
}

// Schema ids the CometD envelope names (opaque to the decoder).
var sfSchemas = map[string]string{
	"Lead": "6Ghd7Kp0x6cKN3A0u0xQ2w", "Contact": "1Xz3W2sYq0nM5aLk7pJ9rQ", "Opportunity": "9tT2xGeA3a6kQm5E8u5aXQ", "Task": "1aJp0Bq4y7dLZ2b9v1pR3g",
	"Event": "4cMn2Ds6z8eNX4d1w3tT5h", "SBQQ__QuoteLine__c": "7eQr4Fu8b0gPY6f3y5vV7j",
}

func (h *sfHeader) eventID() string {
	return "sf:" + h.txKey + ":" + strconv.Itoa(h.seq) + ":" + h.recordID
}

func sfNew(e *vendorkit.Synth, entity, change string, rep *vendorkit.SynthRep, recordID string, commit int64) sfHeader {
	return sfHeader{
		entity: entity, change: change, txKey: txKey(e), commitUser: vendorkit.First(rep.SalesforceUserIDs),
		recordID: recordID, seq: 1, commit: commit, cometd: e.Rand.IntN(2) == 0,
	}
}

func appendStrField(b []byte, name, v string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	if v == "" {
		return append(b, "null"...)
	}
	return schemas.AppendJSONString(b, v)
}

func appendNumField(b []byte, name string, v float64) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// sfLead is a Lead CREATE with the contact's e-mail, phone and mobile as
// the generator wrote them (it decides the formats: a national number
// comes with its country) and the Address compound field whose
// CountryCode (State and Country Picklists on) is the contact's country.
// Now and then a lead has its only number as MobilePhone.
func sfLead(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	ms := in.OccurredAt.UnixMilli()
	h := sfNew(e, "Lead", "CREATE", rep, rep.LeadID(e, in.LeadID), ms)
	first, last, _ := strings.Cut(in.Contact.Name, " ")
	c := in.Contact
	if e.Rand.IntN(4) == 0 && c.Mobile == "" {
		c.Phone, c.Mobile = "", c.Phone
	}
	b := sfOpen(e, r.Value, &h)
	b = append(b, `"Name":{"Salutation":null,"FirstName":`...)
	b = schemas.AppendJSONString(b, first)
	b = append(b, `,"LastName":`...)
	b = schemas.AppendJSONString(b, last)
	b = append(b, `},`...)
	b = appendAddress(b, c.Country)
	b = append(b, ',')
	b = appendStrField(b, "Email", c.Email)
	b = append(b, ',')
	b = appendStrField(b, "Phone", c.Phone)
	b = append(b, ',')
	b = appendStrField(b, "MobilePhone", c.Mobile)
	b = append(b, `,"Company":`...)
	b = schemas.AppendJSONString(b, companyOf(in.Contact.Email))
	b = append(b, `,"LeadSource":"Web","Status":"Open - Not Contacted","IsConverted":false,"ConvertedAccountId":null,"ConvertedContactId":null,"ConvertedOpportunityId":null,`...)
	b = appendStrField(b, "OwnerId", vendorkit.First(rep.SalesforceUserIDs))
	b = append(b, `,"CreatedDate":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"CreatedById":`...)
	b = schemas.AppendJSONString(b, vendorkit.First(rep.SalesforceUserIDs))
	r.Value = sfClose(e, b, &h)
	if e.Expect {
		w := e.Want(r, in, h.eventID())
		w.LeadID = h.recordID
		w.Contact = c
	}
}

// sfLeadUpdate is an UPDATE of the e-mail, phone or mobile a lead.updated
// sets, in either shape: CometD with the changed fields only, Pub/Sub with
// every field (unchanged ones null). The owner did not change, so OwnerId
// is absent or null and the decoder credits the committing user, the rep.
// The event is enriched with the unchanged address (and a contact's
// AccountId), as docs/sources.md recommends for opportunities, so the
// country of a national number travels with it. A lead.updated of an
// existing customer's contact (vendorkit.CustomerContact) is a Contact
// UPDATE of the 003 record of its number, with AccountId; any other is
// the Lead's, which has no account.
func sfLeadUpdate(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	ms := in.OccurredAt.UnixMilli()
	entity, id, acct, addr := "Lead", rep.LeadID(e, in.LeadID), "", "Address"
	if vendorkit.CustomerContact(in.LeadID) {
		entity, id, acct, addr = "Contact", ContactID(in.LeadID), rep.AccountID(e, in.AccountID), "MailingAddress"
	}
	h := sfNew(e, entity, "UPDATE", rep, id, ms)
	c := schemas.Contact{Email: in.Contact.Email, Phone: in.Contact.Phone, Mobile: in.Contact.Mobile, Country: in.Contact.Country}
	for _, f := range [...]struct{ name, v string }{{"Email", c.Email}, {"Phone", c.Phone}, {"MobilePhone", c.Mobile}} {
		if f.v != "" {
			h.changed = append(h.changed, f.name)
		}
	}
	h.changed = append(h.changed, "LastModifiedDate")
	b := sfOpen(e, r.Value, &h)
	switch {
	case h.cometd:
	case acct == "":
		b = append(b, `"Name":null,"Company":null,"Title":null,"LeadSource":null,"Status":null,"OwnerId":null,"IsConverted":null,`...)
	default:
		b = append(b, `"Name":null,"Title":null,"Department":null,"LeadSource":null,"OwnerId":null,"HomePhone":null,`...)
	}
	for _, f := range [...]struct{ name, v string }{{"Email", c.Email}, {"Phone", c.Phone}, {"MobilePhone", c.Mobile}} {
		if f.v != "" || !h.cometd {
			b = appendStrField(b, f.name, f.v)
			b = append(b, ',')
		}
	}
	if acct != "" {
		b = appendStrField(b, "AccountId", acct)
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, addr...)
	b = append(b, `":`...)
	b = appendAddressValue(b, c.Country)
	b = append(b, `,"LastModifiedDate":`...)
	b = strconv.AppendInt(b, ms, 10)
	r.Value = sfClose(e, b, &h)
	if e.Expect && (c.Email != "" || c.Phone != "" || c.Mobile != "") {
		w := e.Want(r, in, h.eventID())
		w.LeadID, w.AccountID = id, acct
		w.Contact = c
		w.Customer = entity == "Contact"
	}
}

// ContactID is the Contact (003) id the generator gives the contact of a
// generator lead id: an existing customer's contact.
func ContactID(lead string) string { return ID("003", "Dn", vendorkit.IDNumber(lead)) }

// countryNames are the address picklist labels of some ISO codes; other
// codes are sent as their own label.
var countryNames = map[string]string{
	"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "ES": "Spain",
	"IT": "Italy", "NL": "Netherlands", "CA": "Canada", "AU": "Australia", "BR": "Brazil", "JP": "Japan", "IN": "India",
}

// appendAddress writes the Lead's Address field.
func appendAddress(b []byte, country string) []byte {
	return appendAddressValue(append(b, `"Address":`...), country)
}

// appendAddressValue writes an Address compound value with the picklist
// label and ISO code of country, null without one.
func appendAddressValue(b []byte, country string) []byte {
	if country == "" {
		return append(b, "null"...)
	}
	label := countryNames[country]
	if label == "" {
		label = country
	}
	b = append(b, `{"Street":null,"City":null,"State":null,"PostalCode":null,"Country":`...)
	b = schemas.AppendJSONString(b, label)
	b = append(b, `,"StateCode":null,"CountryCode":`...)
	b = schemas.AppendJSONString(b, country)
	return append(b, `,"Latitude":null,"Longitude":null,"GeocodeAccuracy":null}`...)
}

// companyOf derives a company name from a contact's mail domain.
func companyOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	d, _, _ = strings.Cut(d, ".")
	return d
}

// sfTask logs a call or an e-mail to a lead as a completed Task. For
// calls, the task is committed when the call ended and CompletedDateTime
// says when it took place.
func sfTask(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	ms := in.OccurredAt.UnixMilli()
	commit := ms
	call := in.Type != schemas.TypeMessageOutbound
	if call {
		commit += int64(in.DurationS*1000) + int64(5000+e.Rand.IntN(60000))
	}
	taskID := ID("00T", "Dn", e.Seq)
	h := sfNew(e, "Task", "CREATE", rep, taskID, commit)
	b := sfOpen(e, r.Value, &h)
	lead := rep.LeadID(e, in.LeadID)
	acct := rep.AccountID(e, in.AccountID)
	b = appendStrField(b, "WhoId", lead)
	b = append(b, ',')
	b = appendStrField(b, "WhatId", acct)
	b = append(b, ',')
	b = appendStrField(b, "AccountId", acct)
	b = append(b, `,"Subject":`...)
	subject := e.Subject(in)
	switch {
	case !call:
		b = schemas.AppendJSONString(b, "Email: "+subject)
		b = append(b, `,"TaskSubtype":"Email","CallType":null,"CallDurationInSeconds":null,"CallDisposition":null`...)
	default:
		b = schemas.AppendJSONString(b, "Call: "+subject)
		b = append(b, `,"TaskSubtype":"Call","CallType":`...)
		if in.Type == schemas.TypeCallInbound {
			b = append(b, `"Inbound"`...)
		} else {
			b = append(b, `"Outbound"`...)
		}
		b = append(b, ',')
		b = appendNumField(b, "CallDurationInSeconds", in.DurationS)
		b = append(b, `,"CallDisposition":`...)
		b = schemas.AppendJSONString(b, in.Attributes["outcome"])
	}
	b = append(b, `,"Status":"Completed","Priority":"Normal","IsClosed":true,`...)
	b = appendStrField(b, "OwnerId", vendorkit.First(rep.SalesforceUserIDs))
	b = append(b, `,"ActivityDate":`...)
	b = strconv.AppendInt(b, in.OccurredAt.Truncate(24*time.Hour).UnixMilli(), 10)
	if call {
		b = append(b, `,"CompletedDateTime":`...)
		b = strconv.AppendInt(b, ms, 10)
	}
	r.Value = sfClose(e, b, &h)
	if e.Expect {
		w := e.Want(r, in, h.eventID())
		w.LeadID, w.AccountID = lead, acct
		if call {
			w.Has |= schemas.HasDuration
			w.DurationS = in.DurationS
		}
	}
	// Now and then the rep deletes an old task: a DELETE the decoder
	// skips.
	if e.Rand.IntN(8) == 0 && e.Seq > 1 {
		d := e.Record(key)
		dh := sfNew(e, "Task", "DELETE", rep, ID("00T", "Dn", e.Seq-1-uint64(e.Rand.IntN(int(min(e.Seq-1, 1000))))), commit+1000)
		d.Value = sfClose(e, append(sfOpen(e, d.Value, &dh), `"OwnerId":null`...), &dh)
	}
}

// sfEvent logs a meeting with a lead after it took place, with an
// invitee copy (IsChild) for a colleague: the decoder must count the
// meeting once.
func sfEvent(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	ms := in.OccurredAt.UnixMilli()
	commit := ms + int64(in.DurationS*1000) + int64(60000+e.Rand.IntN(600000))
	mins := math.Round(in.DurationS / 60)
	lead := rep.LeadID(e, in.LeadID)
	acct := rep.AccountID(e, in.AccountID)
	subject := "Meeting: " + e.Subject(in)
	h := sfNew(e, "Event", "CREATE", rep, ID("00U", "Dn", 2*e.Seq), commit)
	h.cometd = false // invitee copies come from Pub/Sub here; both shapes are covered by other entities
	event := func(b []byte, h *sfHeader, owner string, child bool) []byte {
		b = sfOpen(e, b, h)
		b = appendStrField(b, "WhoId", lead)
		b = append(b, ',')
		b = appendStrField(b, "WhatId", acct)
		b = append(b, ',')
		b = appendStrField(b, "AccountId", acct)
		b = append(b, `,"Subject":`...)
		b = schemas.AppendJSONString(b, subject)
		b = append(b, `,"Location":null,"IsAllDayEvent":false,"ActivityDateTime":`...)
		b = strconv.AppendInt(b, ms, 10)
		b = append(b, ',')
		b = appendNumField(b, "DurationInMinutes", mins)
		b = append(b, `,"Description":null,`...)
		b = appendStrField(b, "OwnerId", owner)
		b = append(b, `,"IsPrivate":false,"ShowAs":"Busy","IsChild":`...)
		b = strconv.AppendBool(b, child)
		b = append(b, `,"IsGroupEvent":true,"GroupEventType":"1"`...)
		return sfClose(e, b, h)
	}
	child := h
	child.seq = 2
	child.recordID = ID("00U", "Dn", 2*e.Seq+1)
	r := e.Record(key)
	if e.Rand.IntN(3) == 0 {
		// A connector batch: both copies in one JSON array.
		b := append(r.Value, '[')
		b = event(b, &h, vendorkit.First(rep.SalesforceUserIDs), false)
		b = append(b, ',')
		r.Value = append(event(b, &child, vendorkit.First(rep.Colleague.SalesforceUserIDs), true), ']')
	} else {
		r.Value = event(r.Value, &h, vendorkit.First(rep.SalesforceUserIDs), false)
		c := e.Record(key)
		c.Value = event(c.Value, &child, vendorkit.First(rep.Colleague.SalesforceUserIDs), true)
	}
	if e.Expect {
		w := e.Want(r, in, h.eventID())
		w.LeadID, w.AccountID = lead, acct
		w.Has |= schemas.HasDuration
		w.DurationS = mins * 60
	}
}

// sfOpportunity is a stage change on an opportunity, enriched with
// OwnerId, AccountId, Amount and CurrencyIsoCode as docs/sources.md
// recommends. Now and then an update of another field comes first: the
// decoder must skip it.
func sfOpportunity(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	ms := in.OccurredAt.UnixMilli()
	oppID := ID("006", "Dn", vendorkit.IDNumber(in.AccountID))
	acct := rep.AccountID(e, in.AccountID)
	stage := sfStages[in.Stage]
	body := func(b []byte, h *sfHeader, withStage bool) []byte {
		b = sfOpen(e, b, h)
		if withStage {
			b = appendStrField(b, "StageName", stage)
			b = append(b, ',')
		} else if h.cometd {
			// CometD enrichment carries the unchanged stage; only
			// changedFields says it did not change.
			b = appendStrField(b, "StageName", stage)
			b = append(b, `,"Probability":35,`...)
		} else {
			b = append(b, `"StageName":null,"Probability":35,`...)
		}
		if withStage && (in.Type == schemas.TypeDealWon || in.Type == schemas.TypeDealLost) {
			b = append(b, `"IsClosed":true,"IsWon":`...)
			b = strconv.AppendBool(b, in.Type == schemas.TypeDealWon)
			b = append(b, ',')
		} else if !h.cometd {
			b = append(b, `"IsClosed":null,"IsWon":null,`...)
		}
		b = appendStrField(b, "OwnerId", vendorkit.First(rep.SalesforceUserIDs))
		b = append(b, ',')
		b = appendStrField(b, "AccountId", acct)
		if in.Has&schemas.HasAmount != 0 {
			b = append(b, ',')
			b = appendNumField(b, "Amount", in.Amount)
		} else if !h.cometd {
			b = append(b, `,"Amount":null`...)
		}
		if in.Currency != "" {
			b = append(b, ',')
			b = appendStrField(b, "CurrencyIsoCode", in.Currency)
		}
		b = append(b, `,"LastModifiedDate":`...)
		b = strconv.AppendInt(b, h.commit, 10)
		return sfClose(e, b, h)
	}
	if e.Rand.IntN(6) == 0 {
		n := e.Record(key)
		nh := sfNew(e, "Opportunity", "UPDATE", rep, oppID, ms-int64(1000+e.Rand.IntN(60000)))
		nh.changed = []string{"Probability", "LastModifiedDate"}
		n.Value = body(n.Value, &nh, false)
	}
	r := e.Record(key)
	h := sfNew(e, "Opportunity", "UPDATE", rep, oppID, ms)
	h.changed = []string{"StageName", "LastModifiedDate"}
	if in.Type != schemas.TypeOpportunityStageChanged {
		h.changed = []string{"StageName", "IsClosed", "IsWon", "LastModifiedDate"}
	}
	r.Value = body(r.Value, &h, true)
	if e.Expect {
		w := e.Want(r, in, h.eventID())
		w.Stage, w.AccountID, w.Currency = stage, acct, in.Currency
		if in.Has&schemas.HasAmount != 0 {
			w.Has |= schemas.HasAmount
			w.Amount = in.Amount
		}
	}
}

// sfQuoteLine is a CPQ quote line CREATE committed by the rep.
func sfQuoteLine(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	h := sfNew(e, "SBQQ__QuoteLine__c", "CREATE", rep, ID("a0C", "Dn", e.Seq), in.OccurredAt.UnixMilli())
	b := sfOpen(e, r.Value, &h)
	b = appendStrField(b, "SBQQ__Quote__c", ID("a0B", "Dn", e.Seq))
	b = append(b, `,"SBQQ__Product__c":"01tDn0000001AbCQAU","SBQQ__Quantity__c":1,`...)
	b = appendNumField(b, "SBQQ__ListPrice__c", in.ListPrice)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__RegularPrice__c", in.ListPrice)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__CustomerPrice__c", in.Amount)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__NetPrice__c", in.Amount)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__NetTotal__c", in.Amount)
	b = append(b, ',')
	b = appendNumField(b, "SBQQ__Discount__c", in.DiscountPct)
	b = append(b, `,"SBQQ__AdditionalDiscountAmount__c":null,`...)
	b = appendStrField(b, "CurrencyIsoCode", in.Currency)
	r.Value = sfClose(e, b, &h)
	if e.Expect {
		w := e.Want(r, in, h.eventID())
		w.Currency = in.Currency
		w.Has = schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount
		w.Amount, w.ListPrice, w.DiscountPct = in.Amount, in.ListPrice, in.DiscountPct
	}
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ID returns an 18-character Salesforce id for the generator: the
// 3-character key prefix (005 = User, 00Q = Lead, ...), a 2-character pod,
// zero padding, a base-62 number, and the case-safe 3-character suffix Salesforce derives from the
// upper-case positions of the 15-character id.
func ID(prefix, pod string, n uint64) string {
	var b [18]byte
	copy(b[:], prefix)
	copy(b[3:], pod)
	for k := 5; k < 15; k++ {
		b[k] = '0'
	}
	for k := 14; k >= 9 && n > 0; k-- {
		b[k] = base62[n%62]
		n /= 62
	}
	const suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	for chunk := 0; chunk < 3; chunk++ {
		v := 0
		for k := 0; k < 5; k++ {
			if c := b[chunk*5+k]; c >= 'A' && c <= 'Z' {
				v |= 1 << k
			}
		}
		b[15+chunk] = suffix[v]
	}
	return string(b[:])
}
