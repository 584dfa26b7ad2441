package zoom

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
)

// testIndex is a small org with the identities the fixtures use.
func testIndex() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "team-emea", Name: "EMEA", ManagerID: "rep-mia"}},
		Reps: []schemas.Rep{
			{ID: "rep-ada", TeamID: "team-emea", ZoomUserIDs: []string{"uLoRgfbbTayCX6r2Q_qQsQ"}, Mailboxes: []string{"host@salespulse-demo.com"}},
			{ID: "rep-bob", TeamID: "team-emea", ZoomUserIDs: []string{"ZOOMHOST2", "zz-colleague-1"}, Mailboxes: []string{"other.rep@salespulse-demo.com"}},
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
	return kittest.Suite{Decode: d.Decode, Source: source, IDPrefix: "zoom:", Format: kittest.Render, RulePrefix: true}
}

func TestDecodeGolden(t *testing.T) { suite(t).Golden(t) }

func TestDecodeRejects(t *testing.T) {
	s := suite(t)
	const ok = `"uuid":"u1","host_id":"ZOOMHOST2","start_time":"2024-03-01T08:00:00Z"`
	f := func(payload, field, value, rule string) {
		t.Helper()
		s.Reject(t, payload, payload, field, value, rule)
	}
	ended := func(obj string) string { return `{"event":"meeting.ended","payload":{"object":{` + obj + `}}}` }

	f(`not json`, "", "not json", "malformed JSON")
	f(`{"event":"meeting.ended"} trailing`, "", `{"event":"meeting.ended"} trailing`, "malformed JSON")
	f(`{"payload":{}}`, "event", "", "required")
	f(`{"event":42}`, "event", "42", "must be a string")
	f(`{"event":{"a":1}}`, "event", `{"a":1}`, "must be a string")
	f(ended(`"host_id":"ZOOMHOST2","start_time":"2024-03-01T08:00:00Z"`), "payload.object.uuid", "", "required")
	f(ended(`"uuid":["x"],"host_id":"ZOOMHOST2"`), "payload.object.uuid", `["x"]`, "must be a string")
	f(ended(`"uuid":"`+strings.Repeat("u", 252)+`","host_id":"ZOOMHOST2"`), "payload.object.uuid", strings.Repeat("u", 128)+"…", "longer than 251 bytes")
	f(ended(`"uuid":"u1","start_time":"2024-03-01T08:00:00Z"`), "payload.object.host_id", "", "required")
	f(ended(`"uuid":"u1","host_id":"nobody","start_time":"2024-03-01T08:00:00Z"`), "payload.object.host_id", "nobody", "unknown zoom user: add it to the org file")
	f(ended(`"uuid":"u1","host_id":{}`), "payload.object.host_id", "{}", "must be a string")
	f(ended(`"uuid":"u1","host_id":"ZOOMHOST2"`), "payload.object.start_time", "", "required")
	f(ended(`"uuid":"u1","host_id":"ZOOMHOST2","start_time":"yesterday"`), "payload.object.start_time", "yesterday", vendorkit.RuleISOTime)
	f(ended(`"uuid":"u1","host_id":"ZOOMHOST2","start_time":"1970-01-01T00:00:00Z"`), "payload.object.start_time", "1970-01-01T00:00:00Z", vendorkit.RuleISOTime)
	f(ended(`"uuid":"u1","host_id":"ZOOMHOST2","start_time":1719000000`), "payload.object.start_time", "1719000000", vendorkit.RuleISOTime)
	f(ended(ok+`,"end_time":"2024-03-01T07:00:00Z"`), "payload.object.end_time", "2024-03-01T07:00:00Z", "must not be before start_time")
	f(ended(ok+`,"end_time":"2024-03-09T08:00:01Z"`), "payload.object.end_time", "2024-03-09T08:00:01Z", "meeting longer than one week")
	f(ended(ok+`,"end_time":"soon"`), "payload.object.end_time", "soon", vendorkit.RuleISOTime)
	f(ended(ok+`,"duration":"ten"`), "payload.object.duration", `"ten"`, "must be a number of minutes")
	f(ended(ok+`,"duration":-5`), "payload.object.duration", `-5`, "must be a number of minutes")
	f(ended(ok+`,"id":{"x":1}`), "payload.object.id", `{"x":1}`, "must be a string or number")
	f(ended(ok+`,"topic":[1]`), "payload.object.topic", `[1]`, "must be a string")

	joined := func(p string) string {
		return `{"event":"meeting.participant_joined","payload":{"object":{"uuid":"u1","id":1,"host_id":"ZOOMHOST2","participant":{` + p + `}}}}`
	}
	f(joined(`"email":7`), "payload.object.participant.email", "7", "must be a string")
	f(joined(`"email":"a@b.c","user_name":{}`), "payload.object.participant.user_name", "{}", "must be a string")
	f(joined(`"email":"a@b.c"`), "payload.object.participant.join_time", "", "required")
	f(joined(`"email":"a@b.c","join_time":"now"`), "payload.object.participant.join_time", "now", vendorkit.RuleISOTime)
	f(joined(`"email":"a@b.c","join_time":"2024-03-01T08:00:00Z","participant_uuid":"`+strings.Repeat("p", 240)+`"`), "payload.object.participant.participant_uuid", strings.Repeat("p", 128)+"…", "event id (uuid, participant, join_time) longer than 256 bytes")
	f(`{"event":"meeting.participant_joined","payload":{"object":{"uuid":"u1","host_id":"nobody","participant":{"email":"a@b.c"}}}}`, "payload.object.host_id", "nobody", "unknown zoom user")
}

