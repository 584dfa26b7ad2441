package schemas

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func fullInteraction() *Interaction {
	return &Interaction{
		EventID:     "gen-42-1001",
		OccurredAt:  time.Date(2026, 11, 26, 10, 15, 2, 123456789, time.FixedZone("CET", 3600)),
		Source:      "gen",
		Type:        TypeApprovalDecided,
		Channel:     ChannelCRM,
		RepID:       "rep-01-03",
		TeamID:      "team-01",
		AccountID:   "acc-000123",
		LeadID:      "lead-42-7",
		ApprovalID:  "apr-42-9",
		ApproverID:  "mgr-01",
		Stage:       "negotiation",
		Currency:    "EUR",
		Has:         HasDuration | HasAmount | HasListPrice | HasDiscount | HasApproved,
		DurationS:   312.5,
		Amount:      20400,
		ListPrice:   24000,
		DiscountPct: 15,
		Approved:    false,
		Contact:     Contact{Email: "jane.doe@acme.example.com", Phone: "+12025550123", Name: "Jane \"JD\" Doe"},
		Attributes:  map[string]string{"z": "last", "a": "first", "m": "ü\n"},
	}
}

func TestAppendJSON(t *testing.T) {
	f := func(name string, i *Interaction, want string) {
		t.Helper()
		got := string(AppendJSON(nil, i))
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: not valid JSON: %s", name, got)
		}
	}
	f("every field set, in canonical order, time in UTC with milliseconds, attributes sorted", fullInteraction(),
		`{"event_id":"gen-42-1001","occurred_at":"2026-11-26T09:15:02.123Z","source":"gen","type":"approval.decided",`+
			`"rep_id":"rep-01-03","team_id":"team-01","account_id":"acc-000123","lead_id":"lead-42-7","channel":"crm",`+
			`"duration_s":312.5,"amount":20400,"currency":"EUR","list_price":24000,"discount_pct":15,"approval_id":"apr-42-9",`+
			`"approved":false,"approver_id":"mgr-01","stage":"negotiation",`+
			`"contact":{"email":"jane.doe@acme.example.com","phone":"+12025550123","name":"Jane \"JD\" Doe"},`+
			`"attributes":{"a":"first","m":"ü\n","z":"last"}}`)
	f("empty optional fields are omitted", &Interaction{
		EventID: "e1", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Source: "canonical", Type: TypeMessageOutbound,
	}, `{"event_id":"e1","occurred_at":"2026-01-02T03:04:05.000Z","source":"canonical","type":"message.outbound"}`)
	f("a zero number with its Has bit is written, without it is not", &Interaction{
		EventID: "e2", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Has: HasDiscount, Amount: 5,
	}, `{"event_id":"e2","occurred_at":"2026-01-02T03:04:05.000Z","discount_pct":0}`)
	f("partial contact and the pseudonym", &Interaction{
		EventID: "e3", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Contact: Contact{Name: "Al"}, ContactKey: "k1",
	}, `{"event_id":"e3","occurred_at":"2026-01-02T03:04:05.000Z","contact":{"name":"Al"},"contact_key":"k1"}`)
	f("every identity, the country and one key per identity", &Interaction{
		EventID: "e5", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Contact:    Contact{Email: "a@b.c", Phone: "(201) 555-0123", Mobile: "+1 201 555 0199", Name: "Al", Country: "US"},
		ContactKey: "k1:e", Keys: ContactKeys{Email: "k1:e", Phone: "k1:p", Mobile: "k1:m"},
	}, `{"event_id":"e5","occurred_at":"2026-01-02T03:04:05.000Z",`+
		`"contact":{"email":"a@b.c","phone":"(201) 555-0123","mobile":"+1 201 555 0199","name":"Al","country":"US"},`+
		`"contact_key":"k1:e","contact_keys":{"email":"k1:e","phone":"k1:p","mobile":"k1:m"}}`)
	f("a country alone is written; partial keys", &Interaction{
		EventID: "e6", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Contact: Contact{Country: "DE"}, Keys: ContactKeys{Mobile: "k1:m"},
	}, `{"event_id":"e6","occurred_at":"2026-01-02T03:04:05.000Z","contact":{"country":"DE"},"contact_keys":{"mobile":"k1:m"}}`)
	f("non-finite numbers are omitted, fractions and huge values follow encoding/json", &Interaction{
		EventID: "e4", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Has: HasDuration | HasAmount | HasListPrice | HasDiscount, DurationS: math.NaN(), Amount: math.Inf(1),
		ListPrice: 1e21, DiscountPct: 0.0000001,
	}, `{"event_id":"e4","occurred_at":"2026-01-02T03:04:05.000Z","list_price":1e+21,"discount_pct":1e-7}`)
	f("escaping of quotes, backslashes, control characters, U+2028 and invalid UTF-8", &Interaction{
		EventID: "a\"b\\c\td\x01e\u2028f\xffg<h>", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}, `{"event_id":"a\"b\\c\td\u0001e\u2028f\ufffdg<h>","occurred_at":"2026-01-02T03:04:05.000Z"}`)
}

