package schemas

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the canonical JSON form of i to dst and returns the
// extended slice: one object, no trailing newline. Fields appear in a fixed
// order (event_id, occurred_at, source, type, rep_id, team_id, account_id,
// lead_id, channel, duration_s, amount, currency, list_price, discount_pct,
// approval_id, approved, approver_id, stage, contact, contact_key,
// contact_keys, attributes; inside contact: email, phone, mobile, name,
// country; inside contact_keys: email, phone, mobile); empty strings are
// omitted, and so are contact and contact_keys when all their members are.
// The optional numbers and approved only appear when their Has* bit is set,
// so a 0 % discount stays distinguishable from no discount. occurred_at is RFC 3339 in UTC with
// millisecond precision ("2026-11-26T09:15:02.123Z"); finer precision is
// truncated, which is why producers that need a byte-identical round trip
// keep event times at millisecond granularity. Attribute keys are written in
// sorted order so that equal interactions encode to equal bytes.
//
// Non-finite numbers (NaN, ±Inf) cannot be represented in JSON; such a field
// is omitted, which the decoder then reports as absent rather than as a
// silently wrong value. Invalid UTF-8 in strings becomes U+FFFD.
//
// AppendJSON does not allocate when dst has enough capacity and i has at
// most 64 attributes.
func AppendJSON(dst []byte, i *Interaction) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = appendString(dst, i.EventID)
	dst = append(dst, `,"occurred_at":"`...)
	dst = appendTime(dst, i.OccurredAt)
	dst = append(dst, '"')
	dst = appendStringField(dst, `,"source":`, i.Source)
	if i.Type != TypeUnknown {
		// Type and channel names are plain ASCII: no escaping needed.
		dst = append(dst, `,"type":"`...)
		dst = append(dst, i.Type.String()...)
		dst = append(dst, '"')
	}
	dst = appendStringField(dst, `,"rep_id":`, i.RepID)
	dst = appendStringField(dst, `,"team_id":`, i.TeamID)
	dst = appendStringField(dst, `,"account_id":`, i.AccountID)
	dst = appendStringField(dst, `,"lead_id":`, i.LeadID)
	if i.Channel != ChannelUnknown && i.Channel < numChannels {
		dst = append(dst, `,"channel":"`...)
		dst = append(dst, i.Channel.String()...)
		dst = append(dst, '"')
	}
	if i.Has&HasDuration != 0 {
		dst = appendFloatField(dst, `,"duration_s":`, i.DurationS)
	}
	if i.Has&HasAmount != 0 {
		dst = appendFloatField(dst, `,"amount":`, i.Amount)
	}
	dst = appendStringField(dst, `,"currency":`, i.Currency)
	if i.Has&HasListPrice != 0 {
		dst = appendFloatField(dst, `,"list_price":`, i.ListPrice)
	}
	if i.Has&HasDiscount != 0 {
		dst = appendFloatField(dst, `,"discount_pct":`, i.DiscountPct)
	}
	dst = appendStringField(dst, `,"approval_id":`, i.ApprovalID)
	if i.Has&HasApproved != 0 {
		if i.Approved {
			dst = append(dst, `,"approved":true`...)
		} else {
			dst = append(dst, `,"approved":false`...)
		}
	}
	dst = appendStringField(dst, `,"approver_id":`, i.ApproverID)
	dst = appendStringField(dst, `,"stage":`, i.Stage)
	dst = appendStringField(dst, `,"period":`, i.Period)
	if i.Customer {
		dst = append(dst, `,"customer":true`...)
	}
	if !i.Contact.IsZero() || i.Contact.Country != "" {
		dst = appendObject(dst, `,"contact":{`, [...]jsonField{
			{`"email":`, i.Contact.Email}, {`"phone":`, i.Contact.Phone}, {`"mobile":`, i.Contact.Mobile},
			{`"name":`, i.Contact.Name}, {`"country":`, i.Contact.Country},
		})
	}
	dst = appendStringField(dst, `,"contact_key":`, i.ContactKey)
	if !i.Keys.IsZero() {
		dst = appendObject(dst, `,"contact_keys":{`, [...]jsonField{
			{`"email":`, i.Keys.Email}, {`"phone":`, i.Keys.Phone}, {`"mobile":`, i.Keys.Mobile}, {}, {},
		})
	}
	if len(i.Attributes) > 0 {
		dst = appendAttributes(dst, i.Attributes)
	}
	return append(dst, '}')
}

