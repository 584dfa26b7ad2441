package aircall

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
)

// testIndex is a small org with the identities the fixtures use.
func testIndex() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "team-emea", Name: "EMEA", ManagerID: "rep-mia"}},
		Reps: []schemas.Rep{
			{ID: "rep-ada", TeamID: "team-emea", AircallUserIDs: []string{"456", "123"}},
			{ID: "rep-bob", TeamID: "team-emea", Mailboxes: []string{"bob@salespulse-demo.com"}},
		},
	})
}

func newTestDecoder(tb testing.TB, reg prometheus.Registerer) *Decoder {
	tb.Helper()
	d, err := NewDecoder(testIndex(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// suite is the checks the vendor normalisers' tests share (kittest), for
// this decoder.
func suite(tb testing.TB) kittest.Suite {
	d := newTestDecoder(tb, nil)
	return kittest.Suite{Decode: d.Decode, Source: source, IDPrefix: "aircall:", Format: kittest.Render, RulePrefix: true}
}

func TestDecodeGolden(t *testing.T) { suite(t).Golden(t) }

func TestDecodeRejects(t *testing.T) {
	s := suite(t)
	f := func(payload, field, value, rule string) {
		t.Helper()
		s.Reject(t, payload, payload, field, value, rule)
	}
	const ok = `"id":1,"direction":"outbound","started_at":1732622895,"user":{"id":456}`
	ended := func(data string) string { return `{"event":"call.ended","data":{` + data + `}}` }
	const ruleEpoch = "must be Unix seconds between 2000 and 2100"

	f(`[1,2]`, "", "[1,2]", "malformed JSON")
	f(`{"event":"call.ended"}{}`, "", `{"event":"call.ended"}{}`, "malformed JSON")
	f(`{"data":{}}`, "event", "", "required")
	f(`{"event":true}`, "event", "true", "must be a string")
	f(ended(`"direction":"outbound"`), "data.id", "", "required")
	f(ended(`"id":{"n":1}`), "data.id", `{"n":1}`, "must be a number or string")
	f(ended(`"id":"`+strings.Repeat("9", 249)+`"`), "data.id", strings.Repeat("9", 128)+"…", "longer than 248 bytes")
	f(ended(`"id":1`), "data.direction", "", "required")
	f(ended(`"id":1,"direction":"sideways"`), "data.direction", `"sideways"`, `must be "inbound" or "outbound"`)
	f(ended(`"id":1,"direction":7`), "data.direction", `7`, `must be "inbound" or "outbound"`)
	f(ended(`"id":1,"direction":"inbound"`), "data.started_at", "", "required")
	f(ended(`"id":1,"direction":"inbound","started_at":1732622895000`), "data.started_at", "1732622895000", ruleEpoch)
	f(ended(`"id":1,"direction":"inbound","started_at":"soon"`), "data.started_at", `"soon"`, ruleEpoch)
	f(ended(ok+`,"answered_at":[]`), "data.answered_at", "[]", ruleEpoch)
	f(ended(ok+`,"ended_at":1732622894`), "data.ended_at", "1732622894", "must not be before started_at")
	f(ended(ok+`,"ended_at":1733622895`), "data.ended_at", "1733622895", "call longer than one week")
	f(ended(ok+`,"duration":-1`), "data.duration", "-1", "must be a number of seconds between 0 and 604800")
	f(ended(ok+`,"duration":"long"`), "data.duration", `"long"`, "must be a number of seconds between 0 and 604800")
	f(ended(`"id":1,"direction":"outbound","started_at":1732622895`), "data.user.id", "", "required for an outbound call")
	f(ended(`"id":1,"direction":"outbound","started_at":1732622895,"user":{"id":31337,"email":"x@y.z"}`), "data.user.id", "31337", "unknown aircall user: add it to the org file")
	f(ended(`"id":1,"direction":"outbound","started_at":1732622895,"user":{"id":[1]}`), "data.user.id", "[1]", "must be a number or string")
	f(ended(`"id":1,"direction":"outbound","started_at":1732622895,"user":{"id":456,"email":5}`), "data.user.email", "5", "must be a string")
	f(ended(ok+`,"raw_digits":18001234567`), "data.raw_digits", "18001234567", "must be a string")
	f(ended(ok+`,"missed_call_reason":{}`), "data.missed_call_reason", "{}", "must be a string")
	f(ended(ok+`,"contact":{"first_name":1}`), "data.contact", "", "first_name and last_name must be strings")
	f(ended(ok+`,"contact":{"emails":[{"value":2}]}`), "data.contact.emails[0].value", "2", "must be a string")
	f(`{"event":"call.ended","data":"x"}`, "", `{"event":"call.ended","data":"x"}`, "malformed JSON")
}

// TestDecodeStableAndOwned: interactions own their strings and a redelivery
// decodes the same, also into a reused slot.
func TestDecodeStableAndOwned(t *testing.T) { suite(t).Owned(t, "call_ended_outbound.json") }

func TestSkippedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	for _, p := range []string{"call_created_doc_sample", "call_answered", "call_hungup", "contact_created"} {
		value, err := os.ReadFile("testdata/" + p + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if evs, err := d.Decode(nil, value); len(evs) != 0 || err != nil {
			t.Errorf("%s: want skipped, got %d events, %v", p, len(evs), err)
		}
	}
	value, err := os.ReadFile("testdata/call_ended_inbound_unknown_user.json")
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := d.Decode(nil, value); len(evs) != 1 || err != nil || evs[0].RepID != "" {
		t.Fatalf("inbound call of an unknown user: %+v, %v", evs, err)
	}
	// A second decoder on the same registry shares the counters.
	if _, err := NewDecoder(testIndex(), reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP salespulse_aircall_skipped_total Aircall webhooks deliberately decoded to no interaction, by reason.
# TYPE salespulse_aircall_skipped_total counter
salespulse_aircall_skipped_total{reason="not_final"} 3
salespulse_aircall_skipped_total{reason="unsupported_event"} 1
# HELP salespulse_aircall_unmapped_inbound_total Inbound Aircall calls emitted without a rep because their user is missing or not in the org file.
# TYPE salespulse_aircall_unmapped_inbound_total counter
salespulse_aircall_unmapped_inbound_total 1
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestNewDecoder: the decoder needs the org index to find reps. (Its
// topic is routing, the app's: sources.aircall.topic, internal/app tests.)
func TestNewDecoder(t *testing.T) {
	if _, err := NewDecoder(nil, nil); err == nil {
		t.Error("NewDecoder with a nil index succeeded")
	}
}

func FuzzDecode(f *testing.F) { suite(f).Fuzz(f) }

// BenchmarkDecode measures one call.ended record (~1.2 KB, the documented shape).
//
//	go test ./sources/aircall -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	value, err := os.ReadFile("testdata/call_ended_outbound.json")
	if err != nil {
		b.Fatal(err)
	}
	suite(b).Bench(b, value, 1)
}

// TestCallEndedUserNullCreditsParticipant: a completed call whose data.user
// is null is credited to the agent among data.participants, not
// dead-lettered. Payload hand-made after Aircall's Call object
// (https://developer.aircall.io/api-references/#call): "user" is the
// "Full User object who took or made the Call" and may be null;
// "participants" ("conference_participants" in the Call API, "participants"
// in call webhook events) lists entries of type "user" (id, name),
// "contact" (id, name, phone_number) or "external" (phone_number only).
func TestCallEndedUserNullCreditsParticipant(t *testing.T) {
	value, err := os.ReadFile("testdata/call_ended_outbound_user_null_participants.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := newTestDecoder(t, nil).Decode(nil, value)
	if err != nil || len(evs) != 1 {
		t.Fatalf("want one call, got %d, %v", len(evs), err)
	}
	if ev := evs[0]; ev.RepID != "rep-ada" || ev.Type != schemas.TypeCallOutbound || ev.Contact.Phone != "+12015550123" {
		t.Errorf("got rep %q, type %s, phone %q; want rep-ada, call.outbound, +12015550123", ev.RepID, ev.Type, ev.Contact.Phone)
	}

	s := suite(t)
	f := func(name, data, field, value, rule string) {
		t.Helper()
		s.Reject(t, name, `{"event":"call.ended","data":{"id":1,"direction":"outbound","started_at":1732622895,"user":null,`+data+`}}`, field, value, rule)
	}
	f("no agent among the participants", `"participants":[{"type":"external","phone_number":"+12015550123"},{"type":"contact","id":"9","name":"Jill","phone_number":"+12015550123"}]`,
		"data.user.id", "", "required for an outbound call")
	f("an agent the org file lacks", `"participants":[{"type":"user","id":"31337","name":"Eve"}]`,
		"data.participants", "31337", "unknown aircall user: add it to the org file")
	f("a bad participant type", `"participants":[{"type":1}]`, "data.participants[0].type", "1", "must be a string")
	f("a bad participant id", `"participants":[{"type":"user","id":{}}]`, "data.participants[0].id", "{}", "must be a number or string")
	// data.user names an unknown user: the error stays about that user,
	// even when a participant is known.
	s.Reject(t, "unknown user beside a known participant",
		`{"event":"call.ended","data":{"id":1,"direction":"outbound","started_at":1732622895,"user":{"id":31337},"participants":[{"type":"user","id":"456"}]}}`,
		"data.user.id", "31337", "unknown aircall user")
}

// TestContactIsTheExternalNumber: an Aircall call's contact is the external
// number, data.raw_digits, in E.164 whatever spacing Aircall sends it with;
// the lead is left to lead resolution. call.answered is not final (the call
// is counted from call.ended). Call object and events:
// https://developer.aircall.io/api-references/#call and
// https://developer.aircall.io/api-references/#call-events
func TestContactIsTheExternalNumber(t *testing.T) {
	d := newTestDecoder(t, nil)
	f := func(name, phone string, n int) {
		t.Helper()
		value, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := d.Decode(nil, value)
		if err != nil || len(evs) != n {
			t.Fatalf("%s: %d interactions, %v; want %d", name, len(evs), err, n)
		}
		if n == 1 && (evs[0].Contact.Phone != phone || evs[0].LeadID != "") {
			t.Errorf("%s: contact phone %q, lead %q; want %q", name, evs[0].Contact.Phone, evs[0].LeadID, phone)
		}
	}
	f("call_ended_outbound.json", "+18001234567", 1) // raw_digits "+1 800-123-4567"
	f("call_ended_outbound_user_null_participants.json", "+12015550123", 1)
	f("call_answered.json", "", 0)
}
