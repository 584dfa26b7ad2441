package canonical

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
)

// The fast path: a single pass over the bytes for records that are valid,
// which is nearly all of them.
//
// It accepts a subset of what the reference decoder (decode, on segmentio's
// json.Tokenizer) accepts and produces the same interactions for it; for
// everything else — any contract violation, any malformed JSON, nesting
// deeper than maxFastDepth — it declines, and Decode runs the reference
// decoder, which says precisely what is wrong. So no error is ever built
// here, and the error contract has one implementation. Invalid records
// therefore cost two passes; they are rare, and dead-lettered anyway.
//
// Strings that are plain printable ASCII (keys, ids, timestamps: almost
// everything) are used in place; valid UTF-8 without escapes likewise;
// strings with escapes or invalid UTF-8 are validated and unescaped by
// segmentio's tokenizer, exactly as the reference decoder does.
//
// FuzzFastMatchesReference checks, on arbitrary input, that whatever the
// fast path accepts the reference decoder accepts with an equal result and
// equal unknown-field counts.

// maxFastDepth bounds the recursion of skipFast; deeper unknown values go to
// the reference decoder, whose skipping is iterative.
const maxFastDepth = 32

// unknownSpan is one unknown field name in state.ukeys; contact marks a key
// inside "contact", counted as "contact.<name>".
type unknownSpan struct {
	span
	contact bool
}

// fast decodes value into dst if it is a valid record. ok false means
// "declined": the caller resets dst[len(dst on entry):] and decodes again
// with the reference decoder.
func (s *state) fast(dst []schemas.Interaction, in []byte) (_ []schemas.Interaction, ok bool) {
	s.ukeys = s.ukeys[:0]
	s.uspans = s.uspans[:0]
	i := skipWS(in, 0)
	if i >= len(in) {
		return dst, false
	}
	var it *schemas.Interaction
	switch in[i] {
	case '{':
		dst, it = take(dst)
		if i, ok = s.fastObject(it, in, i); !ok {
			return dst, false
		}
	case '[':
		i = skipWS(in, i+1)
		if i < len(in) && in[i] == ']' {
			i++
			break
		}
		for {
			if i >= len(in) || in[i] != '{' {
				return dst, false
			}
			dst, it = take(dst)
			if i, ok = s.fastObject(it, in, i); !ok {
				return dst, false
			}
			if i = skipWS(in, i); i >= len(in) {
				return dst, false
			}
			if in[i] == ']' {
				i++
				break
			}
			if in[i] != ',' {
				return dst, false
			}
			i = skipWS(in, i+1)
		}
	default:
		return dst, false
	}
	return dst, skipWS(in, i) == len(in)
}

// countUnknowns adds the unknown fields the fast path met to the metric.
func (s *state) countUnknowns() {
	for _, u := range s.uspans {
		k := s.ukeys[u.lo:u.hi]
		if u.contact {
			s.countUnknownIn("contact.", k)
		} else {
			s.countUnknown(k)
		}
	}
}

func (s *state) recordUnknown(key []byte, contact bool) {
	lo := len(s.ukeys)
	s.ukeys = append(s.ukeys, key...)
	s.uspans = append(s.uspans, unknownSpan{span{int32(lo), int32(len(s.ukeys))}, contact})
}

// skipWS returns the index of the first non-white-space byte at or after i.
// Compact JSON has none, so the first test usually decides.
func skipWS(in []byte, i int) int {
	if i < len(in) && in[i] > ' ' {
		return i
	}
	return skipWSLoop(in, i)
}

