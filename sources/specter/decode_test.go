package specter

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// The fixture has the shape of the example response of "Get News Signals
// for a Company List" in Specter's API reference,
// https://api.tryspecter.com/api-reference/news-signals/get-news-signals-for-a-company-list:
// a JSON array of signals with signal_id and article_id (numbers),
// article_url, categories and meaningful_updates (string arrays),
// published_date (a date), fetched_at (RFC 3339), title, title_original,
// featured_image_url, entity_id, company_name, company_domain, whats_new,
// score and traction.
func TestDecodeDocumentedResponse(t *testing.T) {
	body, err := os.ReadFile("testdata/news_signals.json")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDecoder(nil, nil)
	got, err := d.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d interactions", len(got))
	}
	g, a := got[0], got[0].Attributes
	if g.EventID != "2345678" || g.Source != "specter" || g.Type != schemas.TypeAccountSignal ||
		!g.OccurredAt.Equal(time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)) ||
		a[schemas.AttrSignalKind] != schemas.SignalFundingRound || a[schemas.AttrSignalDomain] != "northwind-analytics.com" ||
		a[schemas.AttrSignalCompany] != "Northwind" || a[schemas.AttrSignalURL] != "https://techcrunch.com/2026/11/02/northwind-series-b/" ||
		a[schemas.AttrSignalCategory] != "funding" || len(a) != 5 {
		t.Fatalf("%+v", g)
	}
	// One signal per record (an object) decodes the same; without
	// published_date, fetched_at is the time.
	got, err = d.Decode(nil, []byte(`{"signal_id":7,"categories":["leadership"],"fetched_at":"2026-11-02T12:00:00Z","company_domain":"acme.com"}`))
	if err != nil || len(got) != 1 || got[0].Attributes[schemas.AttrSignalKind] != schemas.SignalExecutiveChange ||
		!got[0].OccurredAt.Equal(time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v %v", got, err)
	}
	// An empty page is a valid record without signals.
	if got, err = d.Decode(nil, []byte(`[]`)); err != nil || len(got) != 0 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestReject(t *testing.T) {
	d, _ := NewDecoder(nil, nil)
	for body, field := range map[string]string{
		`[{"published_date":"2026-11-02","company_domain":"a.com"}]`:                          "[0].signal_id",
		`[{"signal_id":1,"published_date":"2 Nov 2026","company_domain":"a.com"}]`:            "[0].published_date",
		`[{"signal_id":1,"published_date":"2026-11-02"}]`:                                     "[0].company_domain",
		`[{"signal_id":1,"company_domain":"a.com"}]`:                                          "[0].published_date",
		`[{"signal_id":"1","published_date":"2026-11-02","company_domain":"a.com"}]`:          "",
		`{"signal_id":1,"published_date":"2026-11-02","company_domain":"not a domain","x":1}`: "company_domain",
	} {
		_, err := d.Decode(nil, []byte(body))
		var fe *schemas.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on %q", body, err, field)
		}
	}
}

func FuzzDecode(f *testing.F) {
	body, _ := os.ReadFile("testdata/news_signals.json")
	f.Add(body)
	f.Add([]byte(`[]`))
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
