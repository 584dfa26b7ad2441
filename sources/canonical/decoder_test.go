package canonical

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// readLines returns the non-empty lines of a testdata file.
func readLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, bytes.Clone(l))
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestDecodeFullEvent(t *testing.T) {
	in := `{"event_id":"e-1","occurred_at":"2024-05-01T11:30:00.250+02:00","source":"crm","type":"quote.created",
	"channel":"crm","rep_id":"r1","team_id":"t1","account_id":"a1","lead_id":"l1","duration_s":0,"amount":900.5,
	"currency":"eur","list_price":1000,"discount_pct":9.95,"approval_id":"ap1","approved":false,"approver_id":"m1",
	"stage":"Proposal","contact":{"email":"A@x.io","phone":"+1 555","name":"Ann"},"attributes":{"k":"v","e":"\u00e9\n"}}`
	got, err := NewDecoder(nil).Decode(nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []schemas.Interaction{{
		EventID: "e-1", OccurredAt: time.Date(2024, 5, 1, 9, 30, 0, 250e6, time.UTC), Source: "crm",
		Type: schemas.TypeQuoteCreated, Channel: schemas.ChannelCRM, RepID: "r1", TeamID: "t1", AccountID: "a1",
		LeadID: "l1", ApprovalID: "ap1", ApproverID: "m1", Stage: "Proposal", Currency: "EUR",
		Has:       schemas.HasDuration | schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount | schemas.HasApproved,
		DurationS: 0, Amount: 900.5, ListPrice: 1000, DiscountPct: 9.95, Approved: false,
		Contact:    schemas.Contact{Email: "A@x.io", Phone: "+1 555", Name: "Ann"},
		Attributes: map[string]string{"k": "v", "e": "é\n"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestDecodeCustomer: "customer": true marks an existing customer's
// contact (docs/canonical-schema.md), in both decoders; anything but a
// boolean or null is rejected.
func TestDecodeCustomer(t *testing.T) {
	const head = `{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.updated","lead_id":"c1","contact":{"phone":"+1 201 555 0123"}`
	for in, want := range map[string]bool{head + `,"customer":true}`: true, head + `,"customer":false}`: false, head + `,"customer":null}`: false, head + `}`: false} {
		got, err := NewDecoder(nil).Decode(nil, []byte(in))
		if err != nil || len(got) != 1 || got[0].Customer != want {
			t.Errorf("%s: %+v, %v; want Customer %v", in, got, err, want)
		}
		s := NewDecoder(prometheus.NewRegistry()).pool.Get().(*state)
		if fast, ok := s.fast(nil, []byte(in)); !ok || len(fast) != 1 || fast[0].Customer != want {
			t.Errorf("%s: fast path %+v, %v; want Customer %v", in, fast, ok, want)
		}
	}
	_, err := NewDecoder(nil).Decode(nil, []byte(head+`,"customer":"yes"}`))
	if err == nil || !strings.Contains(err.Error(), "must be a JSON boolean") {
		t.Fatalf("a string customer: %v", err)
	}
	// The JSON form round-trips it.
	it := schemas.Interaction{EventID: "e", OccurredAt: time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC), Source: "s",
		Type: schemas.TypeLeadUpdated, LeadID: "c1", Customer: true, Contact: schemas.Contact{Phone: "1"}}
	it.Normalize()
	got, err := NewDecoder(nil).Decode(nil, schemas.AppendJSON(nil, &it))
	if err != nil || len(got) != 1 || !got[0].Customer {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

func TestDecodeDefaultsAndNulls(t *testing.T) {
	in := `{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"call.inbound","channel":null,
	"rep_id":null,"amount":null,"approved":null,"contact":null,"attributes":{"a":null}}`
	got, err := NewDecoder(nil).Decode(nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	it := got[0]
	if it.Channel != schemas.ChannelPhone || it.Has != 0 || it.RepID != "" || !it.Contact.IsZero() || len(it.Attributes) != 0 {
		t.Errorf("nulls not treated as absent or channel not derived: %+v", it)
	}
}

// TestDecodeAcknowledgement: the record the ack endpoint writes
// (docs/alerts.md, "Acknowledgement") decodes into the lead, the alert id
// and the acknowledger, on the crm channel.
func TestDecodeAcknowledgement(t *testing.T) {
	in := `{"event_id":"ack-1","occurred_at":"2026-12-04T09:31:00Z","source":"salespulse","type":"alert.acknowledged",` +
		`"lead_id":"lead-7","approval_id":"3f2a","approver_id":"slack:U123"}`
	got, err := NewDecoder(nil).Decode(nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	it := got[0]
	if it.Type != schemas.TypeAlertAcknowledged || it.Channel != schemas.ChannelCRM || it.LeadID != "lead-7" ||
		it.ApprovalID != "3f2a" || it.ApproverID != "slack:U123" {
		t.Errorf("got %+v", it)
	}
}

// TestDecodeForecast: a rep's commit forecast for a quarter
// (docs/canonical-schema.md, "Forecasts") keeps its period, category
// (stage), amount and currency.
func TestDecodeForecast(t *testing.T) {
	in := `{"event_id":"fc-1","occurred_at":"2026-03-20T17:00:00+01:00","source":"crm","type":"forecast.submitted",` +
		`"rep_id":"rep-01-03","period":"2026-Q2","stage":"commit","amount":182000,"currency":"eur"}`
	got, err := NewDecoder(nil).Decode(nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := schemas.Interaction{EventID: "fc-1", OccurredAt: time.Date(2026, 3, 20, 16, 0, 0, 0, time.UTC), Source: "crm",
		Type: schemas.TypeForecastSubmitted, Channel: schemas.ChannelCRM, RepID: "rep-01-03", Stage: schemas.ForecastCommit,
		Period: "2026-Q2", Currency: "EUR", Has: schemas.HasAmount, Amount: 182000}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("got  %+v\nwant %+v", got[0], want)
	}
	team := `{"event_id":"fc-2","occurred_at":"2026-03-20T17:00:00Z","source":"crm","type":"forecast.submitted",` +
		`"team_id":"team-01","period":"2026-04","stage":"best_case","amount":0}`
	if got, err := NewDecoder(nil).Decode(nil, []byte(team)); err != nil || got[0].TeamID != "team-01" || got[0].Period != "2026-04" {
		t.Errorf("a team's monthly forecast: %+v, %v", got, err)
	}
}

// TestDecodeRejects lists every reason an event is rejected, with the exact
// field, value and rule a producer will see in the dead-letter header.
func TestDecodeRejects(t *testing.T) {
	const ok = `"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s"`
	for name, tc := range map[string]struct {
		in                 string
		field, value, rule string
	}{
		"an event without event_id is rejected": {
			`{"occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"}`, "event_id", "", "required"},
		"an empty event_id is rejected like a missing one": {
			`{"event_id":"","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"}`, "event_id", "", "required"},
		"an event_id longer than 256 bytes is rejected": {
			`{"event_id":"` + strings.Repeat("x", 257) + `","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"}`,
			"event_id", strings.Repeat("x", 128) + "…", "longer than 256 bytes"},
		"an event without occurred_at is rejected": {
			`{"event_id":"e","source":"s","type":"lead.created"}`, "occurred_at", "", "required"},
		"an occurred_at without offset is rejected": {
			`{` + `"event_id":"e","occurred_at":"2024-05-01T09:30:00","source":"s","type":"lead.created"}`,
			"occurred_at", "2024-05-01T09:30:00", "must carry a UTC offset (Z or ±hh:mm)"},
		"an occurred_at that is not RFC 3339 is rejected": {
			`{"event_id":"e","occurred_at":"01/05/2024 09:30","source":"s","type":"lead.created"}`,
			"occurred_at", "01/05/2024 09:30", "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z or 2024-05-01T11:30:00.250+02:00"},
		"an occurred_at as epoch number is rejected": {
			`{"event_id":"e","occurred_at":1714555800,"source":"s","type":"lead.created"}`,
			"occurred_at", "1714555800", "must be a JSON string (RFC 3339 timestamp), got number"},
		"an occurred_at before 2000 is rejected": {
			`{"event_id":"e","occurred_at":"1970-01-01T00:00:01Z","source":"s","type":"lead.created"}`,
			"occurred_at", "1970-01-01T00:00:01Z", "must be between 2000-01-01 and 2100-01-01"},
		"an event without source is rejected": {
			`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","type":"lead.created"}`, "source", "", "required"},
		"an event without type is rejected": {
			`{` + ok + `}`, "type", "", "required"},
		"an unknown type is rejected with the list of types": {
			`{` + ok + `,"type":"lead.deleted"}`, "type", "lead.deleted", "unknown type; must be one of " + typeList},
		"a type of the wrong JSON type is rejected": {
			`{` + ok + `,"type":3}`, "type", "3", "must be a JSON string, got number"},
		"an outbound message without rep_id is rejected": {
			`{` + ok + `,"type":"message.outbound"}`, "rep_id", "", "required for type message.outbound"},
		"a meeting without rep_id is rejected": {
			`{` + ok + `,"type":"meeting.held"}`, "rep_id", "", "required for type meeting.held"},
		"a quote without rep_id is rejected": {
			`{` + ok + `,"type":"quote.created"}`, "rep_id", "", "required for type quote.created"},
		"an unknown channel is rejected": {
			`{` + ok + `,"type":"lead.created","channel":"fax"}`, "channel", "fax", "unknown channel; must be one of email, phone, meeting, social, chat, crm"},
		"a rep_id of the wrong JSON type is rejected": {
			`{` + ok + `,"type":"lead.created","rep_id":42}`, "rep_id", "42", "must be a JSON string, got number"},
		"a team_id that is an object is rejected": {
			`{` + ok + `,"type":"lead.created","team_id":{"id":"t"}}`, "team_id", "", "must be a JSON string, got object"},
		"a stage longer than 256 bytes is rejected": {
			`{` + ok + `,"type":"lead.created","stage":"` + strings.Repeat("s", 300) + `"}`, "stage", strings.Repeat("s", 128) + "…", "longer than 256 bytes"},
		"an amount sent as a string is rejected": {
			`{` + ok + `,"type":"deal.won","amount":"12.50"}`, "amount", `"12.50"`, "must be a JSON number, got string"},
		"a negative amount is rejected": {
			`{` + ok + `,"type":"deal.won","amount":-1}`, "amount", "-1", "must be a finite number >= 0"},
		"an amount beyond float64 is rejected": {
			`{` + ok + `,"type":"deal.won","amount":1e999}`, "amount", "1e999", "out of range for a 64-bit float"},
		"a negative list_price is rejected": {
			`{` + ok + `,"type":"deal.won","list_price":-0.01}`, "list_price", "-0.01", "must be a finite number >= 0"},
		"a discount above 100 % is rejected": {
			`{` + ok + `,"type":"deal.won","discount_pct":140}`, "discount_pct", "140", "must be between 0 and 100"},
		"a negative discount is rejected": {
			`{` + ok + `,"type":"deal.won","discount_pct":-5}`, "discount_pct", "-5", "must be between 0 and 100"},
		"a negative duration is rejected": {
			`{` + ok + `,"type":"call.inbound","duration_s":-3}`, "duration_s", "-3", "must be between 0 and 604800 (one week)"},
		"a duration longer than a week is rejected": {
			`{` + ok + `,"type":"call.inbound","duration_s":604801}`, "duration_s", "604801", "must be between 0 and 604800 (one week)"},
		"a currency that is not three letters is rejected": {
			`{` + ok + `,"type":"deal.won","currency":"EURO"}`, "currency", "EURO", "must be a three-letter ISO 4217 code"},
		"a currency with digits is rejected": {
			`{` + ok + `,"type":"deal.won","currency":"E1R"}`, "currency", "E1R", "must be a three-letter ISO 4217 code"},
		"an approval request without approval_id is rejected": {
			`{` + ok + `,"type":"approval.requested"}`, "approval_id", "", "required for type approval.requested"},
		"an acknowledgement without lead_id is rejected": {
			`{` + ok + `,"type":"alert.acknowledged","approval_id":"a1"}`, "lead_id", "", "required for type alert.acknowledged"},
		"an acknowledgement without the alert id is rejected": {
			`{` + ok + `,"type":"alert.acknowledged","lead_id":"l1"}`, "approval_id", "", "required for type alert.acknowledged"},
		"an approval decision without approved is rejected": {
			`{` + ok + `,"type":"approval.decided","approval_id":"a"}`, "approved", "", "required for type approval.decided"},
		"a forecast without period is rejected": {
			`{` + ok + `,"type":"forecast.submitted","rep_id":"r","stage":"commit","amount":1}`, "period", "", "required for type forecast.submitted"},
		"a period that is neither a month nor a quarter is rejected": {
			`{` + ok + `,"type":"forecast.submitted","rep_id":"r","stage":"commit","amount":1,"period":"2026-13"}`,
			"period", "2026-13", "must be a month YYYY-MM or a quarter YYYY-Qn, 2000 to 2099"},
		"a lower-case quarter is rejected": {
			`{` + ok + `,"type":"forecast.submitted","rep_id":"r","stage":"commit","amount":1,"period":"2026-q1"}`,
			"period", "2026-q1", "must be a month YYYY-MM or a quarter YYYY-Qn, 2000 to 2099"},
		"a forecast without amount is rejected": {
			`{` + ok + `,"type":"forecast.submitted","rep_id":"r","stage":"commit","period":"2026-Q1"}`, "amount", "", "required for type forecast.submitted"},
		"a forecast of nobody is rejected": {
			`{` + ok + `,"type":"forecast.submitted","stage":"commit","period":"2026-Q1","amount":1}`,
			"rep_id", "", "rep_id or team_id required for type forecast.submitted"},
		"a forecast with an unknown category is rejected": {
			`{` + ok + `,"type":"forecast.submitted","team_id":"t","stage":"Commit","period":"2026-Q1","amount":1}`,
			"stage", "Commit", "forecast category required for type forecast.submitted: commit, best_case or pipeline"},
		"an approved that is a string is rejected": {
			`{` + ok + `,"type":"approval.decided","approval_id":"a","approved":"yes"}`, "approved", `"yes"`, "must be a JSON boolean, got string"},
		"a contact that is a string is rejected": {
			`{` + ok + `,"type":"lead.created","contact":"a@b.c"}`, "contact", `"a@b.c"`, "must be a JSON object, got string"},
		"a contact e-mail that is a number is rejected": {
			`{` + ok + `,"type":"lead.created","contact":{"email":1}}`, "contact.email", "1", "must be a JSON string, got number"},
		"attributes that are an array are rejected": {
			`{` + ok + `,"type":"lead.created","attributes":["a"]}`, "attributes", "", "must be a JSON object, got array"},
		"an attribute that is a number is rejected": {
			`{` + ok + `,"type":"lead.created","attributes":{"score":7}}`, "attributes.score", "7", "must be a JSON string, got number"},
		"an attribute value longer than 1024 bytes is rejected": {
			`{` + ok + `,"type":"lead.created","attributes":{"notes":"` + strings.Repeat("n", 1025) + `"}}`,
			"attributes.notes", strings.Repeat("n", 128) + "…", "key longer than 256 or value longer than 1024 bytes"},
		"more than 64 attributes are rejected": {
			`{` + ok + `,"type":"lead.created","attributes":{` + manyAttrs(65) + `}}`, "attributes", "65", "more than 64 entries"},
		"a duplicate known key is rejected": {
			`{` + ok + `,"type":"deal.won","discount_pct":10,"discount_pct":60}`, "discount_pct", "", "duplicate key"},
		"a duplicate key inside contact is rejected": {
			`{` + ok + `,"type":"lead.created","contact":{"email":"a@b.c","email":"d@e.f"}}`, "contact.email", "", "duplicate key"},
		"a duplicate attribute is rejected": {
			`{` + ok + `,"type":"lead.created","attributes":{"a":"1","a":"2"}}`, "attributes.a", "", "duplicate key"},
		"a record that is not an object is rejected": {
			`"hello"`, "", `"hello"`, "record must be a JSON object or an array of JSON objects"},
		"an empty record is malformed": {
			``, "", "", "malformed JSON: unexpected end of JSON input at byte offset 0"},
		"a truncated record is malformed": {
			`{"event_id":"e",`, "", "", "malformed JSON: unexpected end of JSON input at byte offset 16"},
		"a missing colon is malformed": {
			`{"event_id" "e"}`, "", "", "malformed JSON: expected ':' after object key at byte offset 12"},
		"a missing comma is malformed": {
			`{"event_id":"e" "source":"s"}`, "", "", "malformed JSON: expected ',' or '}' after object member at byte offset 16"},
		"a bare word is malformed": {
			`{"event_id":nope}`, "", "", "malformed JSON: expected 'null' but found invalid token at byte offset 12"},
		"a bad escape is malformed": {
			`{"event_id":"a\qb"}`, "", "", "malformed JSON: invalid character 'q' in string escape code at byte offset 12"},
		"a missing colon in an unknown nested field is malformed": {
			`{"extra":{"a" 1}}`, "", "", "malformed JSON: expected ':' after object key at byte offset 14"},
		"trailing data after the object is malformed": {
			`{` + ok + `,"type":"lead.created"} {}`, "", "", "malformed JSON: unexpected data after the top-level JSON value at byte offset 89"},
		"a malformed value after an invalid field still reports the syntax error": {
			`{"type":"x","event_id":"a\qb"}`, "", "", "malformed JSON: invalid character 'q' in string escape code at byte offset 23"},
	} {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(nil)
			out, err := d.Decode(nil, []byte(tc.in))
			if len(out) != 0 {
				t.Errorf("decoded %d events from an invalid record", len(out))
			}
			var fe *schemas.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want *schemas.FieldError", err, err)
			}
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Errorf("error does not wrap schemas.ErrInvalid")
			}
			if *fe != (schemas.FieldError{Source: Source, Field: tc.field, Value: tc.value, Rule: tc.rule}) {
				t.Errorf("got  field=%q value=%q rule=%q\nwant field=%q value=%q rule=%q", fe.Field, fe.Value, fe.Rule, tc.field, tc.value, tc.rule)
			}
		})
	}
}

func manyAttrs(n int) string {
	var b strings.Builder
	for k := range n {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"a` + strings.Repeat("x", k) + `":"v"`)
	}
	return b.String()
}

func TestDecodeArray(t *testing.T) {
	in := `[
	{"event_id":"a","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"},
	{"event_id":"b","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"deal.won","discount_pct":101},
	42,
	{"event_id":"c","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created","attributes":{"x":"1"}}
	]`
	d := NewDecoder(nil)
	dst := []schemas.Interaction{{EventID: "before"}}
	out, err := d.Decode(dst, []byte(in))
	if len(out) != 3 || out[0].EventID != "before" || out[1].EventID != "a" || out[2].EventID != "c" || out[2].Attributes["x"] != "1" {
		t.Fatalf("got %+v", out)
	}
	var ae *ArrayError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want *ArrayError", err, err)
	}
	if !errors.Is(err, schemas.ErrInvalid) {
		t.Error("ArrayError does not wrap schemas.ErrInvalid")
	}
	const want = `canonical: 2 of 4 array elements invalid: [1] field discount_pct: value "101": must be between 0 and 100; [2] value "42": array element must be a JSON object`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}

	// Malformed JSON anywhere rejects the whole record: nothing is appended.
	out, err = d.Decode(nil, []byte(`[{"event_id":"a","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"},{`))
	if len(out) != 0 || !isSyntax(err) {
		t.Errorf("truncated array: got %d events, err %v", len(out), err)
	}

	out, err = d.Decode(nil, []byte(` [ ] `))
	if len(out) != 0 || err != nil {
		t.Errorf("empty array: got %d events, err %v", len(out), err)
	}
}

func TestDecodeReusesSpareCapacity(t *testing.T) {
	d := NewDecoder(nil)
	lines := readLines(t, "typical.jsonl")
	var dst []schemas.Interaction
	for _, l := range lines {
		var err error
		if dst, err = d.Decode(dst, l); err != nil {
			t.Fatal(err)
		}
	}
	m := dst[0].Attributes
	dst = dst[:0]
	dst, err := d.Decode(dst, lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(dst[0].Attributes).Pointer() != reflect.ValueOf(m).Pointer() {
		t.Error("the Attributes map in spare capacity was not reused")
	}
	if len(dst[0].Attributes) != 2 {
		t.Errorf("reused map holds %v", dst[0].Attributes)
	}
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	d := NewDecoder(nil)
	for _, l := range readLines(t, "typical.jsonl") {
		buf := bytes.Clone(l)
		out, err := d.Decode(nil, buf)
		if err != nil {
			t.Fatal(err)
		}
		want := snapshot(out[0])
		for k := range buf {
			buf[k] = 'X'
		}
		if got := snapshot(out[0]); got != want {
			t.Errorf("decoded strings changed with the input buffer:\n%s\n%s", want, got)
		}
	}
}

// Decode's contract (value may be reused once it returns) holds for the
// records the fast path declines as well: the reference decoder's output,
// an array's valid elements beside its errors, and the values quoted in
// errors, which a dead letter carries after the batch moved on.
func TestDecodeDeclinedDoesNotAliasInput(t *testing.T) {
	d := NewDecoder(nil)
	for _, in := range []string{
		// Escapes and an unknown field: the fast path declines, the
		// reference decoder decodes it.
		`{"event_id":"evt-\u0031","occurred_at":"2024-05-01T09:41:03Z","source":"canonical","type":"message.outbound","channel":"email","rep_id":"rep-\u0042","lead_id":"lead-7","extra":1,"contact":{"email":"a\u0040example.com","name":"Ann"},"attributes":{"campaign":"spring\n"}}`,
		// An array: one valid element kept, one invalid quoted.
		`[{"event_id":"evt-2","occurred_at":"2024-05-01T09:41:03Z","source":"canonical","type":"message.outbound","channel":"email","rep_id":"rep-9","contact":{"email":"b@example.com"},"attributes":{"k":"v"}},{"event_id":"evt-3","occurred_at":"yesterday","source":"canonical","type":"message.outbound","rep_id":"rep-9"}]`,
		// Invalid values quoted by the error.
		`{"event_id":"evt-4","occurred_at":"2024-05-01T09:41:03Z","source":"canonical","type":"no.such.type","rep_id":"rep-9"}`,
		`{"event_id":"evt-5","occurred_at":"2024-05-01T09:41:03Z","source":"canonical","type":"deal.won","rep_id":"rep-9","amount":"lots"}`,
		`{"event_id":"evt-6","occurred_at":"2024-05-01T09:41:03Z","source":"canonical","type":"message.outbound",`,
	} {
		buf := []byte(in)
		out, err := d.Decode(nil, buf)
		if len(out) == 0 && err == nil {
			t.Fatalf("%s: nothing decoded and no error", in)
		}
		var want []string
		for _, it := range out {
			want = append(want, snapshot(it))
		}
		wantErr := fmt.Sprint(err)
		for k := range buf {
			buf[k] = 'X'
		}
		var got []string
		for _, it := range out {
			got = append(got, snapshot(it))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: decoded strings changed with the input buffer:\n%q\n%q", in, want, got)
		}
		if gotErr := fmt.Sprint(err); gotErr != wantErr {
			t.Errorf("%s: error changed with the input buffer:\n%s\n%s", in, wantErr, gotErr)
		}
	}
}

func snapshot(it schemas.Interaction) string {
	var b strings.Builder
	for _, s := range []string{it.EventID, it.Source, it.RepID, it.TeamID, it.AccountID, it.LeadID, it.ApprovalID,
		it.ApproverID, it.Stage, it.Currency, it.Contact.Email, it.Contact.Phone, it.Contact.Name} {
		b.WriteString(s + "|")
	}
	keys := slices.Sorted(maps.Keys(it.Attributes))
	for _, k := range keys {
		b.WriteString(k + "=" + it.Attributes[k] + "|")
	}
	return b.String()
}

func TestUnknownFieldsMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := NewDecoder(reg)
	rec := func(extra string) []byte {
		return []byte(`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"` + extra + `}`)
	}
	for _, extra := range []string{`,"priority":"high"`, `,"priority":1,"tags":["a",{"b":[]}]`, `,"contact":{"title":"CEO"}`} {
		if _, err := d.Decode(nil, rec(extra)); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 70 {
		if _, err := d.Decode(nil, rec(`,"x`+strings.Repeat("y", k)+`":0`)); err != nil {
			t.Fatal(err)
		}
	}
	// A second decoder on the same registry shares the series.
	if _, err := NewDecoder(reg).Decode(nil, rec(`,"priority":2`)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(d.m.unknown.WithLabelValues("priority")); got != 3 {
		t.Errorf("priority counted %v times, want 3", got)
	}
	if got := testutil.ToFloat64(d.m.unknown.WithLabelValues("contact.title")); got != 1 {
		t.Errorf("contact.title counted %v times, want 1", got)
	}
	// priority, tags, contact.title and 61 x… names fill the 64 labels; 9 go to "other".
	if got := testutil.ToFloat64(d.m.other); got != 9 {
		t.Errorf("other counted %v, want 9", got)
	}
	if n := testutil.CollectAndCount(reg, "salespulse_canonical_unknown_fields_total"); n != 65 {
		t.Errorf("%d series, want 65 (64 names + other)", n)
	}
	if got := testutil.ToFloat64(d.m.decoded); got != 74 {
		t.Errorf("decoded %v, want 74", got)
	}
}

// TestAccountSignal: account.signal's kind and company are attributes,
// checked although Validate usually runs before attributes are stored.
func TestAccountSignal(t *testing.T) {
	d := NewDecoder(nil)
	got, err := d.Decode(nil, []byte(`{"event_id":"s1","occurred_at":"2026-11-02T10:00:00Z","source":"gen","type":"account.signal","attributes":{"signal_kind":"news","signal_domain":"acme.com"}}`))
	if err != nil || len(got) != 1 || got[0].Attributes["signal_domain"] != "acme.com" {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = d.Decode(nil, []byte(`{"event_id":"s1","occurred_at":"2026-11-02T10:00:00Z","source":"gen","type":"account.signal","attributes":{"signal_domain":"acme.com"}}`))
	if err == nil || !strings.Contains(err.Error(), "canonical: field attributes.signal_kind") {
		t.Fatalf("no kind: %v", err)
	}
}
