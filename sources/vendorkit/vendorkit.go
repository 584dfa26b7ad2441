// Package vendorkit holds the small pieces the vendor normalisers
// (sources/salesforce, hubspot, zoom, graph, aircall, twilio) share: lenient
// scalar parsing of raw JSON values, reuse of interaction slots in a
// destination slice, the collection of per-event errors of a record that
// carries many events, the pooled parse of a record, topic name
// validation, the skipped-records counter; and what every vendor folder
// declares itself with (vendor.go) and renders the generator's
// interactions with (synth.go).
//
// Raw values are the bytes of one JSON value as segmentio/encoding/json
// leaves them in a json.RawMessage with json.ZeroCopy: nil when the key was
// absent, "null" when it was null. Nothing here keeps a reference to them.
package vendorkit

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// Null reports whether raw is absent or the JSON null.
func Null(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// Unquote returns the content of a JSON string without escapes, or raw itself
// when it is not a string. It does not allocate; ok is false when the string
// has escapes (callers then fall back to a full decode or reject the value).
func Unquote(raw []byte) (b []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return raw, true
	}
	b = raw[1 : len(raw)-1]
	for _, c := range b {
		if c == '\\' || c < 0x20 {
			return b, false
		}
	}
	return b, true
}

// Number parses a JSON number or a JSON string holding one (HubSpot and some
// Salesforce connectors quote numbers). ok is false for null, absent,
// non-numeric, NaN and infinite values.
func Number(raw []byte) (float64, bool) {
	if Null(raw) {
		return 0, false
	}
	b, ok := Unquote(raw)
	if !ok || len(b) == 0 {
		return 0, false
	}
	// strconv accepts "NaN", "Inf" and hex floats, which JSON does not; the
	// first byte check keeps those out.
	if c := b[0]; c != '-' && (c < '0' || c > '9') && c != '.' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Digits returns the decimal digits of a non-negative JSON integer or a JSON
// string holding one (ids that must not go through float64, which loses
// precision above 2^53). ok is false for anything else, including "".
func Digits(raw []byte) ([]byte, bool) {
	if Null(raw) {
		return nil, false
	}
	b, ok := Unquote(raw)
	if !ok || len(b) == 0 || len(b) > 20 {
		return nil, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	return b, true
}

// Bool parses true/false (also as strings). present is false for null or
// absent, which in change events means "unchanged".
func Bool(raw []byte) (v, present, ok bool) {
	if Null(raw) {
		return false, false, true
	}
	b, _ := Unquote(raw)
	switch string(b) {
	case "true":
		return true, true, true
	case "false":
		return false, true, true
	}
	return false, true, false
}

// earliest and latest are the bounds schemas.Validate enforces; checking them
// here lets decoders blame the vendor field instead of occurred_at.
var (
	earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	latest   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
)

// RuleMillis is the rule of a FieldError for a bad epoch-millisecond value.
const RuleMillis = "must be epoch milliseconds between 2000-01-01 and 2100-01-01"

// Millis parses epoch milliseconds (a JSON integer or a string holding one)
// into a UTC time. ok is false when absent, malformed or implausible:
// seconds sent instead of milliseconds land in 1970 and are refused.
func Millis(raw []byte) (time.Time, bool) {
	d, ok := Digits(raw)
	if !ok {
		// Some connectors emit 1.714411236e12 or 1714411236000.0.
		f, ok := Number(raw)
		if !ok || f != math.Trunc(f) || f < float64(earliest) || f >= float64(latest) {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(f)).UTC(), true
	}
	ms, err := strconv.ParseInt(string(d), 10, 64)
	if err != nil || ms < earliest || ms >= latest {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// Next returns dst grown by one interaction and a pointer to it. When dst has
// spare capacity the slot is reused after Reset, so a batch that is recycled
// keeps the Attributes maps it already allocated.
func Next(dst []schemas.Interaction) ([]schemas.Interaction, *schemas.Interaction) {
	n := len(dst)
	if n < cap(dst) {
		dst = dst[:n+1]
		dst[n].Reset()
	} else {
		dst = append(dst, schemas.Interaction{})
	}
	return dst, &dst[n]
}

// SetAttr sets attribute k, creating the map on first use.
func SetAttr(it *schemas.Interaction, k, v string) {
	if it.Attributes == nil {
		it.Attributes = make(map[string]string, 4)
	}
	it.Attributes[k] = v
}

// Errors collects the per-event errors of one record.
type Errors struct {
	errs []error
}

// Add records err (nil is ignored).
func (e *Errors) Add(err error) {
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

// Len is the number of errors recorded.
func (e *Errors) Len() int { return len(e.errs) }

// Err returns nil, the single error, or all of them joined (errors.As finds
// the first *schemas.FieldError, errors.Is(err, schemas.ErrInvalid) holds).
// It resets e for reuse.
func (e *Errors) Err() error {
	var err error
	switch len(e.errs) {
	case 0:
	case 1:
		err = e.errs[0]
	default:
		err = errors.Join(e.errs...)
	}
	clear(e.errs)
	e.errs = e.errs[:0]
	return err
}

// Commit normalises and validates the interaction a decoder has just filled
// in the last slot of dst. On failure it drops the slot and returns the
// validation error, so nothing invalid is ever handed on.
func Commit(dst []schemas.Interaction) ([]schemas.Interaction, error) {
	it := &dst[len(dst)-1]
	it.Normalize()
	if err := it.Validate(); err != nil {
		return dst[:len(dst)-1], err
	}
	return dst, nil
}

// Drop removes the last slot of dst (an interaction abandoned half-built).
func Drop(dst []schemas.Interaction) []schemas.Interaction { return dst[:len(dst)-1] }

// Prefix returns a copy of fe with its field path prefixed (e.g. "[3]." for
// the fourth event of a batch).
func Prefix(prefix string, err error) error {
	if prefix == "" {
		return err
	}
	var fe *schemas.FieldError
	if errors.As(err, &fe) {
		c := *fe
		if c.Field == "" {
			c.Field = prefix[:len(prefix)-1]
		} else {
			c.Field = prefix + c.Field
		}
		return &c
	}
	return err
}

// Interner returns owned strings for low-cardinality values (stages,
// currencies, user ids) without allocating for repeats. It is bounded so a
// hostile producer cannot grow it without limit; beyond the bound it clones.
// Not safe for concurrent use: keep one per goroutine-local scratch.
type Interner struct {
	m map[string]string
}

const maxInterned = 4096

// String returns an owned copy of b (which may point into a record buffer).
func (n *Interner) String(b string) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := n.m[b]; ok {
		return s
	}
	s := strings.Clone(b)
	if len(b) <= 64 {
		if n.m == nil {
			n.m = make(map[string]string, 64)
		}
		if len(n.m) < maxInterned {
			n.m[s] = s
		}
	}
	return s
}

// Register registers c with reg (nil: not registered), or returns the
// collector already registered under the same name, so several decoders of
// one vendor (one per topic) can share a registry and count into the same
// series. An existing collector of another type is an error.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, err
	}
	return c, nil
}

// NewSkipped registers (see Register) the counter every vendor normaliser
// keeps of records or events it deliberately turns into no interaction:
// salespulse_<vendor>_skipped_total{reason}. Callers resolve its children
// once, not per record.
func NewSkipped(reg prometheus.Registerer, vendor, help string) (*prometheus.CounterVec, error) {
	return Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "salespulse_" + vendor + "_skipped_total",
		Help: help,
	}, []string{"reason"}))
}

// TypeErrorValue turns the Value of a segmentio json.UnmarshalTypeError (the
// quoted input at the point of the error) back into the raw input.
func TypeErrorValue(v string) string {
	if u, err := strconv.Unquote(v); err == nil {
		return u
	}
	return v
}