// jsonField is one member of a small object of strings: its quoted name
// with the colon, and its value, omitted when empty.
type jsonField struct{ name, v string }

// appendObject writes open, the non-empty fields separated by commas, and
// '}'. A fixed-size array keeps the fields on the stack.
func appendObject(dst []byte, open string, fields [5]jsonField) []byte {
	dst = append(dst, open...)
	sep := false
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = append(dst, f.name...)
		dst = appendString(dst, f.v)
	}
	return append(dst, '}')
}

func appendStringField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, name...)
	return appendString(dst, v)
}

func appendFloatField(dst []byte, name string, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst
	}
	dst = append(dst, name...)
	return appendFloat(dst, f)
}

// appendFloat writes f the way encoding/json does: the shortest decimal that
// round-trips, in exponent form only for very large or very small values.
func appendFloat(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		// Whole numbers (most amounts and durations) skip the shortest-repr
		// search; "-0" is written as "0".
		if f == 0 {
			return append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(f), 10)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9 as encoding/json does; both are valid JSON,
		// this only keeps the output identical to the standard library's.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendTime writes t in UTC as 2006-01-02T15:04:05.000Z without going
// through time.Format's layout interpreter.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		// Not representable in RFC 3339; let the standard formatter produce
		// what it can, Validate rejects such times anyway.
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	dst = append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return dst
}

// safeASCII[c] is true for bytes that appear verbatim inside a JSON string.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendStringWith writes s as a quoted JSON string; safe says which
// ASCII bytes are copied verbatim. Plain ASCII (ids, names,
// most e-mail addresses) is copied in one append; anything else takes the
// escaping loop, which follows encoding/json: control characters as \n, \r,
// \t, \b, \f or \u00XX, U+2028 and U+2029 escaped (so the output is also valid
// JavaScript), invalid UTF-8 replaced by U+FFFD.
func appendStringWith(dst []byte, s string, safe *[utf8.RuneSelf]bool) []byte {
	dst = append(dst, '"')
	k := 0
	for k < len(s) && s[k] < utf8.RuneSelf && safe[s[k]] {
		k++
	}
	if k == len(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	dst = append(dst, s[:k]...)
	start := k
	for k < len(s) {
		c := s[k]
		if c < utf8.RuneSelf {
			if safe[c] {
				k++
				continue
			}
			dst = append(dst, s[start:k]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			k++
			start = k
			continue
		}
		r, size := utf8.DecodeRuneInString(s[k:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:k]...)
			dst = append(dst, `\ufffd`...)
			k += size
			start = k
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:k]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			k += size
			start = k
			continue
		}
		k += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendString writes s as a quoted JSON string: see appendStringWith,
// with safeASCII.
func appendString(dst []byte, s string) []byte { return appendStringWith(dst, s, &safeASCII) }

// htmlSafeASCII[c] is true for the ASCII bytes encoding/json copies
// verbatim into a string with HTML escaping on (its htmlSafeSet): not
// control characters, '"', '\\', '<', '>' or '&'.
var htmlSafeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendJSONStringHTML appends s quoted exactly as encoding/json's Marshal
// writes it (HTML escaping on: '<', '>' and '&' as \u00XX), for messages
// whose bytes must equal json.Marshal's (alert messages).
func AppendJSONStringHTML(dst []byte, s string) []byte {
	return appendStringWith(dst, s, &htmlSafeASCII)
}

// AppendJSONString appends s as a quoted JSON string, escaped as the
// canonical encoder escapes it (appendString). Vendor payload renderers
// use it, so every JSON string the project writes is escaped one way.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// appendAttributes writes the map with its keys sorted. Keys are gathered in
// a stack array (Validate caps attributes at MaxAttributes), so the common
// case does not allocate.
func appendAttributes(dst []byte, m map[string]string) []byte {
	var buf [MaxAttributes]string
	keys := buf[:0]
	if len(m) > len(buf) {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	// Insertion sort: attribute maps are small and this keeps the keys on
	// the stack (sort.Strings would make them escape).
	for a := 1; a < len(keys); a++ {
		for b := a; b > 0 && keys[b] < keys[b-1]; b-- {
			keys[b], keys[b-1] = keys[b-1], keys[b]
		}
	}
	dst = append(dst, `,"attributes":{`...)
	for n, k := range keys {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, m[k])
	}
	return append(dst, '}')
}
