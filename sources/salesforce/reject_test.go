package salesforce

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// hdr renders a change event header; fields is the rest of the payload.
func event(entity, changeType, ids, extraHeader, fields string) string {
	s := `{"ChangeEventHeader":{"entityName":"` + entity + `","changeType":"` + changeType + `","recordIds":[` + ids +
		`],"transactionKey":"0005dd00-0000-4000-8000-000000000001","sequenceNumber":1,"commitTimestamp":1714411236000,"commitUser":"005ZM000000M6o1YAC"` + extraHeader + `}`
	if fields != "" {
		s += "," + fields
	}
	return s + "}"
}

// TestRejections: each bad input yields one FieldError naming the vendor,
// the field path, the offending value and the rule, and nothing is appended.
func TestRejections(t *testing.T) {
	s := suite(t)
	f := func(name, value, field, val, rule string) {
		t.Helper()
		s.Reject(t, name, value, field, val, rule)
	}
	opp := `"StageName":"Prospecting","OwnerId":"005ZM000000M6o1YAC"`
	f("empty value", "  ", "", "", "empty record value")
	f("truncated JSON", `{"ChangeEventHeader":{`, "", `{"ChangeEventHeader":{`, "malformed JSON: json: unexpected end of JSON input: {")
	f("not an object", `42`, "", "42", "must be a JSON object")
	f("trailing data", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp)+` {}`, "", "{}", "unexpected data after the JSON value")
	f("header of the wrong type", `{"ChangeEventHeader":"CREATE"}`, "ChangeEventHeader", `"CREATE"}`, "must be a JSON object")
	f("neither change event nor quote", `{"foo":1}`, "ChangeEventHeader", "", "required: the record is neither a change event nor a CPQ Calculate Quote body")
	f("missing changeType", strings.Replace(event("Opportunity", "", `"006SM0000001Tb3YAE"`, "", opp), `"changeType":"",`, "", 1),
		"ChangeEventHeader.changeType", "", "required")
	f("unknown changeType", event("Opportunity", "MERGE", `"006SM0000001Tb3YAE"`, "", opp),
		"ChangeEventHeader.changeType", "MERGE", "must be CREATE, UPDATE, DELETE, UNDELETE or GAP_*")
	f("missing entityName", event("", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), "ChangeEventHeader.entityName", "", "required")
	f("commitTimestamp in seconds", strings.Replace(event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), "1714411236000", "1714411236", 1),
		"ChangeEventHeader.commitTimestamp", "1714411236", "must be epoch milliseconds between 2000-01-01 and 2100-01-01")
	f("commitTimestamp missing (CometD path)", `{"schema":"x","payload":`+strings.Replace(event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), `"commitTimestamp":1714411236000,`, "", 1)+`,"event":{"replayId":1}}`,
		"payload.ChangeEventHeader.commitTimestamp", "", "required")
	f("commitTimestamp not a number", strings.Replace(event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), "1714411236000", `"yesterday"`, 1),
		"ChangeEventHeader.commitTimestamp", `"yesterday"`, "must be epoch milliseconds between 2000-01-01 and 2100-01-01")
	f("no record ids", event("Opportunity", "CREATE", ``, "", opp), "ChangeEventHeader.recordIds", "", "required")
	f("record id carrying personal data", event("Opportunity", "CREATE", `"jane@example.com"`, "", opp),
		"ChangeEventHeader.recordIds[0]", "jane@example.com", RuleID)
	f("bad transactionKey", strings.Replace(event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), "0005dd00-0000-4000-8000-000000000001", "a:b", 1),
		"ChangeEventHeader.transactionKey", "a:b", "must be at most 64 letters, digits and dashes")
	f("bad sequenceNumber", strings.Replace(event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), `"sequenceNumber":1`, `"sequenceNumber":-1`, 1),
		"ChangeEventHeader.sequenceNumber", "-1", "must be a non-negative integer")
	f("bad commitUser", strings.Replace(event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp), "005ZM000000M6o1YAC", "integration@acme", 1),
		"ChangeEventHeader.commitUser", "integration@acme", RuleID)
	f("opportunity CREATE without stage", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", `"Amount":5`),
		"StageName", "", "required on an Opportunity CREATE")
	f("negative amount", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp+`,"Amount":-1`), "Amount", "-1", RuleNumber)
	f("amount as text", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp+`,"Amount":"lots"`), "Amount", `"lots"`, RuleNumber)
	f("IsWon not a bool", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp+`,"IsWon":"yes"`), "IsWon", `"yes"`, RuleBool)
	f("bad currency", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp+`,"CurrencyIsoCode":"EURO"`),
		"CurrencyIsoCode", "EURO", "must be a three-letter ISO 4217 code")
	f("bad AccountId", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", opp+`,"AccountId":"Acme Corp"`), "AccountId", "Acme Corp", RuleID)
	f("bad OwnerId", event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", `"StageName":"x","OwnerId":"ben"`), "OwnerId", "ben", RuleID)
	f("lead IsConverted not a bool", event("Lead", "UPDATE", `"00Q5g00000AbCdEEAZ"`, "", `"IsConverted":1`), "IsConverted", "1", RuleBool)
	f("task call without owner", event("Task", "CREATE", `"00T5g00000CaLl1EAB"`, "", `"CallType":"Outbound"`),
		"OwnerId", "", "required for type call.outbound")
	f("task call of an unknown user", event("Task", "CREATE", `"00T5g00000CaLl1EAB"`, "", `"CallType":"Outbound","OwnerId":"005UNKNOWN0000000A"`),
		"OwnerId", "005UNKNOWN0000000A", RuleUnknownUser)
	f("task unknown CallType", event("Task", "CREATE", `"00T5g00000CaLl1EAB"`, "", `"CallType":"Conference","OwnerId":"005ZM000000M6o1YAC"`),
		"CallType", "Conference", "must be Inbound, Outbound or Internal")
	f("task negative duration", event("Task", "CREATE", `"00T5g00000CaLl1EAB"`, "", `"CallType":"Outbound","OwnerId":"005ZM000000M6o1YAC","CallDurationInSeconds":-3`),
		"CallDurationInSeconds", "-3", RuleNumber)
	f("task bad CompletedDateTime", event("Task", "CREATE", `"00T5g00000CaLl1EAB"`, "", `"CallType":"Outbound","OwnerId":"005ZM000000M6o1YAC","CompletedDateTime":"soon"`),
		"CompletedDateTime", `"soon"`, RuleDateTime)
	f("task WhoId free text", event("Task", "CREATE", `"00T5g00000CaLl1EAB"`, "", `"CallType":"Outbound","OwnerId":"005ZM000000M6o1YAC","WhoId":"Jane Doe"`),
		"WhoId", "Jane Doe", RuleID)
	f("event duration over a week", event("Event", "CREATE", `"00U5g00000MeEt1EAB"`, "", `"OwnerId":"005ZM000000M6o1YAC","DurationInMinutes":20000`),
		"duration_s", "1.2e+06", "must be between 0 and 604800 (one week)")
	f("event bad ActivityDateTime", event("Event", "CREATE", `"00U5g00000MeEt1EAB"`, "", `"OwnerId":"005ZM000000M6o1YAC","ActivityDateTime":12`),
		"ActivityDateTime", "12", RuleDateTime)
	f("event IsChild not a bool", event("Event", "CREATE", `"00U5g00000MeEt1EAB"`, "", `"OwnerId":"005ZM000000M6o1YAC","IsChild":"no"`), "IsChild", `"no"`, RuleBool)
	f("event without owner", event("Event", "CREATE", `"00U5g00000MeEt1EAB"`, "", `"DurationInMinutes":30`), "OwnerId", "", "required for type meeting.held")
	f("quote line discount over 100", event("SBQQ__QuoteLine__c", "CREATE", `"a0l5g00000QlInEAAR"`, "", `"SBQQ__Discount__c":120`),
		"SBQQ__Discount__c", "120", "must be a number between 0 and 100")
	f("quote line discount amount above the price", event("SBQQ__QuoteLine__c", "CREATE", `"a0l5g00000QlInEAAR"`, "", `"SBQQ__AdditionalDiscountAmount__c":150,"SBQQ__RegularPrice__c":100`),
		"SBQQ__AdditionalDiscountAmount__c", "150", "must not exceed the regular price")
	f("quote line discount amount without a price", event("SBQQ__QuoteLine__c", "CREATE", `"a0l5g00000QlInEAAR"`, "", `"SBQQ__AdditionalDiscountAmount__c":15`),
		"SBQQ__AdditionalDiscountAmount__c", "15", "needs SBQQ__RegularPrice__c or SBQQ__ListPrice__c > 0 to derive a discount")
	f("quote line by an integration user", strings.Replace(event("SBQQ__QuoteLine__c", "CREATE", `"a0l5g00000QlInEAAR"`, "", `"SBQQ__NetTotal__c":5`), "005ZM000000M6o1YAC", "005INTEGRATION0001", 1),
		"ChangeEventHeader.commitUser", "005INTEGRATION0001", RuleUnknownUser)
	f("quote line bad quote id", event("SBQQ__QuoteLine__c", "CREATE", `"a0l5g00000QlInEAAR"`, "", `"SBQQ__Quote__c":"Q-00822"`), "SBQQ__Quote__c", "Q-00822", RuleID)
	f("calculate body without time", `{"quote":{"record":{"Id":"a0p61000002NUmoAAG","OwnerId":"005ZM000000M6o1YAC"},"lineItems":[{"key":1,"record":{"Id":"a0l610000061yHpAAI"}}]}}`,
		"quote.record.LastModifiedDate", "", "required: a Calculate Quote body needs LastModifiedDate, SystemModstamp or CreatedDate on the quote or line ("+RuleDateTime+")")
	f("calculate body without owner", `{"quote":{"record":{"Id":"a0p61000002NUmoAAG","LastModifiedDate":1714411236000},"lineItems":[{"key":1,"record":{"Id":"a0l610000061yHpAAI"}}]}}`,
		"quote.record.OwnerId", "", "required for type quote.created")
	f("calculate line without id or key", `{"quote":{"record":{"Id":"a0p61000002NUmoAAG","OwnerId":"005ZM000000M6o1YAC","LastModifiedDate":1714411236000},"lineItems":[{"record":{"SBQQ__NetTotal__c":1}}]}}`,
		"quote.lineItems[0].key", "", "required for a line without Id")
	f("context not JSON", `{"context":"{\"quote\":"}`, "context", `{"quote":`, "malformed JSON: json: unexpected end of JSON input: ")
	f("context not a string", `{"context":12}`, "context", "12", "must be a JSON-encoded QuoteModel string")
}

// TestPartialBatch: good events of a record are appended even when others
// in it are bad, and the error names each bad one by index.
func TestPartialBatch(t *testing.T) {
	d := newTestDecoder(t, Config{})
	good := event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", `"StageName":"Prospecting"`)
	bad := event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", `"StageName":"Prospecting","Amount":-2`)
	got, err := d.Decode(nil, []byte("["+good+","+bad+","+good+","+bad+"]"))
	if len(got) != 2 {
		t.Fatalf("want the 2 good events, got %d", len(got))
	}
	if err == nil || !errors.Is(err, schemas.ErrInvalid) {
		t.Fatalf("want an ErrInvalid error, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "field [1].Amount") || !strings.Contains(msg, "field [3].Amount") || strings.Contains(msg, "[0]") {
		t.Errorf("error does not name the bad events: %v", err)
	}
	if got[0].EventID != got[1].EventID {
		t.Errorf("the same change must get the same event id: %q %q", got[0].EventID, got[1].EventID)
	}
}

// TestSameIDAcrossShapes: the same change delivered by Pub/Sub and by CometD
// (different replay ids) gets the same event id, so dedup drops the second.
func TestSameIDAcrossShapes(t *testing.T) {
	d := newTestDecoder(t, Config{})
	pubsub := event("Opportunity", "UPDATE", `"006SM0000001Tb3YAE"`, `,"changedFields":["0x0A"]`, `"StageName":"Closed Won","Amount":null`)
	cometd := `{"schema":"abc","payload":` + event("Opportunity", "UPDATE", `"006SM0000001Tb3YAE"`, `,"changedFields":["StageName"]`, `"StageName":"Closed Won"`) + `,"event":{"replayId":4711}}`
	a, err := d.Decode(nil, []byte(pubsub))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(nil, []byte(cometd))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || a[0].EventID != b[0].EventID || a[0].Type != schemas.TypeDealWon {
		t.Fatalf("want one deal.won with the same id, got %+v / %+v", a, b)
	}
}

// TestOwnedStrings: nothing appended points into the record buffer.
func TestOwnedStrings(t *testing.T) {
	d := newTestDecoder(t, Config{})
	value := []byte(event("Lead", "CREATE", `"00Q5g00000AbCdEEAZ"`, "", `"Email":"jane@example.com","Name":{"FirstName":"Jane"},"OwnerId":"005UNKNOWN0000000A","LeadSource":"Web"`))
	got, err := d.Decode(nil, value)
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	want := got[0].LeadID + got[0].Contact.Email + got[0].Contact.Name + got[0].Attributes["sf_owner_id"] + got[0].Attributes["lead_source"] + got[0].EventID
	for k := range value {
		value[k] = 'x'
	}
	if have := got[0].LeadID + got[0].Contact.Email + got[0].Contact.Name + got[0].Attributes["sf_owner_id"] + got[0].Attributes["lead_source"] + got[0].EventID; have != want {
		t.Errorf("strings alias the record buffer: %q became %q", want, have)
	}
}

func TestSkippedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := NewDecoder(Config{}, testIndex(), reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{
		event("Opportunity", "DELETE", `"006SM0000001Tb3YAE"`, "", ""),
		event("Opportunity", "GAP_OVERFLOW", `"006*"`, "", ""),
		event("Account", "CREATE", `"0015g00000QwErTAAZ"`, "", ""),
		event("Event", "CREATE", `"00U5g00000MeEt1EAB"`, "", `"IsChild":true`),
		event("Opportunity", "CREATE", `"006SM0000001Tb3YAE"`, "", `"StageName":"Closed Won"`),
	} {
		if got, err := d.Decode(nil, []byte(v)); err != nil {
			t.Fatalf("%s: %v (%d events)", v, err, len(got))
		}
	}
	// A second decoder on the same registry shares the collectors.
	if _, err := NewDecoder(Config{}, nil, reg); err != nil {
		t.Fatal(err)
	}
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP salespulse_salesforce_skipped_total Salesforce change events deliberately not turned into interactions, by reason.
# TYPE salespulse_salesforce_skipped_total counter
salespulse_salesforce_skipped_total{reason="delete"} 1
salespulse_salesforce_skipped_total{reason="entity"} 1
salespulse_salesforce_skipped_total{reason="gap"} 1
salespulse_salesforce_skipped_total{reason="internal_call"} 0
salespulse_salesforce_skipped_total{reason="invitee_copy"} 1
salespulse_salesforce_skipped_total{reason="no_change"} 0
salespulse_salesforce_skipped_total{reason="not_activity"} 0
salespulse_salesforce_skipped_total{reason="open_task"} 0
salespulse_salesforce_skipped_total{reason="undelete"} 0
`), "salespulse_salesforce_skipped_total")
	if err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(d.metrics.emitted[schemas.TypeDealWon-1]); v != 1 {
		t.Errorf("deal.won counted %v times, want 1", v)
	}
}
