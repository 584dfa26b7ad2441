package zoom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the decoder's output")

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
	d, err := NewDecoder(Config{}, testIndex(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// payloads lists the input files of testdata (fixtures and hand-made variants).
func payloads(tb testing.TB) []string {
	tb.Helper()
	all, err := filepath.Glob("testdata/*.json")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasSuffix(p, ".golden.json") {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no testdata payloads")
	}
	return out
}

// render is the golden form of a Decode result: the canonical JSON of each
// event (schemas.AppendJSON, the bytes producers emit) and the error text.
func render(evs []schemas.Interaction, err error) []byte {
	b := []byte(`{"events":[`)
	for k := range evs {
		if k > 0 {
			b = append(b, ',')
		}
		b = schemas.AppendJSON(b, &evs[k])
	}
	b = append(b, ']')
	if err != nil {
		e, _ := json.Marshal(err.Error())
		b = append(append(b, `,"error":`...), e...)
	}
	b = append(b, '}')
	var out bytes.Buffer
	if ierr := json.Indent(&out, b, "", "  "); ierr != nil {
		return b // surfaces as a golden mismatch
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestDecodeGolden(t *testing.T) {
	d := newTestDecoder(t, nil)
	for _, p := range payloads(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			value, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			evs, derr := d.Decode(nil, value)
			for k := range evs {
				if err := evs[k].Validate(); err != nil {
					t.Errorf("event %d does not validate: %v", k, err)
				}
			}
			got := render(evs, derr)
			gp := strings.TrimSuffix(p, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(gp, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s:\n%s", p, gp, got)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	d := newTestDecoder(t, nil)
	const ok = `"uuid":"u1","host_id":"ZOOMHOST2","start_time":"2024-03-01T08:00:00Z"`
	f := func(payload, field, value, rule string) {
		t.Helper()
		dst := make([]schemas.Interaction, 1, 4)
		out, err := d.Decode(dst, []byte(payload))
		if len(out) != 1 {
			t.Errorf("%s: dst changed to %d events", payload, len(out))
		}
		var fe *schemas.FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: error %v is not a *schemas.FieldError", payload, err)
		}
		if !errors.Is(err, schemas.ErrInvalid) {
			t.Errorf("%s: error does not wrap schemas.ErrInvalid", payload)
		}
		if fe.Source != "zoom" || fe.Field != field || fe.Value != value || !strings.HasPrefix(fe.Rule, rule) {
			t.Errorf("%s:\n got %q %q %q %q\nwant %q %q %q %q", payload, fe.Source, fe.Field, fe.Value, fe.Rule, "zoom", field, value, rule)
		}
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

func TestDecodeStableAndOwned(t *testing.T) {
	d := newTestDecoder(t, nil)
	value, err := os.ReadFile("testdata/meeting_ended_participants.json")
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(value)
	a, err := d.Decode(nil, buf)
	if err != nil || len(a) != 1 {
		t.Fatalf("decode: %d events, %v", len(a), err)
	}
	want := render(a, nil)
	for k := range buf { // the record buffer is reused by the Kafka client
		buf[k] = 'x'
	}
	if got := render(a, nil); !bytes.Equal(got, want) {
		t.Errorf("interaction changed when the record buffer was overwritten:\n%s", got)
	}
	// A redelivery decodes to the same event id, also into a reused slot.
	b, err := d.Decode(a[:0], value)
	if err != nil || len(b) != 1 || b[0].EventID != "zoom:4444AAAiAAAAAiAiAiiAii==" {
		t.Fatalf("redelivery: %+v, %v", b, err)
	}
	if !bytes.Equal(render(b, nil), want) {
		t.Errorf("redelivery into a reused slot decoded differently:\n%s", render(b, nil))
	}
}

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
	if _, err := NewDecoder(Config{}, testIndex(), reg); err != nil {
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

func TestConfig(t *testing.T) {
	if got := (Config{}).WithDefaults().Topic; got != "sales.zoom" {
		t.Errorf("default topic %q", got)
	}
	for _, bad := range []string{"with space", strings.Repeat("t", 250), "..", "ü"} {
		if err := (Config{Topic: bad}).Validate(); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("topic %q: %v", bad, err)
		}
	}
	if _, err := NewDecoder(Config{Topic: "bad topic"}, testIndex(), nil); !errors.Is(err, ErrInvalidTopic) {
		t.Errorf("NewDecoder with a bad topic: %v", err)
	}
	if _, err := NewDecoder(Config{}, nil, nil); err == nil {
		t.Error("NewDecoder with a nil index succeeded")
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range payloads(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	d := newTestDecoder(f, nil)
	f.Fuzz(func(t *testing.T, value []byte) {
		evs, err := d.Decode(nil, value)
		for k := range evs {
			if verr := evs[k].Validate(); verr != nil {
				t.Fatalf("event %d does not validate: %v", k, verr)
			}
		}
		if err != nil {
			var fe *schemas.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *schemas.FieldError", err)
			}
		}
	})
}

// BenchmarkDecode measures one meeting.ended record (~1 KB with participants).
//
//	go test ./sources/zoom -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	d := newTestDecoder(b, nil)
	value, err := os.ReadFile("testdata/meeting_ended_participants.json")
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]schemas.Interaction, 0, 1)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		dst, err = d.Decode(dst[:0], value)
		if err != nil || len(dst) != 1 {
			b.Fatal(len(dst), err)
		}
	}
}
