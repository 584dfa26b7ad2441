package twilio

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

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
			{ID: "rep-ada", TeamID: "team-emea", PhoneNumbers: []string{"+13051416799", "client:alice"}},
			{ID: "rep-bob", TeamID: "team-emea", PhoneNumbers: []string{"+14155550100", "+14155550199"}},
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
	return kittest.Suite{Decode: d.Decode, Source: source, IDPrefix: "twilio:", Exts: []string{".json", ".form"}, Format: kittest.Render, RulePrefix: true}
}

func TestDecodeGolden(t *testing.T) { suite(t).Golden(t) }

func TestDecodeRejects(t *testing.T) {
	s := suite(t)
	f := func(payload, field, value, rule string) {
		t.Helper()
		s.Reject(t, payload, payload, field, value, rule)
	}
	const ok = `"sid":"CA1","direction":"outbound-api","from":"+13051416799","to":"+12125550123","status":"completed"`
	const start = `"start_time":"Fri, 03 Sep 2010 17:00:00 +0000"`
	js := func(fields string) string { return "{" + fields + "}" }
	const form = "CallSid=CA1&Direction=outbound-api&From=%2B13051416799&To=%2B12125550123&CallStatus=completed&"

	f(" \n", "", "", "empty record")
	f(`{"sid":`, "", `{"sid":`, "malformed JSON")
	f(`{"sid":"CA1"} x`, "", `{"sid":"CA1"} x`, "malformed JSON")
	f(js(`"direction":"inbound"`), "sid", "", "required")
	f(js(`"sid":7`), "sid", "7", "must be a string")
	f(js(`"sid":"`+strings.Repeat("C", 250)+`"`), "sid", strings.Repeat("C", 128)+"…", "longer than 249 bytes")
	f(js(`"sid":"CA1"`), "direction", "", "required")
	f(js(`"sid":"CA1","direction":"trunking-terminating"`), "direction", "trunking-terminating", "must be inbound, outbound-api or outbound-dial")
	f(js(`"sid":"CA1","direction":"inbound"`), "status", "", "required")
	f(js(`"sid":"CA1","direction":"inbound","status":"done"`), "status", "done", "unknown call status")
	f(js(ok), "start_time", "", "required (or date_created)")
	f(js(ok+`,"start_time":"2010-09-03T17:00:00Z"`), "start_time", "2010-09-03T17:00:00Z", ruleDate)
	f(js(ok+`,"date_created":"Fri, 03 Sep 1999 17:00:00 +0000"`), "date_created", "Fri, 03 Sep 1999 17:00:00 +0000", ruleDate)
	f(js(ok+`,"date_created":5`), "date_created", "5", "must be a string")
	f(js(ok+","+start+`,"end_time":"Fri, 03 Sep 2010 16:00:00 +0000"`), "end_time", "Fri, 03 Sep 2010 16:00:00 +0000", ruleDate+", not before start_time")
	f(js(ok+","+start+`,"end_time":"Fri, 10 Sep 2010 17:00:01 +0000"`), "end_time", "Fri, 10 Sep 2010 17:00:01 +0000", "call longer than one week")
	f(js(ok+","+start+`,"duration":"-3"`), "duration", "-3", "must be whole seconds between 0 and 604800")
	f(js(ok+","+start+`,"duration":"604801"`), "duration", "604801", "must be whole seconds between 0 and 604800")
	f(js(ok+","+start+`,"duration":{}`), "duration", "{}", "must be a string")
	f(js(`"sid":"CA1","direction":"outbound-api","to":"+12125550123","status":"completed",`+start), "from", "", "required for an outbound call")
	f(js(`"sid":"CA1","direction":"outbound-api","from":"+1 999 555 0000","to":"+12125550123","status":"busy",`+start), "from", "+19995550000", "unknown twilio number: add it to the org file")
	f(js(ok+","+start+`,"answered_by":false`), "answered_by", "false", "must be a string")
	f(`{"calls":[{"sid":"CA1","direction":"inbound","status":"completed","start_time":"nope"}]}`, "calls[0].start_time", "nope", ruleDate)

	f("CallStatus=completed", "CallSid", "", "required")
	f(form, "Timestamp", "", "required")
	f(form+"Timestamp=yesterday", "Timestamp", "yesterday", ruleDate)
	f(form+"Timestamp=Fri%2C+03+Sep+2010+17%3A00%3A00+%2B0000&CallDuration=%ZZ", "CallDuration", "%ZZ", "malformed form encoding")
	f(form+"Timestamp=Fri%2C+03+Sep+2010+17%3A00%3A00+%2B0000&CallDuration=1.5", "CallDuration", "1.5", "must be whole seconds")
	f("CallSid=CA1&Direction=outbound-api&From=%2B1555&To=%2B12125550123&CallStatus=completed&Timestamp=Fri%2C+03+Sep+2010+17%3A00%3A00+%2B0000", "From", "+1555", "unknown twilio number")
	f("CallSid=CA1&ParentCallSid="+strings.Repeat("C", 250)+"&Direction=outbound-dial&From=%2B13051416799&To=%2B12125550123&CallStatus=completed&Timestamp=Fri%2C+03+Sep+2010+17%3A00%3A00+%2B0000", "ParentCallSid", strings.Repeat("C", 128)+"…", "longer than 249 bytes")
}

