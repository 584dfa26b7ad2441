// Package specter decodes Specter news signals into account.signal
// interactions.
//
// GET /lists/companies/{listId}/news-signals answers a JSON array of news
// signals, documented at
// https://api.tryspecter.com/api-reference/news-signals/get-news-signals-for-a-company-list:
//
//	[{"signal_id": 1234567, "article_id": 987654, "article_url": "…",
//	  "categories": ["funding"], "meaningful_updates": ["FUNDING_UPDATE"],
//	  "published_date": "2025-06-15", "fetched_at": "2025-06-15T12:00:00Z",
//	  "title": "…", "entity_id": "…", "company_name": "Acme",
//	  "company_domain": "acme.com", "whats_new": "…", "score": 4, …}]
//
// A poller writes a response (the array) or one signal (an object) per
// record. One interaction per signal: event id = signal_id, source
// "specter", time = published_date (a day: its start in UTC), else
// fetched_at; domain = company_domain, name = company_name, url =
// article_url, the categories joined with "," kept verbatim and mapped to
// a kind (kindOf). Title, whats_new and traction are free text: not kept.
package specter

import (
	"bytes"
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

// Signal is one documented news signal (the fields the decoder reads, and
// those the encoder writes to look like the real thing).
type Signal struct {
	SignalID          int64    `json:"signal_id"`
	ArticleID         int64    `json:"article_id"`
	ArticleURL        string   `json:"article_url"`
	Categories        []string `json:"categories"`
	MeaningfulUpdates []string `json:"meaningful_updates"`
	PublishedDate     string   `json:"published_date"`
	FetchedAt         string   `json:"fetched_at"`
	Title             string   `json:"title"`
	EntityID          string   `json:"entity_id"`
	CompanyName       string   `json:"company_name"`
	CompanyDomain     string   `json:"company_domain"`
	WhatsNew          string   `json:"whats_new,omitempty"`
	Score             int      `json:"score"`
}

// Decoder decodes Specter news signals. It is safe for concurrent use.
type Decoder struct{}

// NewDecoder returns the decoder; it needs neither the org nor metrics.
func NewDecoder(*schemas.Index, prometheus.Registerer) (*Decoder, error) { return &Decoder{}, nil }

// kindOf maps a signal's categories and meaningful updates to a kind. The
// documentation's example has the category "funding" and the update
// FUNDING_UPDATE; leadership and hiring categories are read the same way,
// and anything else is news.
func kindOf(s *Signal) string {
	for _, u := range s.MeaningfulUpdates {
		if u == "FUNDING_UPDATE" {
			return schemas.SignalFundingRound
		}
	}
	for _, c := range s.Categories {
		switch c = strings.ToLower(c); {
		case strings.Contains(c, "funding"):
			return schemas.SignalFundingRound
		case strings.Contains(c, "leadership") || strings.Contains(c, "executive"):
			return schemas.SignalExecutiveChange
		case strings.Contains(c, "hiring"):
			return schemas.SignalHiringSurge
		}
	}
	return schemas.SignalNews
}

// Decode appends the signals of one response (array) or one signal.
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	v := bytes.TrimSpace(value)
	if len(v) > 0 && v[0] == '{' {
		var s Signal
		if err := json.Unmarshal(v, &s); err != nil {
			return dst, schemas.Invalid(Name, "", "", "malformed JSON: "+err.Error())
		}
		return appendSignal(dst, &s)
	}
	var all []Signal
	if err := json.Unmarshal(v, &all); err != nil {
		return dst, schemas.Invalid(Name, "", "", "malformed JSON: "+err.Error())
	}
	var errs vendorkit.Errors
	for k := range all {
		var err error
		if dst, err = appendSignal(dst, &all[k]); err != nil {
			errs.Add(vendorkit.Prefix("["+strconv.Itoa(k)+"].", err))
		}
	}
	return dst, errs.Err()
}

func appendSignal(dst []schemas.Interaction, s *Signal) ([]schemas.Interaction, error) {
	if s.SignalID <= 0 {
		return dst, schemas.Invalid(Name, "signal_id", strconv.FormatInt(s.SignalID, 10), "required: a positive number")
	}
	var at time.Time
	var err error
	switch {
	case s.PublishedDate != "":
		if at, err = time.Parse(time.DateOnly, s.PublishedDate); err != nil {
			return dst, schemas.Invalid(Name, "published_date", s.PublishedDate, "must be a date such as 2025-06-15")
		}
	case s.FetchedAt != "":
		if at, err = time.Parse(time.RFC3339Nano, s.FetchedAt); err != nil {
			return dst, schemas.Invalid(Name, "fetched_at", s.FetchedAt, "must be an RFC 3339 timestamp")
		}
	default:
		return dst, schemas.Invalid(Name, "published_date", "", "required (or fetched_at)")
	}
	dom := schemas.NormaliseDomain(s.CompanyDomain)
	if dom == "" && s.CompanyName == "" {
		return dst, schemas.Invalid(Name, "company_domain", s.CompanyDomain, "required: a domain (or company_name)")
	}
	dst, it := vendorkit.Next(dst)
	it.EventID, it.OccurredAt, it.Source, it.Type, it.Channel = strconv.FormatInt(s.SignalID, 10), at.UTC(), Name, schemas.TypeAccountSignal, schemas.ChannelCRM
	signals.Attrs(it, kindOf(s), dom, s.CompanyName, s.ArticleURL, strings.Join(s.Categories, ","))
	dst, err = vendorkit.Commit(dst)
	if err != nil {
		return dst, fmt.Errorf("%s: %w", Name, err)
	}
	return dst, nil
}
