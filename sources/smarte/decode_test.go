package smarte

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// The fixture has the shape of the sample webhook body in SMARTe's
// documentation, https://docs.api.smarte.pro/signal-api-webhook (the same
// page at https://docs.smarte.pro/docs/webhook-creation-api): company_domain
// with its trailing space as in the sample, data.news_events[] with id,
// title, description, publishDate ("YYYY-MM-DD HH:MM:SS"), category and url.
func TestDecodeDocumentedWebhook(t *testing.T) {
	body, err := os.ReadFile("testdata/webhook.json")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDecoder(nil, nil)
	got, err := d.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, kind, category, url string
		at                      time.Time
	}{
		{"C7A9E2B4D1F04423", schemas.SignalFundingRound, "Funding", "https://www.prnewswire.com/news-releases/northwind-analytics-closes-series-b-302400001.html", time.Date(2026, 11, 2, 14, 30, 0, 0, time.UTC)},
		{"C7A9E2B4D1F04424", schemas.SignalNews, "Product Change", "https://www.businesswire.com/news/home/20261103000001/en/", time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("%d interactions, want %d", len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		a := g.Attributes
		if g.EventID != w.id || g.Source != "smarte" || g.Type != schemas.TypeAccountSignal || !g.OccurredAt.Equal(w.at) ||
			a[schemas.AttrSignalKind] != w.kind || a[schemas.AttrSignalDomain] != "northwind-analytics.com" ||
			a[schemas.AttrSignalCategory] != w.category || a[schemas.AttrSignalURL] != w.url || len(a) != 4 {
			t.Errorf("[%d] %+v", k, g)
		}
	}
}

func TestKinds(t *testing.T) {
	for cat, kind := range map[string]string{
		"Funding": schemas.SignalFundingRound, "Key Personnel Change": schemas.SignalExecutiveChange,
		"Leadership Change": schemas.SignalExecutiveChange, "Hiring Plans": schemas.SignalHiringSurge,
		"Partnership": schemas.SignalNews, "Product Change": schemas.SignalNews, "": schemas.SignalNews,
	} {
		if got := kindOf(cat); got != kind {
			t.Errorf("%q: %s, want %s", cat, got, kind)
		}
	}
}

func TestReject(t *testing.T) {
	d, _ := NewDecoder(nil, nil)
	for body, field := range map[string]string{
		`{"company_domain":"","data":{"news_events":[]}}`: "company_domain",
		`{"company_domain":"a.com","data":{"news_events":[{"id":"1","publishDate":"2026-11-02T10:00:00Z","category":"Funding","url":"u"}]}}`: "data.news_events[0].publishDate",
		`{"company_domain":"a.com","data":{"news_events":[{"publishDate":"2026-11-02 10:00:00"}]}}`:                                          "data.news_events[0].id",
		`{"company_domain":`: "",
	} {
		_, err := d.Decode(nil, []byte(body))
		var fe *schemas.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError on %q", body, err, field)
		}
	}
	// The docs.smarte.pro field table spells the date publishedDate.
	got, err := d.Decode(nil, []byte(`{"company_domain":"a.com","data":{"news_events":[{"id":"1","publishedDate":"2026-11-02 10:00:00","category":"Funding","url":"u"}]}}`))
	if err != nil || len(got) != 1 {
		t.Fatalf("publishedDate: %v %v", got, err)
	}
}

func FuzzDecode(f *testing.F) {
	body, _ := os.ReadFile("testdata/webhook.json")
	f.Add(body)
	f.Add([]byte(`{"company_domain":"a.com","data":{"news_events":[]}}`))
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
