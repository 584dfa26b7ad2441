package graph

// Helpers shared in spirit by the meeting, mail and telephony normalisers.
// They are copied, not imported: each vendor package stays self-contained and
// sources/<vendor> packages do not import each other (docs/STYLE.md).

import (
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
	"github.com/segmentio/encoding/json"
)

// scalar returns the text of a JSON scalar held as a json.RawMessage: the
// content of a string (unescaped), the literal of a number or boolean. Absent
// and null both give (nil, true); objects and arrays give ok == false.
//
// The result aliases the record buffer unless the string had escapes, so it
// must be cloned (string(b)) before it outlives the record.
func scalar(r []byte) (b []byte, ok bool) {
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

// str is scalar restricted to JSON strings and null.
func str(r []byte) ([]byte, bool) {
	if len(r) > 0 && r[0] != '"' && r[0] != 'n' {
		return nil, false
	}
	return scalar(r)
}

// view returns b as a string without copying, for lookups and comparisons
// that do not keep it. Never store the result: it aliases the record buffer.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// earliest and latest mirror the plausibility bounds of schemas.Validate, so
// a unit mistake is reported against the vendor field that carried it.
var (
	earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseISO parses Zoom's ISO-8601 date-times: RFC 3339 ("2019-07-09T17:00:00Z",
// fractions and offsets allowed) and, as Zoom's older payloads do, a local
// form without zone that is read as UTC. time.Parse has an allocation-free fast
// path for the RFC 3339 layout.
func parseISO(b []byte) (time.Time, bool) {
	s := view(b)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.Parse("2006-01-02T15:04:05", s); err != nil {
			return time.Time{}, false
		}
	}
	return t.UTC(), true
}

func plausible(t time.Time) bool { return !t.Before(earliest) && t.Before(latest) }

const ruleTime = "must be an ISO-8601 date-time between 2000 and 2100"

// number parses a JSON number or a numeric string.
func number(r []byte) (f float64, present, ok bool) {
	b, ok := scalar(r)
	if !ok {
		return 0, true, false
	}
	if b == nil {
		return 0, false, true
	}
	f, err := strconv.ParseFloat(view(b), 64)
	if err != nil {
		return 0, true, false
	}
	return f, true, true
}

// appendSlot extends dst by one zeroed interaction and returns a pointer to
// it. Elements in dst's spare capacity (between len and cap) are reused with
// their Attributes maps, as Batch.Reset leaves them: callers must not hold
// references into that spare capacity.
func appendSlot(dst []schemas.Interaction) ([]schemas.Interaction, *schemas.Interaction) {
	n := len(dst)
	if n < cap(dst) {
		dst = dst[:n+1]
		dst[n].Reset()
	} else {
		dst = append(dst, schemas.Interaction{})
	}
	return dst, &dst[n]
}

// setAttr sets an attribute, allocating the map on first use and cutting the
// value to schemas.MaxAttributeLen at a rune boundary.
func setAttr(ev *schemas.Interaction, k string, v []byte) {
	if len(v) > schemas.MaxAttributeLen {
		n := schemas.MaxAttributeLen
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v = v[:n]
	}
	if ev.Attributes == nil {
		ev.Attributes = make(map[string]string, 4)
	}
	ev.Attributes[k] = string(v)
}

// finish normalises and validates the interaction decoded last. Decoders
// build interactions that pass by construction; this is the safety net that
// keeps the contract "every appended interaction validates" true when a
// vendor sends something nobody foresaw.
func finish(dst []schemas.Interaction) ([]schemas.Interaction, error) {
	ev := &dst[len(dst)-1]
	ev.Normalize()
	if err := ev.Validate(); err != nil {
		return dst[:len(dst)-1], err
	}
	return dst, nil
}

// malformed is the error for a record that is not the JSON we expect.
func malformed(source string, value []byte, err error) error {
	return schemas.Invalid(source, "", string(value), "malformed JSON: "+err.Error())
}
