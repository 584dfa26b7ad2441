package schemas

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrInvalid is wrapped by every *FieldError, so callers can tell bad input
// (dead-letter it, keep going) from a failure of the pipeline itself.
var ErrInvalid = errors.New("invalid event")

// FieldError says exactly what is wrong with one field of one event: which
// field, what value arrived and which rule it broke. It travels with the
// record to the dead-letter topic, so producers can fix their side.
type FieldError struct {
	Source string // "canonical", "salesforce", ... ("" when not known yet)
	Field  string // JSON path of the field, e.g. "discount_pct", "payload.ChangeEventHeader.commitTimestamp"
	Value  string // the offending value, truncated to 128 bytes ("" when missing)
	Rule   string // the rule broken, e.g. "required", "must be between 0 and 100"
}

// Error renders "canonical: field discount_pct: value \"140\": must be between 0 and 100".
func (e *FieldError) Error() string {
	var b []byte
	if e.Source != "" {
		b = append(b, e.Source...)
		b = append(b, ": "...)
	}
	if e.Field != "" {
		b = append(b, "field "...)
		b = append(b, e.Field...)
		b = append(b, ": "...)
	}
	if e.Value != "" {
		b = append(b, "value "...)
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ": "...)
	}
	b = append(b, e.Rule...)
	return string(b)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Invalid builds a *FieldError, truncating the value so a 2 MB field does
// not become a 2 MB error header.
func Invalid(source, field, value, rule string) *FieldError {
	const max = 128
	if len(value) > max {
		value = value[:max] + "…"
	}
	return &FieldError{Source: source, Field: field, Value: value, Rule: rule}
}

// Limits that keep one bad producer from filling ClickHouse with garbage.
const (
	MaxIDLen        = 256
	MaxAttributes   = 64
	MaxAttributeLen = 1024
)

