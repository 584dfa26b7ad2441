package aircall

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
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the decoder's output")

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
		if fe.Source != "aircall" || fe.Field != field || fe.Value != value || !strings.HasPrefix(fe.Rule, rule) {
			t.Errorf("%s:\n got %q %q %q %q\nwant %q %q %q %q", payload, fe.Source, fe.Field, fe.Value, fe.Rule, "aircall", field, value, rule)
		}
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

func TestDecodeStableAndOwned(t *testing.T) {
	d := newTestDecoder(t, nil)
	value, err := os.ReadFile("testdata/call_ended_outbound.json")
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
	if err != nil || len(b) != 1 || b[0].EventID != "aircall:812345678" {
		t.Fatalf("redelivery: %+v, %v", b, err)
	}
	if !bytes.Equal(render(b, nil), want) {
		t.Errorf("redelivery into a reused slot decoded differently:\n%s", render(b, nil))
	}
}

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
	if _, err := NewDecoder(Config{}, testIndex(), reg); err != nil {
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

func TestConfig(t *testing.T) {
	if got := (Config{}).WithDefaults().Topic; got != "sales.aircall" {
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

// BenchmarkDecode measures one call.ended record (~1.2 KB, the documented shape).
//
//	go test ./sources/aircall -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	d := newTestDecoder(b, nil)
	value, err := os.ReadFile("testdata/call_ended_outbound.json")
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
