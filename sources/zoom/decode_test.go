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
	f(ended(ok+`,"participants":[{"email":7},{"email":{}}]`), "payload.object.participants[0].email", "7", "must be a string")
	f(ended(ok+`,"participants":[{"email":"a@b.c"},{"user_name":{}}]`), "payload.object.participants[1].user_name", "{}", "must be a string")
}

// TestDecodeStableAndOwned: interactions own their strings and a redelivery
// decodes the same, also into a reused slot.
func TestDecodeStableAndOwned(t *testing.T) { suite(t).Owned(t, "meeting_ended_participants.json") }

func TestSkippedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	for _, p := range []string{"url_validation", "meeting_started", "participant_joined", "participant_left", "recording_completed"} {
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
salespulse_zoom_skipped_total{reason="participant"} 2
salespulse_zoom_skipped_total{reason="unsupported_event"} 1
salespulse_zoom_skipped_total{reason="url_validation"} 1
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
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

// BenchmarkDecode measures one meeting.ended record (~1 KB with participants).
//
//	go test ./sources/zoom -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	value, err := os.ReadFile("testdata/meeting_ended_participants.json")
	if err != nil {
		b.Fatal(err)
	}
	suite(b).Bench(b, value, 1)
}
