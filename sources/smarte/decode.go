// Package smarte decodes SMARTe Signal API webhooks (news events of a
// subscribed company) into account.signal interactions.
//
// The body, as documented at https://docs.api.smarte.pro/signal-api-webhook
// (also https://docs.smarte.pro/docs/webhook-creation-api):
//
//	{"company_domain": "…",
//	 "data": {"news_events": [{"id", "title", "description",
//	                           "publishDate": "YYYY-MM-DD HH:MM:SS",
//	                           "category", "url"}]}}
//
// One interaction per news event: event id = id, source "smarte", time =
// publishDate (the documentation gives no zone: read as UTC; its field
// table on docs.smarte.pro spells it publishedDate, which is accepted too),
// domain = company_domain, url, category kept verbatim and mapped to a kind
// (kindOf). Title and description are free text that may name people: they
// are not kept.
package smarte

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/signals"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Webhook is the documented body.
type Webhook struct {
	CompanyDomain string `json:"company_domain"`
	Data          struct {
		NewsEvents []Event `json:"news_events"`
	} `json:"data"`
}

// Event is one of its news events.
type Event struct {
	ID            string `json:"id"`
	Title         string `json:"title,omitempty"`
	Description   string `json:"description,omitempty"`
	PublishDate   string `json:"publishDate,omitempty"`
	PublishedDate string `json:"publishedDate,omitempty"`
	Category      string `json:"category"`
	URL           string `json:"url"`
}

// Decoder decodes SMARTe webhooks. It is safe for concurrent use.
type Decoder struct{}

// NewDecoder returns the decoder; it needs neither the org nor metrics.
func NewDecoder(*schemas.Index, prometheus.Registerer) (*Decoder, error) { return &Decoder{}, nil }

// dateLayout is publishDate's documented "YYYY-MM-DD HH:MM:SS".
const dateLayout = "2006-01-02 15:04:05"

// kindOf maps SMARTe's category to a signal kind. The documentation names
// "Funding", "Product Change" and "Partnership" as examples and "key
// personnel change" among the trigger events; other categories are news.
func kindOf(category string) string {
	c := strings.ToLower(category)
	switch {
	case strings.Contains(c, "fund"):
		return schemas.SignalFundingRound
	case strings.Contains(c, "personnel") || strings.Contains(c, "leadership") || strings.Contains(c, "executive"):
		return schemas.SignalExecutiveChange
	case strings.Contains(c, "hiring"):
		return schemas.SignalHiringSurge
	}
	return schemas.SignalNews
}

// Decode appends one interaction per news event of the webhook body.
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	var w Webhook
	if err := json.Unmarshal(value, &w); err != nil {
		return dst, schemas.Invalid(Name, "", "", "malformed JSON: "+err.Error())
	}
	dom := schemas.NormaliseDomain(w.CompanyDomain)
	if dom == "" {
		return dst, schemas.Invalid(Name, "company_domain", w.CompanyDomain, "required: a domain")
	}
	var errs vendorkit.Errors
	for k := range w.Data.NewsEvents {
		var err error
		if dst, err = appendEvent(dst, &w.Data.NewsEvents[k], dom); err != nil {
			errs.Add(vendorkit.Prefix("data.news_events["+strconv.Itoa(k)+"].", err))
		}
	}
	return dst, errs.Err()
}

func appendEvent(dst []schemas.Interaction, e *Event, dom string) ([]schemas.Interaction, error) {
	date := e.PublishDate
	if date == "" {
		date = e.PublishedDate
	}
	if e.ID == "" {
		return dst, schemas.Invalid(Name, "id", "", "required")
	}
	at, err := time.Parse(dateLayout, date)
	if err != nil {
		return dst, schemas.Invalid(Name, "publishDate", date, "must be YYYY-MM-DD HH:MM:SS")
	}
	dst, it := vendorkit.Next(dst)
	it.EventID, it.OccurredAt, it.Source, it.Type, it.Channel = e.ID, at, Name, schemas.TypeAccountSignal, schemas.ChannelCRM
	signals.Attrs(it, kindOf(e.Category), dom, "", strings.TrimSpace(e.URL), e.Category)
	dst, err = vendorkit.Commit(dst)
	if err != nil {
		return dst, fmt.Errorf("%s: %w", Name, err)
	}
	return dst, nil
}