// TestDecodeStableAndOwned: interactions own their strings and a redelivery
// decodes the same, also into a reused slot.
func TestDecodeStableAndOwned(t *testing.T) { suite(t).Owned(t, "participant_joined_guest.json") }

func TestSkippedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	for _, p := range []string{"url_validation", "meeting_started", "participant_joined_host", "participant_joined_colleague", "participant_joined_dial_in", "participant_left", "recording_completed"} {
		value, err := os.ReadFile("testdata/" + p + ".json")
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
# HELP salespulse_zoom_skipped_total Zoom webhooks deliberately decoded to no interaction, by reason.
# TYPE salespulse_zoom_skipped_total counter
salespulse_zoom_skipped_total{reason="meeting_started"} 1
salespulse_zoom_skipped_total{reason="participant_host"} 1
salespulse_zoom_skipped_total{reason="participant_left"} 1
salespulse_zoom_skipped_total{reason="participant_no_email"} 1
salespulse_zoom_skipped_total{reason="participant_rep"} 1
salespulse_zoom_skipped_total{reason="unsupported_event"} 1
salespulse_zoom_skipped_total{reason="url_validation"} 1
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestParticipantJoined: a guest's meeting.participant_joined is a
// meeting.joined of the host's rep with the guest's e-mail as the contact;
// the host, a colleague and a participant without e-mail are no contact.
// meeting.ended names nobody. Hand-made after Zoom's webhook reference:
// meeting.participant_joined
// (https://developers.zoom.us/docs/api/meetings/events/#tag/meeting/POST/meeting.participant_joined:
// payload.object.uuid, host_id, participant.user_id, id, participant_uuid,
// participant_user_id, email, join_time) and meeting.ended, which has no
// participant list
// (https://developers.zoom.us/docs/api/meetings/events/#tag/meeting/POST/meeting.ended).
func TestParticipantJoined(t *testing.T) {
	d := newTestDecoder(t, nil)
	decode := func(name string) []schemas.Interaction {
		t.Helper()
		value, err := os.ReadFile("testdata/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		evs, err := d.Decode(nil, value)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return evs
	}
	f := func(name, eventID, email string) {
		t.Helper()
		evs := decode(name)
		if len(evs) != 1 {
			t.Fatalf("%s: got %d interactions, want one meeting.joined", name, len(evs))
		}
		ev := &evs[0]
		if ev.Type != schemas.TypeMeetingJoined || ev.RepID != "rep-ada" || ev.EventID != eventID || ev.Contact.Email != email || ev.LeadID != "" {
			t.Errorf("%s: got %s %s of %s, contact %q; want meeting.joined %s of rep-ada, contact %q", name, ev.Type, ev.EventID, ev.RepID, ev.Contact.Email, eventID, email)
		}
	}
	// The e-mail as Zoom sends it; the privacy stage lower-cases it.
	f("participant_joined_guest", "zoom:dG8nBq0pQPi8Hq5yX3bLfw==:8b9f4e2a-6c1d-4f7e-9a3b-2d5c8e1f0a7b:2024-11-26T15:02:41Z", "Dana.Reyes@Example.COM")
	f("participant_joined_guest_no_uuid", "zoom:dG8nBq0pQPi8Hq5yX3bLfw==:16778241:2024-11-26T15:02:41Z", "dana.reyes@example.com")
	f("participant_joined", "zoom:4444AAAiAAAAAiAiAiiAii==:55555AAAiAAAAAiAiAiiAii:2021-07-13T21:45:51Z", "jchill@example.com")
	for _, skipped := range []string{"participant_joined_host", "participant_joined_colleague", "participant_joined_dial_in"} {
		if evs := decode(skipped); len(evs) != 0 {
			t.Errorf("%s: want skipped, got %+v", skipped, evs)
		}
	}
	if evs := decode("meeting_ended"); len(evs) != 1 || evs[0].Type != schemas.TypeMeetingHeld || evs[0].Contact != (schemas.Contact{}) {
		t.Errorf("meeting.ended: %+v, want one meeting.held without contact", evs)
	}
	// A webhook retry keeps the id.
	if a, b := decode("participant_joined_guest"), decode("participant_joined_guest"); a[0].EventID != b[0].EventID {
		t.Errorf("retry changed the id: %s, %s", a[0].EventID, b[0].EventID)
	}
}

// TestNewDecoder: the decoder needs the org index to find reps. (Its
// topic is routing, the app's: sources.zoom.topic, internal/app tests.)
func TestNewDecoder(t *testing.T) {
	if _, err := NewDecoder(nil, nil); err == nil {
		t.Error("NewDecoder with a nil index succeeded")
	}
}

func FuzzDecode(f *testing.F) { suite(f).Fuzz(f) }

// BenchmarkDecode measures one meeting.ended record.
//
//	go test ./sources/zoom -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	value, err := os.ReadFile("testdata/meeting_ended.json")
	if err != nil {
		b.Fatal(err)
	}
	suite(b).Bench(b, value, 1)
}
