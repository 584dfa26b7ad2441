package salesforce

import (
	"github.com/segmentio/encoding/json"
)

// The structs below are decoded with json.ZeroCopy: their strings and raw
// values point into the Kafka record buffer and are valid only during one
// Decode call. Anything kept in an Interaction is cloned or interned.
//
// Scalars whose absence, null and zero mean different things (amounts,
// durations, timestamps, flags) are json.RawMessage: nil when absent,
// "null" when null. In a Pub/Sub update event null means "unchanged".

// header is ChangeEventHeader, identical in the Pub/Sub and CometD shapes
// except for changedFields (bitmap strings vs field names).
type header struct {
	EntityName      string          `json:"entityName"`
	RecordIDs       []string        `json:"recordIds"`
	ChangeType      string          `json:"changeType"`
	TransactionKey  string          `json:"transactionKey"`
	SequenceNumber  json.RawMessage `json:"sequenceNumber"`
	CommitTimestamp json.RawMessage `json:"commitTimestamp"`
	CommitUser      string          `json:"commitUser"`
	ChangedFields   []string        `json:"changedFields"`
}

func (h *header) present() bool {
	return h.EntityName != "" || h.ChangeType != "" || len(h.CommitTimestamp) != 0 || len(h.RecordIDs) != 0
}

// quoteLine holds the CPQ quote line fields, shared by the change event
// (SBQQ__QuoteLine__ChangeEvent) and the Calculate Quote API body.
type quoteLine struct {
	ID                       string          `json:"Id"`
	Quote                    string          `json:"SBQQ__Quote__c"`
	Product                  string          `json:"SBQQ__Product__c"`
	ListPrice                json.RawMessage `json:"SBQQ__ListPrice__c"`
	RegularPrice             json.RawMessage `json:"SBQQ__RegularPrice__c"`
	NetPrice                 json.RawMessage `json:"SBQQ__NetPrice__c"`
	NetTotal                 json.RawMessage `json:"SBQQ__NetTotal__c"`
	Quantity                 json.RawMessage `json:"SBQQ__Quantity__c"`
	Discount                 json.RawMessage `json:"SBQQ__Discount__c"`
	AdditionalDiscountAmount json.RawMessage `json:"SBQQ__AdditionalDiscountAmount__c"`
	LastModifiedDate         json.RawMessage `json:"LastModifiedDate"`
	SystemModstamp           json.RawMessage `json:"SystemModstamp"`
	CreatedDate              json.RawMessage `json:"CreatedDate"`
}

// record is one change event: the header plus the union of the fields the
// mapping reads from Lead, Opportunity, Task, Event and SBQQ__QuoteLine__c.
// Every other field is skipped by the decoder without being stored.
type record struct {
	Header header `json:"ChangeEventHeader"`

	OwnerID         string `json:"OwnerId"`
	AccountID       string `json:"AccountId"`
	WhoID           string `json:"WhoId"`
	WhatID          string `json:"WhatId"`
	CurrencyIsoCode string `json:"CurrencyIsoCode"`
	LeadSource      string `json:"LeadSource"`
	Status          string `json:"Status"`
	Subject         string `json:"Subject"`

	// Opportunity
	StageName string          `json:"StageName"`
	Amount    json.RawMessage `json:"Amount"`
	IsClosed  json.RawMessage `json:"IsClosed"`
	IsWon     json.RawMessage `json:"IsWon"`

	// Lead
	Email                  string          `json:"Email"`
	Phone                  string          `json:"Phone"`
	MobilePhone            string          `json:"MobilePhone"`
	Name                   json.RawMessage `json:"Name"` // compound {FirstName, LastName, ...} in CDC; a string elsewhere
	IsConverted            json.RawMessage `json:"IsConverted"`
	ConvertedAccountID     string          `json:"ConvertedAccountId"`
	ConvertedContactID     string          `json:"ConvertedContactId"`
	ConvertedOpportunityID string          `json:"ConvertedOpportunityId"`

	// Lead and Contact address: a compound field, nested in change events
	// (Lead Address, Contact MailingAddress); Country and CountryCode at
	// the top level come from flattened (connector or REST) shapes.
	Address        address `json:"Address"`
	MailingAddress address `json:"MailingAddress"`
	Country        string  `json:"Country"`
	CountryCode    string  `json:"CountryCode"`

	// Task
	TaskSubtype           string          `json:"TaskSubtype"`
	CallType              string          `json:"CallType"`
	CallDurationInSeconds json.RawMessage `json:"CallDurationInSeconds"`
	CallDisposition       string          `json:"CallDisposition"`
	CompletedDateTime     json.RawMessage `json:"CompletedDateTime"`

	// Event
	ActivityDateTime  json.RawMessage `json:"ActivityDateTime"`
	DurationInMinutes json.RawMessage `json:"DurationInMinutes"`
	IsChild           json.RawMessage `json:"IsChild"`

	// SBQQ__QuoteLine__c (the quote line has no owner of its own)
	quoteLine
}

