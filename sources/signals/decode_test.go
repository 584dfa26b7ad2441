package signals

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// The fixture is the canonical signal of docs/signals.md: one by domain
// (a web address, normalised), one by account id.
func TestDecodeCanonicalSignals(t *testing.T) {
	body, err := os.ReadFile("testdata/signals.json")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDecoder(nil, nil)
	got, err := d.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d interactions", len(got))
	}
	a := got[0].Attributes
	if got[0].EventID != "cb-fr-7f3a" || got[0].Source != "crunchbase" || got[0].Type != schemas.TypeAccountSignal ||
		a[schemas.AttrSignalKind] != schemas.SignalFundingRound || a[schemas.AttrSignalDomain] != "northwind-analytics.com" ||
		a[schemas.AttrSignalCompany] != "Northwind Analytics" || a[schemas.AttrSignalURL] != "https://www.crunchbase.com/funding_round/northwind-series-b" {
		t.Errorf("%+v", got[0])
	}
	if got[1].AccountID != "001Dn00000AbCdEIAZ" || !got[1].OccurredAt.Equal(time.Date(2026, 11, 3, 7, 0, 0, 0, time.UTC)) ||
		got[1].Attributes[schemas.AttrSignalKind] != schemas.SignalExecutiveChange || len(got[1].Attributes) != 1 {
		t.Errorf("%+v", got[1])
	}
}

func TestReject(t *testing.T) {
	d, _ := NewDecoder(nil, nil)
	for body, field := range map[string]string{
		`{"occurred_at":"2026-11-02T10:00:00Z","kind":"news","source":"x","domain":"a.com"}`:                     "signal_id",
		`{"signal_id":"1","occurred_at":"2026-11-02T10:00:00Z","kind":"news","domain":"a.com"}`:                  "source",
		`{"signal_id":"1","occurred_at":"2026-11-02T10:00:00Z","kind":"ipo","source":"x","domain":"a.com"}`:      "kind",
		`{"signal_id":"1","occurred_at":"2026-11-02 10:00","kind":"news","source":"x","domain":"a.com"}`:         "occurred_at",
		`{"signal_id":"1","occurred_at":"2026-11-02T10:00:00Z","kind":"news","source":"x"}`:                      "account_id",
		`{"signal_id":"1","occurred_at":"2026-11-02T10:00:00Z","kind":"news","source":"x","domain":"a b"}`:       "domain",
		`[{"signal_id":"1","occurred_at":"2026-11-02T10:00:00Z","kind":"news","source":"x","domain":"a.com"},1]`: "",
	} {
		_, err := d.Decode(nil, []byte(body))
		var fe *schemas.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on %q", body, err, field)
		}
	}
}

func FuzzDecode(f *testing.F) {
	body, _ := os.ReadFile("testdata/signals.json")
	f.Add(body)
	f.Add([]byte(`{"signal_id":"1","occurred_at":"2026-11-02T10:00:00Z","kind":"news","source":"x","name":"Acme"}`))
	d, _ := NewDecoder(nil, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := d.Decode(nil, b)
		if err != nil && !errors.Is(err, schemas.ErrInvalid) {
			t.Fatalf("not a FieldError: %v", err)
		}
		for k := range got {
			if err := got[k].Validate(); err != nil {
				t.Fatalf("invalid interaction: %v", err)
			}
		}
	})
}
