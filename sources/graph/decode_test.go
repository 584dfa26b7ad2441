package graph

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
			{ID: "rep-ada", TeamID: "team-emea", Mailboxes: []string{"adelev@contoso.onmicrosoft.com"}},
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
		if fe.Source != "graph" || fe.Field != field || fe.Value != value || !strings.HasPrefix(fe.Rule, rule) {
			t.Errorf("%s:\n got %q %q %q %q\nwant %q %q %q %q", payload, fe.Source, fe.Field, fe.Value, fe.Rule, "graph", field, value, rule)
		}
	}
	const out = `"from":{"emailAddress":{"address":"adelev@contoso.onmicrosoft.com"}},"toRecipients":[{"emailAddress":{"address":"x@example.com"}}]`
	msg := func(fields string) string { return "{" + fields + "}" }

	f(`{"id":`, "", `{"id":`, "malformed JSON")
	f(`{} []`, "", `{} []`, "malformed JSON")
	f(`{"value":{"a":1}}`, "value", `{"a":1}`, "must be an array of messages or notifications")
	f(msg(`"isDraft":"no"`), "isDraft", `"no"`, "must be a boolean")
	f(msg(`"subject":"x"`), "from.emailAddress.address", "", "required")
	f(msg(`"from":{"emailAddress":{"address":5}}`), "from.emailAddress.address", "5", "must be a string")
	f(msg(`"sender":{"emailAddress":{"name":[]}}`), "sender.emailAddress.name", "[]", "must be a string")
	f(msg(`"from":{"emailAddress":{"address":"a@b.c"}},"toRecipients":[{"emailAddress":{"address":"d@e.f"}},{"emailAddress":{"address":true}}]`), "toRecipients[1].emailAddress.address", "true", "must be a string")
	f(msg(`"from":{"emailAddress":{"address":"a@b.c"}},"toRecipients":[{"emailAddress":{"address":"d@e.f"}}]`), "from.emailAddress.address", "a@b.c", "unknown graph mailbox")
	f(msg(`"from":{"emailAddress":{"address":"a@b.c"}},"bccRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}}]`), "from.emailAddress.address", "a@b.c", "unknown graph mailbox")
	f(msg(out), "sentDateTime", "", "required")
	f(msg(out+`,"sentDateTime":"06/05/2024"`), "sentDateTime", "06/05/2024", vendorkit.RuleISOTime)
	f(msg(out+`,"sentDateTime":"1999-12-31T23:59:59Z"`), "sentDateTime", "1999-12-31T23:59:59Z", vendorkit.RuleISOTime)
	f(msg(`"from":{"emailAddress":{"address":"x@example.com"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}}],"receivedDateTime":7`), "receivedDateTime", "7", "required")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z"`), "internetMessageId", "", "required (or id)")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z","internetMessageId":1`), "internetMessageId", "1", "must be a string")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z","id":"A","subject":{}`), "subject", "{}", "must be a string")
	f(msg(out+`,"sentDateTime":"2024-05-06T10:00:00Z","id":"A","conversationId":2`), "conversationId", "2", "must be a string")
	f(`{"value":[{"isDraft":1}]}`, "value[0].isDraft", "1", "must be a boolean")
}

func TestListKeepsGoodMessages(t *testing.T) {
	d := newTestDecoder(t, nil)
	value, err := os.ReadFile("testdata/delta_page.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode(nil, value)
	if len(evs) != 2 || evs[0].Type != schemas.TypeMessageInbound || evs[1].Type != schemas.TypeMessageOutbound {
		t.Errorf("good messages of the page: %+v", evs)
	}
	var fe *schemas.FieldError
	if !errors.As(err, &fe) || fe.Field != "value[2].from.emailAddress.address" {
		t.Fatalf("first error: %v", err)
	}
	if !strings.Contains(err.Error(), "value[4].receivedDateTime") {
		t.Errorf("error does not name the second bad message: %v", err)
	}
}

// TestCopiesInSeveralMailboxes: the same message fetched from the sender's
// and a recipient's mailbox (different Graph ids) is one interaction.
func TestCopiesInSeveralMailboxes(t *testing.T) {
	d := newTestDecoder(t, nil)
	a, err := d.Decode(nil, []byte(`{"id":"copy-in-ada","internetMessageId":"<m1@x>","sentDateTime":"2024-05-06T10:00:00Z","from":{"emailAddress":{"address":"adelev@contoso.onmicrosoft.com"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}},{"emailAddress":{"address":"c@example.com"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(nil, []byte(`{"id":"copy-in-bob","internetMessageId":"<m1@x>","sentDateTime":"2024-05-06T10:00:00Z","receivedDateTime":"2024-05-06T10:00:02Z","from":{"emailAddress":{"address":"ADELEV@contoso.onmicrosoft.com"}},"toRecipients":[{"emailAddress":{"address":"bob@salespulse-demo.com"}},{"emailAddress":{"address":"c@example.com"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || a[0].EventID != b[0].EventID || !bytes.Equal(render(a, nil), render(b, nil)) {
		t.Errorf("copies decode differently:\n%s\n%s", render(a, nil), render(b, nil))
	}
	if strings.Contains(a[0].EventID, "m1") || len(a[0].EventID) != len("graph:")+32 {
		t.Errorf("event id %q is not an opaque hash", a[0].EventID)
	}
}

func TestDecodeStableAndOwned(t *testing.T) {
	d := newTestDecoder(t, nil)
	value, err := os.ReadFile("testdata/message_inbound.json")
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
	if err != nil || len(b) != 1 || !strings.HasPrefix(b[0].EventID, "graph:") {
		t.Fatalf("redelivery: %+v, %v", b, err)
	}
	if !bytes.Equal(render(b, nil), want) {
		t.Errorf("redelivery into a reused slot decoded differently:\n%s", render(b, nil))
	}
}

func TestSkippedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	d := newTestDecoder(t, reg)
	for _, p := range []string{"change_notifications", "lifecycle_notification", "message_draft", "message_internal", "delta_end_empty"} {
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
# HELP salespulse_graph_notifications_total Graph change and lifecycle notifications seen (references to messages, never interactions).
# TYPE salespulse_graph_notifications_total counter
salespulse_graph_notifications_total 3
# HELP salespulse_graph_skipped_total Graph mail records deliberately decoded to no interaction, by reason.
# TYPE salespulse_graph_skipped_total counter
salespulse_graph_skipped_total{reason="draft"} 1
salespulse_graph_skipped_total{reason="empty_page"} 1
salespulse_graph_skipped_total{reason="internal"} 1
salespulse_graph_skipped_total{reason="removed"} 0
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestConfig(t *testing.T) {
	if got := (Config{}).WithDefaults().Topic; got != "sales.graph" {
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

// BenchmarkDecode measures one inbound message resource (~1.2 KB).
//
//	go test ./sources/graph -run '^$' -bench Decode -benchtime 200ms -count 5 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkDecode(b *testing.B) {
	d := newTestDecoder(b, nil)
	value, err := os.ReadFile("testdata/message_inbound.json")
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
