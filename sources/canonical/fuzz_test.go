package canonical

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// FuzzDecode: decoding never panics, every decoded event passes Validate,
// every error is a contract error, and decoding is a fixpoint of the
// canonical encoder (decode(encode(decode(b))) == decode(b), up to the
// encoder's millisecond precision and the output-only contact_key and
// contact_keys).
//
//	go test ./sources/canonical -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) {
	for _, l := range readLines(f, "typical.jsonl") {
		f.Add(l)
	}
	for _, s := range []string{
		`[{"event_id":"a","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.created"},{"event_id":"b"},7]`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"deal.won","discount_pct":140}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00","source":"s","type":"lead.created"}`,
		`{"event_id":"e\u00e9\ud83d\ude00","occurred_at":"2024-05-01T09:30:00.123456789-11:59","source":"s","type":"lead.created","x":{"y":[1,{"z":null}]}}`,
		`{"event_id":"e","event_id":"f"}`, `{"a" 1}`, `{"a":1,}`, `[`, `{}`, `[]`, `null`, `"x"`, `{"attributes":{"a":"b","a":"c"}}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"approval.decided","approval_id":"a","approved":true,"contact":{"email":"A@B.C","x":1}}`,
		`{"event_id":"e","occurred_at":"2024-05-01T09:30:00Z","source":"s","type":"lead.updated","lead_id":"l","contact":{"mobile":"+1 201 555 0199","country":"US"},"contact_keys":{"phone":"k1:p"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(nil)
		out, err := d.Decode(nil, b)
		if err != nil && !errors.Is(err, schemas.ErrInvalid) {
			t.Fatalf("error %v does not wrap schemas.ErrInvalid", err)
		}
		for k := range out {
			if verr := out[k].Validate(); verr != nil {
				t.Fatalf("decoded event %d fails Validate: %v\n%+v", k, verr, out[k])
			}
			enc := schemas.AppendJSON(nil, &out[k])
			again, err := d.Decode(nil, enc)
			if err != nil {
				t.Fatalf("re-decoding the encoder's output failed: %v\n%s", err, enc)
			}
			want := out[k]
			want.OccurredAt = want.OccurredAt.Truncate(time.Millisecond)
			if !equalInteraction(again[0], want) {
				t.Fatalf("round trip changed the event\n got %+v\nwant %+v\njson %s", again[0], want, enc)
			}
		}
	})
}

// equalInteraction is reflect.DeepEqual treating a nil and an empty
// Attributes map alike.
func equalInteraction(a, b schemas.Interaction) bool {
	if len(a.Attributes) == 0 && len(b.Attributes) == 0 {
		a.Attributes, b.Attributes = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// TestRoundTrip: decode(encode(x)) == x for an interaction using every
// field the canonical schema has.
func TestRoundTrip(t *testing.T) {
	x := schemas.Interaction{
		EventID: "e-\"1\"\n", OccurredAt: time.Date(2024, 5, 1, 9, 30, 0, 123e6, time.UTC), Source: "crm",
		Type: schemas.TypeApprovalDecided, Channel: schemas.ChannelChat, RepID: "r1", TeamID: "t1", AccountID: "a1",
		LeadID: "l1", ApprovalID: "ap1", ApproverID: "m1", Stage: "Négociation", Currency: "EUR",
		Has:       schemas.HasDuration | schemas.HasAmount | schemas.HasListPrice | schemas.HasDiscount | schemas.HasApproved,
		DurationS: 0.001, Amount: 1e20, ListPrice: 0, DiscountPct: 33.333333333333336, Approved: true,
		Contact: schemas.Contact{Email: "a@b.c", Phone: "+1 555 0100", Mobile: "(201) 555-0199", Name: "Zoë \u2028 Ng",
			Country: "US"},
		Attributes: map[string]string{"k": "v", "": "empty key", "tab": "\t"},
	}
	out, err := NewDecoder(nil).Decode(nil, schemas.AppendJSON(nil, &x))
	if err != nil {
		t.Fatal(err)
	}
	if !equalInteraction(out[0], x) {
		t.Errorf("got  %+v\nwant %+v", out[0], x)
	}

	// Each contact member alone, the country included, survives.
	for _, c := range []schemas.Contact{{Mobile: "+49 171 7654321"}, {Country: "DE"}, {Phone: "030 1234567", Country: "DE"}} {
		y := schemas.Interaction{EventID: "e", OccurredAt: x.OccurredAt, Source: "crm", Type: schemas.TypeLeadUpdated,
			Channel: schemas.ChannelCRM, LeadID: "l1", Contact: c}
		out, err := NewDecoder(nil).Decode(nil, schemas.AppendJSON(nil, &y))
		if err != nil {
			t.Fatal(err)
		}
		if !equalInteraction(out[0], y) {
			t.Errorf("got  %+v\nwant %+v", out[0], y)
		}
	}

	// contact_key and contact_keys are output-only: a producer cannot plant
	// a pseudonym (or a raw address posing as one) that pseudonymisation
	// would then keep, nor steer lead resolution to someone else's lead.
	x.ContactKey = "k1:forged"
	x.Keys = schemas.ContactKeys{Email: "k1:forged", Phone: "+12015550123", Mobile: "k1:m"}
	out, err = NewDecoder(nil).Decode(nil, schemas.AppendJSON(nil, &x))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].ContactKey != "" || !out[0].Keys.IsZero() {
		t.Errorf("contact_key %q or contact_keys %+v accepted from input", out[0].ContactKey, out[0].Keys)
	}
}