// earliest and latest bound plausible event times: anything outside is a unit
// mistake (seconds sent as milliseconds, or the reverse) rather than history.
var (
	earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate checks i against the canonical contract (docs/canonical-schema.md)
// and returns the first violation as a *FieldError. It does not mutate i;
// call Normalize first so defaults are filled.
func (i *Interaction) Validate() error {
	if err := i.ValidateFields(); err != nil {
		return err
	}
	if len(i.Attributes) > MaxAttributes {
		return Invalid(i.Source, "attributes", strconv.Itoa(len(i.Attributes)), fmt.Sprintf("more than %d entries", MaxAttributes))
	}
	for k, v := range i.Attributes {
		if len(k) > MaxIDLen || len(v) > MaxAttributeLen {
			return Invalid(i.Source, "attributes."+k, v, fmt.Sprintf("key longer than %d or value longer than %d bytes", MaxIDLen, MaxAttributeLen))
		}
	}
	return nil
}

// ValidateFields is Validate without the attribute limits (at most
// MaxAttributes entries, key and value lengths), for decoders that enforce
// them, with the same messages, while reading: ranging over the map again
// was over half of Validate's cost. Type rules that read attributes (an
// account.signal's kind and domain) still apply, so the attributes must be
// stored first.
func (i *Interaction) ValidateFields() error {
	src := i.Source
	switch {
	case i.EventID == "":
		return Invalid(src, "event_id", "", "required")
	case len(i.EventID) > MaxIDLen:
		return Invalid(src, "event_id", i.EventID, fmt.Sprintf("longer than %d bytes", MaxIDLen))
	case i.OccurredAt.IsZero():
		return Invalid(src, "occurred_at", "", "required")
	case i.OccurredAt.Before(earliest) || !i.OccurredAt.Before(latest):
		return Invalid(src, "occurred_at", i.OccurredAt.Format(time.RFC3339), "must be between 2000-01-01 and 2100-01-01")
	case i.Source == "":
		return Invalid(src, "source", "", "required")
	case i.Type == TypeUnknown || i.Type >= numTypes:
		return Invalid(src, "type", "", "required")
	case i.Type.RequiresRep() && i.RepID == "":
		return Invalid(src, "rep_id", "", "required for type "+i.Type.String())
	case i.Channel >= numChannels:
		return Invalid(src, "channel", "", "unknown channel")
	}
	for _, f := range [...]struct {
		name, v string
	}{
		{"source", i.Source}, {"rep_id", i.RepID}, {"team_id", i.TeamID}, {"account_id", i.AccountID},
		{"lead_id", i.LeadID}, {"approval_id", i.ApprovalID}, {"approver_id", i.ApproverID}, {"stage", i.Stage},
		{"period", i.Period},
	} {
		if len(f.v) > MaxIDLen {
			return Invalid(src, f.name, f.v, fmt.Sprintf("longer than %d bytes", MaxIDLen))
		}
	}
	if i.Has&HasDuration != 0 && !(i.DurationS >= 0 && i.DurationS <= 7*24*3600) {
		return Invalid(src, "duration_s", ftoa(i.DurationS), "must be between 0 and 604800 (one week)")
	}
	if i.Has&HasAmount != 0 && !(i.Amount >= 0 && !math.IsInf(i.Amount, 0)) {
		return Invalid(src, "amount", ftoa(i.Amount), "must be a finite number >= 0")
	}
	if i.Has&HasListPrice != 0 && !(i.ListPrice >= 0 && !math.IsInf(i.ListPrice, 0)) {
		return Invalid(src, "list_price", ftoa(i.ListPrice), "must be a finite number >= 0")
	}
	if i.Has&HasDiscount != 0 && !(i.DiscountPct >= 0 && i.DiscountPct <= 100) {
		return Invalid(src, "discount_pct", ftoa(i.DiscountPct), "must be between 0 and 100")
	}
	if c := i.Currency; c != "" && !isCurrency(c) {
		return Invalid(src, "currency", c, "must be a three-letter ISO 4217 code")
	}
	if (i.Type == TypeApprovalRequested || i.Type == TypeApprovalDecided) && i.ApprovalID == "" {
		return Invalid(src, "approval_id", "", "required for type "+i.Type.String())
	}
	if i.Type == TypeAlertAcknowledged {
		// An acknowledgement without its lead or its alert stops nothing:
		// reject it where the producer can see why.
		switch {
		case i.LeadID == "":
			return Invalid(src, "lead_id", "", "required for type alert.acknowledged")
		case i.ApprovalID == "":
			return Invalid(src, "approval_id", "", "required for type alert.acknowledged")
		}
	}
	if i.Period != "" {
		if _, ok := ParsePeriod(i.Period); !ok {
			return Invalid(src, "period", i.Period, "must be a month YYYY-MM or a quarter YYYY-Qn, 2000 to 2099")
		}
	}
	if i.Type == TypeForecastSubmitted {
		// A forecast without its period, amount, category or owner
		// cannot be compared with anything: reject it where the producer
		// sees why.
		switch {
		case i.Period == "":
			return Invalid(src, "period", "", "required for type forecast.submitted")
		case i.Has&HasAmount == 0:
			return Invalid(src, "amount", "", "required for type forecast.submitted")
		case i.RepID == "" && i.TeamID == "":
			return Invalid(src, "rep_id", "", "rep_id or team_id required for type forecast.submitted")
		case !IsForecastCategory(i.Stage):
			return Invalid(src, "stage", i.Stage, "forecast category required for type forecast.submitted: commit, best_case or pipeline")
		}
	}
	switch i.Type {
	case TypeAccountUpdated:
		// Ownership of nothing teaches the account directory nothing.
		if i.AccountID == "" {
			return Invalid(src, "account_id", "", "required for type account.updated")
		}
	case TypeAccountSignal:
		// A signal names its kind and something to match an account by
		// (docs/signals.md).
		if k := i.Attributes[AttrSignalKind]; !ValidSignalKind(k) {
			return Invalid(src, "attributes."+AttrSignalKind, k, "must be one of executive_change, funding_round, hiring_surge, news")
		}
		if i.AccountID == "" && i.Attributes[AttrSignalDomain] == "" && i.Attributes[AttrSignalCompany] == "" {
			return Invalid(src, "account_id", "", "account.signal needs account_id, attributes.signal_domain or attributes.signal_company")
		}
	}
	if i.Type == TypeApprovalDecided && i.Has&HasApproved == 0 {
		return Invalid(src, "approved", "", "required for type approval.decided")
	}
	return nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for k := 0; k < 3; k++ {
		if c[k] < 'A' || c[k] > 'Z' {
			return false
		}
	}
	return true
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