func skipWSLoop(in []byte, i int) int {
	for ; i < len(in); i++ {
		switch in[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return i
}

// take extends dst by one element, reusing spare capacity, for
// fastObject, which overwrites all of it but its Attributes map.
func take(dst []schemas.Interaction) ([]schemas.Interaction, *schemas.Interaction) {
	if len(dst) < cap(dst) {
		dst = dst[:len(dst)+1]
	} else {
		dst = append(dst, schemas.Interaction{})
	}
	return dst, &dst[len(dst)-1]
}

// fastObject decodes the object starting at in[i] == '{' into *dst, then
// normalises and validates it. It returns the index just past the object.
//
// The event is built on the stack and copied into *dst once: cheaper than
// clearing *dst first and then writing its fields one by one, each write a
// write barrier while the GC marks. Only dst's Attributes map is kept.
func (s *state) fastObject(dst *schemas.Interaction, in []byte, i int) (int, bool) {
	var it schemas.Interaction
	if it.Attributes = dst.Attributes; it.Attributes != nil {
		clear(it.Attributes)
	}
	i, ok := s.fastMembers(&it, in, i)
	if ok {
		*dst = it
	}
	return i, ok
}

func (s *state) fastMembers(it *schemas.Interaction, in []byte, i int) (int, bool) {
	s.resetEvent()
	var seen uint32
	if i = skipWS(in, i+1); i < len(in) && in[i] == '}' {
		return i + 1, s.finish(it) == nil
	}
	for {
		var key []byte
		var ok bool
		if key, i, ok = s.memberKey(in, i); !ok {
			return i, false
		}
		if i, ok = s.fastField(it, in, i, key, &seen); !ok {
			return i, false
		}
		var more bool
		if i, more, ok = memberEnd(in, i); !ok {
			return i, false
		}
		if !more {
			return i, s.finish(it) == nil
		}
	}
}

// memberKey reads an object member's `"key":` at in[i] (after whitespace)
// and returns the key and the index of its value. The key is valid until
// the next scanString into kbuf.
func (s *state) memberKey(in []byte, i int) (key []byte, _ int, ok bool) {
	if i >= len(in) || in[i] != '"' {
		return nil, i, false
	}
	key, j, ok := s.scanString(in, i, &s.kbuf)
	if !ok {
		return nil, i, false
	}
	if i = skipWS(in, j); i >= len(in) || in[i] != ':' {
		return nil, i, false
	}
	if i = skipWS(in, i+1); i >= len(in) {
		return nil, i, false
	}
	return key, i, true
}

// memberEnd reads what follows a member's value at in[i]: a ',' (more is
// true and i is at the next key) or the closing '}' (i is past it).
func memberEnd(in []byte, i int) (_ int, more, ok bool) {
	if i = skipWS(in, i); i >= len(in) {
		return i, false, false
	}
	switch in[i] {
	case '}':
		return i + 1, false, true
	case ',':
		return skipWS(in, i+1), true, true
	}
	return i, false, false
}

// fastField decodes the value at in[i] of the top-level member key.
func (s *state) fastField(it *schemas.Interaction, in []byte, i int, key []byte, seen *uint32) (int, bool) {
	var bit uint32
	switch string(key) {
	case "event_id":
		return s.fastStr(in, i, fEventID, seen)
	case "source":
		return s.fastStr(in, i, fSource, seen)
	case "rep_id":
		return s.fastStr(in, i, fRepID, seen)
	case "team_id":
		return s.fastStr(in, i, fTeamID, seen)
	case "account_id":
		return s.fastStr(in, i, fAccountID, seen)
	case "lead_id":
		return s.fastStr(in, i, fLeadID, seen)
	case "approval_id":
		return s.fastStr(in, i, fApprovalID, seen)
	case "approver_id":
		return s.fastStr(in, i, fApproverID, seen)
	case "stage":
		return s.fastStr(in, i, fStage, seen)
	case "currency":
		return s.fastStr(in, i, fCurrency, seen)
	case "duration_s":
		return s.fastNumber(in, i, &it.DurationS, &it.Has, schemas.HasDuration, seen, bDuration)
	case "amount":
		return s.fastNumber(in, i, &it.Amount, &it.Has, schemas.HasAmount, seen, bAmount)
	case "list_price":
		return s.fastNumber(in, i, &it.ListPrice, &it.Has, schemas.HasListPrice, seen, bListPrice)
	case "discount_pct":
		return s.fastNumber(in, i, &it.DiscountPct, &it.Has, schemas.HasDiscount, seen, bDiscount)
	case "occurred_at":
		bit = bOccurredAt
	case "type":
		bit = bType
	case "channel":
		bit = bChannel
	case "approved":
		bit = bApproved
	case "contact":
		bit = bContact
	case "attributes":
		bit = bAttributes
	default:
		s.recordUnknown(key, false)
		return s.skipFast(in, i, 0)
	}
	if *seen&bit != 0 {
		return i, false // duplicate key
	}
	*seen |= bit
	if j, ok := isNull(in, i); ok {
		return j, true
	}
	switch bit {
	case bApproved:
		if len(in)-i >= 4 && string(in[i:i+4]) == "true" {
			it.Approved = true
			it.Has |= schemas.HasApproved
			return i + 4, true
		}
		if len(in)-i >= 5 && string(in[i:i+5]) == "false" {
			it.Approved = false
			it.Has |= schemas.HasApproved
			return i + 5, true
		}
		return i, false
	case bContact:
		return s.fastContact(in, i)
	case bAttributes:
		return s.fastAttributes(in, i)
	}
	if in[i] != '"' {
		return i, false
	}
	v, j, ok := s.scanString(in, i, &s.vbuf)
	if !ok {
		return i, false
	}
	switch bit {
	case bOccurredAt:
		it.OccurredAt, ok, _ = parseRFC3339(v)
	case bType:
		it.Type, ok = schemas.ParseType(v)
	case bChannel:
		it.Channel, ok = schemas.ParseChannel(v)
	}
	return j, ok
}

// isNull reports whether in[i:] starts with the literal null.
func isNull(in []byte, i int) (int, bool) {
	if len(in)-i >= 4 && string(in[i:i+4]) == "null" {
		return i + 4, true
	}
	return i, false
}

// fastStr stores a string field (or null) in the identifier arena.
func (s *state) fastStr(in []byte, i, f int, seen *uint32) (int, bool) {
	if *seen&(1<<f) != 0 {
		return i, false
	}
	*seen |= 1 << f
	if in[i] != '"' {
		return isNull(in, i)
	}
	v, j, ok := s.scanString(in, i, &s.vbuf)
	if !ok {
		return i, false
	}
	lo := len(s.ids)
	s.ids = append(s.ids, v...)
	s.spans[f] = span{int32(lo), int32(len(s.ids))}
	return j, true
}

// fastNumber stores a number field (or null).
func (s *state) fastNumber(in []byte, i int, dst *float64, has *uint16, bit uint16, seen *uint32, seenBit uint32) (int, bool) {
	if *seen&seenBit != 0 {
		return i, false
	}
	*seen |= seenBit
	if in[i] == 'n' {
		return isNull(in, i)
	}
	n, ok := scanNumber(in, i)
	if !ok {
		return i, false
	}
	if n.exact {
		// Clinger's fast path: the mantissa (< 10^15) and the power of ten
		// (≤ 10^22) are exact doubles, so their IEEE quotient is the
		// correctly rounded value, the one strconv.ParseFloat returns.
		f := float64(n.mant)
		if n.frac > 0 {
			f /= pow10[n.frac]
		}
		if n.neg {
			f = -f
		}
		*dst = f
	} else {
		v := in[i:n.end]
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v), len(v)), 64)
		if err != nil {
			return i, false
		}
		*dst = f
	}
	*has |= bit
	return n.end, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number is a JSON number scanned by scanNumber.
