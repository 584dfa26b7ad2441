// Package signals decodes SalesPulse's canonical market signal
// (docs/signals.md): one JSON object per record, or an array of them, on
// the sales.signals topic. Each becomes an account.signal interaction that
// the market_signal detector matches to an account.
package signals

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Signal is the canonical market signal, the JSON documented in
// docs/signals.md.
type Signal struct {
	SignalID   string `json:"signal_id"`
	OccurredAt string `json:"occurred_at"`
	Kind       string `json:"kind"`
	Source     string `json:"source"`
	URL        string `json:"url,omitempty"`
	AccountID  string `json:"account_id,omitempty"`
	Domain     string `json:"domain,omitempty"`
	Name       string `json:"name,omitempty"`
	Category   string `json:"category,omitempty"`
}

// Decoder decodes canonical signals. It is safe for concurrent use.
type Decoder struct{}

// NewDecoder returns the decoder; it needs neither the org nor metrics.
func NewDecoder(*schemas.Index, prometheus.Registerer) (*Decoder, error) { return &Decoder{}, nil }

// Decode appends the signals of value to dst. An array with bad elements
// keeps the good ones and reports each bad one by index.
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	v := trimSpace(value)
	if len(v) > 0 && v[0] == '[' {
		var all []Signal
		if err := json.Unmarshal(v, &all); err != nil {
			return dst, schemas.Invalid(Name, "", "", "malformed JSON: "+err.Error())
		}
		var errs vendorkit.Errors
		for k := range all {
			var err error
			if dst, err = Append(dst, &all[k]); err != nil {
				errs.Add(vendorkit.Prefix("["+strconv.Itoa(k)+"].", err))
			}
		}
		return dst, errs.Err()
	}
	var s Signal
	if err := json.Unmarshal(v, &s); err != nil {
		return dst, schemas.Invalid(Name, "", "", "malformed JSON: "+err.Error())
	}
	return Append(dst, &s)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// Append appends s as an account.signal interaction to dst, validated.
func Append(dst []schemas.Interaction, s *Signal) ([]schemas.Interaction, error) {
	switch {
	case s.SignalID == "":
		return dst, schemas.Invalid(Name, "signal_id", "", "required")
	case s.Source == "":
		return dst, schemas.Invalid(Name, "source", "", "required")
	case !schemas.ValidSignalKind(s.Kind):
		return dst, schemas.Invalid(Name, "kind", s.Kind, "must be one of executive_change, funding_round, hiring_surge, news")
	case s.OccurredAt == "":
		return dst, schemas.Invalid(Name, "occurred_at", "", "required")
	}
	at, err := time.Parse(time.RFC3339Nano, s.OccurredAt)
	if err != nil {
		return dst, schemas.Invalid(Name, "occurred_at", s.OccurredAt, "must be an RFC 3339 timestamp with an offset, such as 2026-11-02T09:30:00Z")
	}
	dom := schemas.NormaliseDomain(s.Domain)
	if s.Domain != "" && dom == "" {
		return dst, schemas.Invalid(Name, "domain", s.Domain, "not a domain or web address")
	}
	if s.AccountID == "" && dom == "" && s.Name == "" {
		return dst, schemas.Invalid(Name, "account_id", "", "one of account_id, domain, name is required")
	}
	dst, it := vendorkit.Next(dst)
	it.EventID, it.OccurredAt, it.Source, it.Type = s.SignalID, at.UTC(), s.Source, schemas.TypeAccountSignal
	it.Channel, it.AccountID = schemas.ChannelCRM, s.AccountID
	Attrs(it, s.Kind, dom, s.Name, s.URL, s.Category)
	dst, err = vendorkit.Commit(dst)
	if err != nil {
		return dst, fmt.Errorf("%s: %w", Name, err)
	}
	return dst, nil
}

// Attrs sets the signal attributes of it, leaving out empty ones: the
// provider decoders (sources/smarte, sources/specter) fill the same.
func Attrs(it *schemas.Interaction, kind, domain, company, url, category string) {
	vendorkit.SetAttr(it, schemas.AttrSignalKind, kind)
	for _, kv := range [...][2]string{{schemas.AttrSignalDomain, domain}, {schemas.AttrSignalCompany, company},
		{schemas.AttrSignalURL, url}, {schemas.AttrSignalCategory, category}} {
		if kv[1] != "" {
			vendorkit.SetAttrBytes(it, kv[0], []byte(kv[1]))
		}
	}
}