// calcQuote is the "quote" object of a CPQ Calculate Quote API body (the
// QuoteModel): the quote record and its line items.
type calcQuote struct {
	Record struct {
		ID               string          `json:"Id"`
		OwnerID          string          `json:"OwnerId"`
		SalesRep         string          `json:"SBQQ__SalesRep__c"`
		Account          string          `json:"SBQQ__Account__c"`
		Opportunity      string          `json:"SBQQ__Opportunity2__c"`
		CurrencyIsoCode  string          `json:"CurrencyIsoCode"`
		LastModifiedDate json.RawMessage `json:"LastModifiedDate"`
		SystemModstamp   json.RawMessage `json:"SystemModstamp"`
		CreatedDate      json.RawMessage `json:"CreatedDate"`
	} `json:"record"`
	LineItems []calcLine `json:"lineItems"`
}

type calcLine struct {
	Key    json.RawMessage `json:"key"`
	Record quoteLine       `json:"record"`
}

// message is one record value in any of the accepted shapes:
//
//   - Pub/Sub API event decoded from Avro: header and fields at the top level;
//   - CometD/Streaming API: {"schema", "payload": {...}, "event": {"replayId"}};
//   - the Bayeux message around it: {"channel", "data": {"schema", "payload", "event"}};
//   - a CPQ Calculate Quote API body: {"quote": {...}} or {"context": "<JSON string>"}.
type message struct {
	record
	Payload record `json:"payload"`
	Data    struct {
		Payload record `json:"payload"`
	} `json:"data"`
	Quote   calcQuote       `json:"quote"`
	Context json.RawMessage `json:"context"`
}

// reset zeroes m but keeps the capacity of the slices decoded into on the
// common path, so a steady stream of change events does not allocate them.
func (m *message) reset() {
	ids := [3][]string{m.record.Header.RecordIDs[:0], m.Payload.Header.RecordIDs[:0], m.Data.Payload.Header.RecordIDs[:0]}
	chg := [3][]string{m.record.Header.ChangedFields[:0], m.Payload.Header.ChangedFields[:0], m.Data.Payload.Header.ChangedFields[:0]}
	lines := m.Quote.LineItems
	clear(lines[:cap(lines)]) // the decoder reuses elements without zeroing them
	*m = message{}
	m.record.Header.RecordIDs, m.Payload.Header.RecordIDs, m.Data.Payload.Header.RecordIDs = ids[0], ids[1], ids[2]
	m.record.Header.ChangedFields, m.Payload.Header.ChangedFields, m.Data.Payload.Header.ChangedFields = chg[0], chg[1], chg[2]
	m.Quote.LineItems = lines[:0]
}

// contextBody is the parsed "context" of a Calculate Quote body.
type contextBody struct {
	Quote calcQuote `json:"quote"`
}

// address is the part of an Address compound field the mapping reads.
// CountryCode exists when the org has State and Country/Territory Picklists
// on: the ISO 3166-1 alpha-2 code. Country is then the picklist label
// ("United States"), otherwise free text.
type address struct {
	Country     string `json:"Country"`
	CountryCode string `json:"CountryCode"`
}

// compoundName is the Name compound field of a Lead change event.
type compoundName struct {
	Salutation string `json:"Salutation"`
	FirstName  string `json:"FirstName"`
	MiddleName string `json:"MiddleName"`
	LastName   string `json:"LastName"`
	Suffix     string `json:"Suffix"`
}