type number struct {
	end   int    // index just past it
	mant  uint64 // its digits without the point, when exact
	frac  int    // digits after the point, when exact
	neg   bool
	exact bool // no exponent, at most 15 digits: mant/10^frac is the value
}

// scanNumber checks the JSON number grammar at in[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(in []byte, i int) (n number, ok bool) {
	j := i
	if j < len(in) && in[j] == '-' {
		n.neg = true
		j++
	}
	digits := 0
	switch {
	case j >= len(in):
		return n, false
	case in[j] == '0':
		j++
		digits = 1
	case in[j] >= '1' && in[j] <= '9':
		for ; j < len(in) && in[j] >= '0' && in[j] <= '9'; j++ {
			n.mant = n.mant*10 + uint64(in[j]-'0') // may wrap; then digits > 15
			digits++
		}
	default:
		return n, false
	}
	if j < len(in) && in[j] == '.' {
		j++
		start := j
		for ; j < len(in) && in[j] >= '0' && in[j] <= '9'; j++ {
			n.mant = n.mant*10 + uint64(in[j]-'0')
			digits++
		}
		if j == start {
			return n, false
		}
		n.frac = j - start
	}
	n.exact = digits <= 15
	if j < len(in) && (in[j] == 'e' || in[j] == 'E') {
		n.exact = false
		j++
		if j < len(in) && (in[j] == '+' || in[j] == '-') {
			j++
		}
		start := j
		for j < len(in) && in[j] >= '0' && in[j] <= '9' {
			j++
		}
		if j == start {
			return n, false
		}
	}
	n.end = j
	return n, true
}

