package vendorkit

import (
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
)

// The helpers in this file are the lenient readers of the meeting, mail and
// telephony normalisers (sources/zoom, graph, aircall, twilio). Unlike
// Unquote and Number above, they unescape strings and tell an absent or null
// value apart from a bad one, because those vendors send optional fields as
// null and put escaped text (names, subjects) in the fields they read.

// Scalar returns the text of a JSON scalar held as a json.RawMessage: the
// content of a string (unescaped), the literal of a number or boolean. Absent
// and null both give (nil, true); objects and arrays give ok == false.
//
// The result aliases the record buffer unless the string had escapes, so it
// must be cloned (string(b)) before it outlives the record.
func Scalar(r []byte) (b []byte, ok bool) {
	if len(r) == 0 {
		return nil, true
	}
	switch c := r[0]; {
	case c == '"':
		if len(r) < 2 || r[len(r)-1] != '"' {
			return nil, false
		}
		in := r[1 : len(r)-1]
		for _, c := range in {
			if c == '\\' {
				var s string
				if err := json.Unmarshal(r, &s); err != nil {
					return nil, false
				}
				return []byte(s), true
			}
		}
		return in, true
	case c == 'n':
		return nil, string(r) == "null"
	case c == '{' || c == '[':
		return nil, false
	}
	return r, true
}

// Str is Scalar restricted to JSON strings and null.
func Str(r []byte) ([]byte, bool) {
	if len(r) > 0 && r[0] != '"' && r[0] != 'n' {
		return nil, false
	}
	return Scalar(r)
}

// View returns b as a string without copying, for lookups and comparisons
// that do not keep it. Never store the result: it aliases the record buffer.
func View(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Float parses a JSON number or a numeric string (through Scalar). present is
// false for absent or null; ok is false for anything else that is not a
// number. Unlike Number it takes what strconv.ParseFloat takes ("NaN",
// "Inf", hex floats): its callers range-check the result, which refuses NaN
// and infinities, and changing that would change what they accept.
func Float(r []byte) (f float64, present, ok bool) {
	b, ok := Scalar(r)
	if !ok {
		return 0, true, false
	}
	if b == nil {
		return 0, false, true
	}
	f, err := strconv.ParseFloat(View(b), 64)
	if err != nil {
		return 0, true, false
	}
	return f, true, true
}

// Earliest and Latest are the plausibility bounds of schemas.Validate as
// times, so a unit mistake is reported against the vendor field that carried
// it rather than against occurred_at.
var (
	Earliest = time.UnixMilli(earliest).UTC()
	Latest   = time.UnixMilli(latest).UTC()
)

// Plausible reports whether t lies within [Earliest, Latest).
func Plausible(t time.Time) bool { return !t.Before(Earliest) && t.Before(Latest) }

// RuleISOTime is the rule of a FieldError for a bad ISO-8601 date-time.
const RuleISOTime = "must be an ISO-8601 date-time between 2000 and 2100"

// ParseISO parses the ISO-8601 date-times of Zoom and Microsoft Graph:
// RFC 3339 ("2019-07-09T17:00:00Z", fractions and offsets allowed) and, as
// Zoom's older payloads do, a local form without zone that is read as UTC. time.Parse has an allocation-free fast path for
// the RFC 3339 layout.
func ParseISO(b []byte) (time.Time, bool) {
	s := View(b)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse("2006-01-02T15:04:05", s); err != nil {
			return time.Time{}, false
		}
	}
	return t.UTC(), true
}

// SetAttrBytes sets attribute k to a copy of v, allocating the map on first
// use and cutting v to schemas.MaxAttributeLen at a rune boundary (a longer
// value would fail Validate and lose the whole interaction).
func SetAttrBytes(it *schemas.Interaction, k string, v []byte) {
	if len(v) > schemas.MaxAttributeLen {
		n := schemas.MaxAttributeLen
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v = v[:n]
	}
	if it.Attributes == nil {
		it.Attributes = make(map[string]string, 4)
	}
	it.Attributes[k] = string(v)
}

// AppendLower appends s to dst with ASCII letters lower-cased (the org file
// stores mailboxes in lower case; non-ASCII bytes are kept as they are).
func AppendLower(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// E164 appends to dst the E.164 form of a human-formatted phone number:
// "+1 800-123-4567" → "+18001234567", "0033 1 23 45 67 89" → "+33123456789".
// Separators (space . - / parentheses) are dropped. A number without an
// international prefix keeps its digits without '+', since its country is
// unknown. Anything else ("anonymous", SIP addresses, letters) or a digit
// count outside 3..15 gives ok == false and dst unchanged.
func E164(dst, s []byte) (out []byte, ok bool) {
	n0 := len(dst)
	digits := 0
	for k := 0; k < len(s); k++ {
		switch c := s[k]; {
		case c >= '0' && c <= '9':
			if digits == 0 && c == '0' && k+1 < len(s) && s[k+1] == '0' && len(dst) == n0 {
				dst = append(dst, '+') // 00 international prefix
				k++
				continue
			}
			dst = append(dst, c)
			digits++
		case c == '+' && digits == 0 && len(dst) == n0:
			dst = append(dst, '+')
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')':
		default:
			return dst[:n0], false
		}
	}
	if digits < 3 || digits > 15 {
		return dst[:n0], false
	}
	return dst, true
}