func TestPageKeepsGoodCalls(t *testing.T) {
	d := newTestDecoder(t, nil)
	value, err := os.ReadFile("testdata/calls_page.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode(nil, value)
	if len(evs) != 2 || evs[0].EventID != "twilio:CA00000000000000000000000000000020" || evs[1].EventID != "twilio:CA00000000000000000000000000000024" {
		t.Errorf("good calls of the page: %+v", evs)
	}
	var fe *schemas.FieldError
	if !errors.As(err, &fe) || fe.Field != "calls[1].direction" {
		t.Fatalf("first error: %v", err)
	}
	if !strings.Contains(err.Error(), "calls[3].from") {
		t.Errorf("error does not name the second bad call: %v", err)
	}
}

func FuzzParseRFC2822(f *testing.F) {
	for _, s := range []string{"Tue, 31 Aug 2010 20:36:28 +0000", "Fri, 18 Oct 2019 17:00:00 -0430", "Sun, 29 Feb 2004 23:59:59 +2359",
		"Mon, 29 Feb 2100 00:00:00 +0000", "Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 02 Jan 2006 15:04:05 GMT", "mon, 02 jan 2006 15:04:05 +0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC2822([]byte(s))
		var want time.Time
		var err error
		for _, layout := range []string{time.RFC1123Z, time.RFC1123, "Mon, 2 Jan 2006 15:04:05 -0700"} {
			if want, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		if ok != (err == nil) || ok && !got.Equal(want) {
			t.Fatalf("parseRFC2822(%q) = %v, %v; time.Parse: %v, %v", s, got, ok, want, err)
		}
		if fast, ok := fast2822([]byte(s)); ok && !fast.Equal(want) {
			t.Fatalf("fast2822(%q) = %v; time.Parse: %v, %v", s, fast, want, err)
		}
	})
}

// TestDecodeStableAndOwned: interactions own their strings and a redelivery
// decodes the same, also into a reused slot.
func TestDecodeStableAndOwned(t *testing.T) {
	suite(t).Owned(t, "call_resource_fetch_outbound_completed.json")
}

func TestSkippedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	for _, p := range []string{"callback_ringing.form", "callback_outbound_failed.form", "call_internal_forward.json"} {
		value, err := os.ReadFile("testdata/" + p)
		if err != nil {
			t.Fatal(err)
		}
		if evs, err := d.Decode(nil, value); len(evs) != 0 || err != nil {
			t.Errorf("%s: want skipped, got %d events, %v", p, len(evs), err)
		}
	}
	// A second decoder on the same registry shares the counters.
	if _, err := NewDecoder(testIndex(), reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP salespulse_twilio_skipped_total Twilio call records deliberately decoded to no interaction, by reason.
# TYPE salespulse_twilio_skipped_total counter
salespulse_twilio_skipped_total{reason="failed_outbound"} 1
salespulse_twilio_skipped_total{reason="internal"} 1
salespulse_twilio_skipped_total{reason="not_final"} 1
salespulse_twilio_skipped_total{reason="rep_leg"} 0
salespulse_twilio_skipped_total{reason="shared_number"} 0
salespulse_twilio_skipped_total{reason="unanswered_dial_leg"} 0
salespulse_twilio_skipped_total{reason="unattributed_dial_leg"} 0
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestDialLegs: the legs Twilio reports for one conversation through <Dial>
// make exactly one call, credited to the rep who took part, with the
// customer's number as the contact; the other legs are skipped, counted by
// reason, and never dead-lettered. The payloads are hand-made after
// Twilio's docs:
//   - status callback parameters, ParentCallSid included (the child leg's
//     parent), CallStatus, Direction (inbound, outbound-api,
//     outbound-dial): https://www.twilio.com/docs/voice/api/call-resource#statuscallback
//     and https://www.twilio.com/docs/voice/twiml#request-parameters
//   - <Dial> creates the child leg; From keeps the caller's number unless
//     callerId says otherwise: https://www.twilio.com/docs/voice/twiml/dial#callerid
//   - several <Number>/<Client> nouns ring at once, the first to answer is
//     connected and the others canceled: https://www.twilio.com/docs/voice/twiml/number
//     and https://www.twilio.com/docs/voice/twiml/client
//   - the call resource's parent_call_sid: https://www.twilio.com/docs/voice/api/call-resource#call-properties
func TestDialLegs(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	f := func(payload, rep, typ, eventID string) {
		t.Helper()
		value, err := os.ReadFile("testdata/" + payload)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := d.Decode(nil, value)
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if rep == "" {
			if len(evs) != 0 {
				t.Errorf("%s: want skipped, got %+v", payload, evs)
			}
			return
		}
		if len(evs) != 1 {
			t.Fatalf("%s: want one call, got %+v", payload, evs)
		}
		ev := &evs[0]
		if ev.RepID != rep || ev.Type.String() != typ || ev.EventID != eventID || ev.Contact.Phone != "+12015550123" {
			t.Errorf("%s: got %s %s %s contact %q; want %s %s %s contact +12015550123", payload, ev.EventID, ev.Type, ev.RepID, ev.Contact.Phone, eventID, typ, rep)
		}
	}
	// An inbound call to a shared number, rung to two agents at once.
	f("callback_dial_parent_shared_number.form", "", "", "")                                                       // nobody to credit: the agent is on the child
	f("callback_dial_child_answered.form", "rep-ada", "call.inbound", "twilio:CA7d3f0c2b9a8e4f1d6c5b4a3928171605") // the agent who answered
	f("callback_dial_child_canceled.form", "", "", "")                                                             // rang, another agent answered
	// The same, answered in the browser (To is the Voice SDK client identity the org lists).
	f("dial_child_answered_by_client.json", "rep-ada", "call.inbound", "twilio:CA8e4f1d6c5b4a39281716057d3f0c2b9a")
	// Outbound through the Voice SDK: the rep's own leg, then <Dial> from the rep's callerId.
	f("callback_sdk_parent_rep_leg.form", "", "", "")
	f("callback_sdk_child_outbound.form", "rep-ada", "call.outbound", "twilio:CA1b2c3d4e5f60718293a4b5c6d7e8f901")
	f("callback_dial_child_outbound_no_answer.form", "rep-bob", "call.outbound", "twilio:CA4e5f60718293a4b5c6d7e8f90a1b2c34") // an attempt
	// Click-to-call: the REST API rings the rep's phone from a shared number,
	// then dials the customer with the shared callerId: no leg names the rep
	// at the customer's end.
	f("callback_click_to_call_parent_rep_leg.form", "", "", "")
	f("callback_click_to_call_child_shared_caller_id.form", "", "", "")
	// An inbound call to the rep's own number is the call itself.
	value := []byte("CallSid=CA9&CallStatus=completed&Direction=inbound&From=%2B12015550123&To=%2B14155550100&CallDuration=10&Timestamp=Fri%2C+03+Sep+2010+17%3A00%3A00+%2B0000")
	if evs, err := d.Decode(nil, value); err != nil || len(evs) != 1 || evs[0].RepID != "rep-bob" || evs[0].Contact.Phone != "+12015550123" {
		t.Errorf("inbound call to a rep's number: %+v, %v", evs, err)
	}
	want := `
# HELP salespulse_twilio_skipped_total Twilio call records deliberately decoded to no interaction, by reason.
# TYPE salespulse_twilio_skipped_total counter
salespulse_twilio_skipped_total{reason="failed_outbound"} 0
salespulse_twilio_skipped_total{reason="internal"} 0
salespulse_twilio_skipped_total{reason="not_final"} 0
salespulse_twilio_skipped_total{reason="rep_leg"} 2
salespulse_twilio_skipped_total{reason="shared_number"} 1
salespulse_twilio_skipped_total{reason="unanswered_dial_leg"} 1
salespulse_twilio_skipped_total{reason="unattributed_dial_leg"} 1
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestNewDecoder: the decoder needs the org index to find reps. (Its
// topic is routing, the app's: sources.twilio.topic, internal/app tests.)
func TestNewDecoder(t *testing.T) {
	if _, err := NewDecoder(nil, nil); err == nil {
		t.Error("NewDecoder with a nil index succeeded")
	}
}

func FuzzDecode(f *testing.F) { suite(f).Fuzz(f) }

// BenchmarkDecode measures the call resource fixture (~2.5 KB) and a form-encoded status callback.
//
//	go test ./sources/twilio -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"call_resource_fetch_outbound_completed.json", "callback_inbound_completed.form"} {
		b.Run(name, func(b *testing.B) {
			value, err := os.ReadFile("testdata/" + name)
			if err != nil {
				b.Fatal(err)
			}
			suite(b).Bench(b, value, 1)
		})
	}
}