// scanString reads the JSON string at in[i] == '"' and returns its content
// and the index just past it. The content aliases in when the string needs
// no unescaping, else *buf; either way it is valid until the next call with
// the same buf.
func (s *state) scanString(in []byte, i int, buf *[]byte) ([]byte, int, bool) {
	j := i + 1
	// Eight bytes at a time: nearly every string is short printable ASCII.
	for ; j+8 <= len(in); j += 8 {
		if m := stringStop(binary.LittleEndian.Uint64(in[j:])); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			goto stop
		}
	}
	for ; j < len(in); j++ {
		if c := in[j]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			goto stop
		}
	}
	return nil, i, false
stop:
	if in[j] == '"' {
		return in[i+1 : j], j + 1, true
	}
	return s.scanStringSlow(in, i, j, buf)
}

// stringStop marks (with its high bit) each byte of w that is '"', '\\',
// a control character or not ASCII. With the high bits cleared first, no
// byte's sum carries into the next, so every mark is exact (after
// graphics.stanford.edu/~seander/bithacks.html#HasLessInWord).
func stringStop(w uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	t := w &^ high
	// Each sum has its high bit clear exactly where the byte is to stop:
	// t < 0x20, t == '"', t == '\\'.
	keep := (t + ones*(0x80-0x20)) & ((t ^ ones*'"') + ones*0x7f) & ((t ^ ones*'\\') + ones*0x7f)
	return (^keep | w) & high
}