// TestAppendJSONMatchesEncodingJSON checks the output decodes, with the
// standard library, to exactly the field values that went in.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	i := fullInteraction()
	var got struct {
		EventID     string            `json:"event_id"`
		OccurredAt  time.Time         `json:"occurred_at"`
		Type        string            `json:"type"`
		DurationS   float64           `json:"duration_s"`
		DiscountPct *float64          `json:"discount_pct"`
		Approved    *bool             `json:"approved"`
		Contact     map[string]string `json:"contact"`
		Attributes  map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal(AppendJSON(nil, i), &got); err != nil {
		t.Fatal(err)
	}
	if got.EventID != i.EventID || !got.OccurredAt.Equal(i.OccurredAt.Truncate(time.Millisecond)) ||
		got.Type != "approval.decided" || got.DurationS != 312.5 || got.DiscountPct == nil || *got.DiscountPct != 15 ||
		got.Approved == nil || *got.Approved || got.Contact["name"] != i.Contact.Name || got.Attributes["m"] != "ü\n" {
		t.Fatalf("round trip through encoding/json lost data: %+v", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\", "\x00\x1f\x7f", "ü€😀", "\xff\xfe", "\u2028\u2029", "<script>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		var want strings.Builder
		for k := 0; k < len(s); {
			r, n := utf8.DecodeRuneInString(s[k:])
			want.WriteRune(r) // invalid bytes decode to U+FFFD, as we write them
			k += n
		}
		if back != want.String() {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, back, want.String())
		}
		// Byte-identical to encoding/json except for its HTML escaping.
		html := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
		std, _ := json.Marshal(s)
		if html.Replace(string(std)) != html.Replace(string(b)) {
			t.Fatalf("appendString(%q) = %s, encoding/json = %s", s, b, std)
		}
	})
}

func TestAppendTimeMatchesFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 26, 9, 15, 2, 123999999, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2099, 12, 31, 23, 59, 59, 999000000, time.FixedZone("x", -5*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestAppendJSONDoesNotAllocate(t *testing.T) {
	i := fullInteraction()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], i) }); n != 0 {
		t.Fatalf("AppendJSON allocated %v times per call, want 0", n)
	}
}

// BenchmarkAppendJSON measures the canonical encoder on a fully populated
// interaction. Compare runs with:
//
//	go test ./schemas -run '^$' -bench AppendJSON -benchtime=200ms -count=6 > new.txt && benchstat old.txt new.txt
func BenchmarkAppendJSON(b *testing.B) {
	for _, bc := range []struct {
		name string
		i    *Interaction
	}{
		{"full", fullInteraction()},
		{"touch", &Interaction{
			EventID: "gen-1-123456", OccurredAt: time.Date(2026, 11, 3, 9, 1, 2, 3e6, time.UTC), Source: "gen",
			Type: TypeMessageOutbound, Channel: ChannelEmail, RepID: "rep-01-03", TeamID: "team-01",
			AccountID: "acc-000123", LeadID: "lead-1-991", Contact: Contact{Email: "jane.doe@acme.example.com", Name: "Jane Doe"},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := AppendJSON(nil, bc.i)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendJSON(buf[:0], bc.i)
			}
		})
	}
}
