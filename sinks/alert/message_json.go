package alert

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// AppendJSON appends m to dst exactly as encoding/json's Marshal encodes
// it (field order and omitempty of the struct tags, HTML-safe string
// escaping, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped, map keys
// sorted, nil slice and map as null, times as RFC 3339 with nanoseconds),
// without reflection: the pipeline encodes every alert it emits, about
// 177,000 per million events (issue 17). The golden tests compare it with
// json.Marshal byte for byte. It allocates only when dst must grow or
// Values has more than 16 keys.
//
// Like json.Marshal it fails on a time whose year is outside [0, 9999] or
// whose zone offset is a day or more; dst is then returned unchanged.
func (m *Message) AppendJSON(dst []byte) ([]byte, error) {
	orig := dst
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, m.ID)
	dst = append(dst, `,"rule":`...)
	dst = appendJSONString(dst, m.Rule)
	dst = append(dst, `,"state":`...)
	dst = appendJSONString(dst, m.State)
	dst = append(dst, `,"severity":`...)
	dst = appendJSONString(dst, m.Severity)
	if m.RepID != "" {
		dst = append(dst, `,"rep_id":`...)
		dst = appendJSONString(dst, m.RepID)
	}
	if m.TeamID != "" {
		dst = append(dst, `,"team_id":`...)
		dst = appendJSONString(dst, m.TeamID)
	}
	if m.ManagerID != "" {
		dst = append(dst, `,"manager_id":`...)
		dst = appendJSONString(dst, m.ManagerID)
	}
	dst = append(dst, `,"summary":`...)
	dst = appendJSONString(dst, m.Summary)
	dst = append(dst, `,"event_ids":`...)
	if m.EventIDs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for k, id := range m.EventIDs {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, id)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"values":`...)
	dst = appendJSONMap(dst, m.Values)
	dst = append(dst, `,"at":`...)
	var err error
	if dst, err = appendJSONTime(dst, m.At); err != nil {
		return orig, fmt.Errorf("encode alert: at: %w", err)
	}
	if m.EndsAt != nil {
		dst = append(dst, `,"ends_at":`...)
		if dst, err = appendJSONTime(dst, *m.EndsAt); err != nil {
			return orig, fmt.Errorf("encode alert: ends_at: %w", err)
		}
	}
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendUint(dst, m.Version, 10)
	if m.Recipient != nil {
		dst = append(dst, `,"recipient":{"role":`...)
		dst = appendJSONString(dst, m.Recipient.Role)
		dst = append(dst, `,"id":`...)
		dst = appendJSONString(dst, m.Recipient.ID)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendJSONMap writes m with its keys sorted, as encoding/json does. The
// keys are gathered in a stack array for the maps detectors write (a
// handful of values).
func appendJSONMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	var buf [16]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) <= len(buf) {
		// Insertion sort keeps buf on the stack (slices.Sort would make it
		// escape) and is as fast for a handful of keys.
		for a := 1; a < len(keys); a++ {
			for b := a; b > 0 && keys[b] < keys[b-1]; b-- {
				keys[b], keys[b-1] = keys[b-1], keys[b]
			}
		}
	} else {
		slices.Sort(keys)
	}
	dst = append(dst, '{')
	for n, k := range keys {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, m[k])
	}
	return append(dst, '}')
}

// appendJSONTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros trimmed), which fails outside years
// [0, 9999] and zone offsets of a day or more: those take MarshalJSON
// itself, for its error.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	_, off := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || off <= -24*60*60 || off >= 24*60*60 {
		b, err := t.MarshalJSON()
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendJSONString writes s quoted as encoding/json writes strings
// (schemas.AppendJSONStringHTML: the canonical encoder's escaping, with
// '<', '>' and '&' escaped as json.Marshal escapes them).
func appendJSONString(dst []byte, s string) []byte { return schemas.AppendJSONStringHTML(dst, s) }