// scanStringSlow finishes scanString from in[j], the first byte that is not
// printable ASCII.
func (s *state) scanStringSlow(in []byte, i, j int, buf *[]byte) ([]byte, int, bool) {
	escaped := false
	for ; j < len(in); j++ {
		switch c := in[j]; {
		case c == '"':
			content := in[i+1 : j]
			if !escaped && utf8.Valid(content) {
				// What the tokenizer's unquoting returns for it, unchanged.
				return content, j + 1, true
			}
			// Escapes or invalid UTF-8: segmentio validates the escapes and
			// unquotes (invalid UTF-8 becomes U+FFFD), as in the reference
			// decoder.
			s.tok.Reset(in[i : j+1])
			if !s.tok.Next() || s.tok.Remaining() != 0 || !s.tok.Value.String() {
				return nil, i, false
			}
			*buf = s.tok.Value.AppendUnquote((*buf)[:0])
			return *buf, j + 1, true
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

// fastContact decodes the contact object at in[i].
func (s *state) fastContact(in []byte, i int) (int, bool) {
	if in[i] != '{' {
		return i, false
	}
	var seen uint32
	if i = skipWS(in, i+1); i < len(in) && in[i] == '}' {
		return i + 1, true
	}
	for {
		var key []byte
		var ok bool
		if key, i, ok = s.memberKey(in, i); !ok {
			return i, false
		}
		f := -1
		switch string(key) {
		case "email":
			f = 0
		case "phone":
			f = 1
		case "name":
			f = 2
		}
		switch {
		case f < 0:
			s.recordUnknown(key, true)
			i, ok = s.skipFast(in, i, 0)
		case seen&(1<<f) != 0:
			return i, false
		case in[i] == '"':
			seen |= 1 << f
			var v []byte
			if v, i, ok = s.scanString(in, i, &s.vbuf); ok {
				lo := len(s.pers)
				s.pers = append(s.pers, v...)
				s.contact[f] = span{int32(lo), int32(len(s.pers))}
			}
		default:
			seen |= 1 << f
			i, ok = isNull(in, i)
		}
		if !ok {
			return i, false
		}
		var more bool
		if i, more, ok = memberEnd(in, i); !ok || !more {
			return i, ok
		}
	}
}

// fastAttributes decodes the string→string attributes object at in[i]. A
// null value means the attribute is absent.
func (s *state) fastAttributes(in []byte, i int) (int, bool) {
	if in[i] != '{' {
		return i, false
	}
	if i = skipWS(in, i+1); i < len(in) && in[i] == '}' {
		return i + 1, true
	}
	for {
		var key []byte
		var ok bool
		if key, i, ok = s.memberKey(in, i); !ok {
			return i, false
		}
		if in[i] != '"' {
			if i, ok = isNull(in, i); !ok {
				return i, false
			}
		} else {
			var v []byte
			if v, i, ok = s.scanString(in, i, &s.vbuf); !ok {
				return i, false
			}
			if s.nattrs++; s.nattrs > schemas.MaxAttributes || len(key) > schemas.MaxIDLen || len(v) > schemas.MaxAttributeLen {
				return i, false
			}
			for _, b := range s.attrs {
				if bytes.Equal(s.pers[b.k.lo:b.k.hi], key) {
					return i, false
				}
			}
			lo := len(s.pers)
			s.pers = append(s.pers, key...)
			k := span{int32(lo), int32(len(s.pers))}
			s.pers = append(s.pers, v...)
			s.attrs = append(s.attrs, attr{k, span{k.hi, int32(len(s.pers))}})
		}
		var more bool
		if i, more, ok = memberEnd(in, i); !ok || !more {
			return i, ok
		}
	}
}

// skipFast checks the syntax of the (unknown field's) value at in[i] and
// returns the index just past it.
func (s *state) skipFast(in []byte, i, depth int) (int, bool) {
	switch in[i] {
	case '"':
		_, j, ok := s.scanString(in, i, &s.vbuf)
		return j, ok
	case 'n':
		return isNull(in, i)
	case 't':
		if len(in)-i >= 4 && string(in[i:i+4]) == "true" {
			return i + 4, true
		}
		return i, false
	case 'f':
		if len(in)-i >= 5 && string(in[i:i+5]) == "false" {
			return i + 5, true
		}
		return i, false
	case '{', '[':
		if depth >= maxFastDepth {
			return i, false
		}
		obj := in[i] == '{'
		end := byte(']')
		if obj {
			end = '}'
		}
		if i = skipWS(in, i+1); i < len(in) && in[i] == end {
			return i + 1, true
		}
		for {
			if i >= len(in) {
				return i, false
			}
			var ok bool
			if obj {
				if in[i] != '"' {
					return i, false
				}
				var j int
				if _, j, ok = s.scanString(in, i, &s.vbuf); !ok {
					return i, false
				}
				if i = skipWS(in, j); i >= len(in) || in[i] != ':' {
					return i, false
				}
				if i = skipWS(in, i+1); i >= len(in) {
					return i, false
				}
			}
			if i, ok = s.skipFast(in, i, depth+1); !ok {
				return i, false
			}
			if i = skipWS(in, i); i >= len(in) {
				return i, false
			}
			if in[i] == end {
				return i + 1, true
			}
			if in[i] != ',' {
				return i, false
			}
			i = skipWS(in, i+1)
		}
	}
	n, ok := scanNumber(in, i)
	return n.end, ok
}
