package canonical

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical/internal/jsonscan"
	"github.com/salespulse/salespulse/sources/canonical/internal/rfc3339"
)

// The fast path: a single pass over the bytes for records that are valid,
// which is nearly all of them.
//
// It accepts a subset of what the reference decoder (decode, on segmentio's
// json.Tokenizer) accepts and produces the same interactions for it; for
// everything else — any contract violation, any malformed JSON, nesting
// deeper than jsonscan.MaxDepth — it declines, and Decode runs the reference
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
	i := jsonscan.SkipWS(in, 0)
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
		i = jsonscan.SkipWS(in, i+1)
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
			if i = jsonscan.SkipWS(in, i); i >= len(in) {
				return dst, false
			}
			if in[i] == ']' {
				i++
				break
			}
			if in[i] != ',' {
				return dst, false
			}
			i = jsonscan.SkipWS(in, i+1)
		}
	default:
		return dst, false
	}
	return dst, jsonscan.SkipWS(in, i) == len(in)
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
	if i = jsonscan.SkipWS(in, i+1); i < len(in) && in[i] == '}' {
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
// the next jsonscan.String into kbuf.
func (s *state) memberKey(in []byte, i int) (key []byte, _ int, ok bool) {
	if i >= len(in) || in[i] != '"' {
		return nil, i, false
	}
	key, j, ok := jsonscan.String(in, i, &s.tok, &s.kbuf)
	if !ok {
		return nil, i, false
	}
	if i = jsonscan.SkipWS(in, j); i >= len(in) || in[i] != ':' {
		return nil, i, false
	}
	if i = jsonscan.SkipWS(in, i+1); i >= len(in) {
		return nil, i, false
	}
	return key, i, true
}

// memberEnd reads what follows a member's value at in[i]: a ',' (more is
// true and i is at the next key) or the closing '}' (i is past it).
func memberEnd(in []byte, i int) (_ int, more, ok bool) {
	if i = jsonscan.SkipWS(in, i); i >= len(in) {
		return i, false, false
	}
	switch in[i] {
	case '}':
		return i + 1, false, true
	case ',':
		return jsonscan.SkipWS(in, i+1), true, true
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
	case "period":
		return s.fastStr(in, i, fPeriod, seen)
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
	case "customer":
		bit = bCustomer
	case "contact":
		bit = bContact
	case "attributes":
		bit = bAttributes
	default:
		s.recordUnknown(key, false)
		return jsonscan.Skip(in, i, 0, &s.tok, &s.vbuf)
	}
	if *seen&bit != 0 {
		return i, false // duplicate key
	}
	*seen |= bit
	if j, ok := jsonscan.Null(in, i); ok {
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
	case bCustomer:
		if len(in)-i >= 4 && string(in[i:i+4]) == "true" {
			it.Customer = true
			return i + 4, true
		}
		if len(in)-i >= 5 && string(in[i:i+5]) == "false" {
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
	v, j, ok := jsonscan.String(in, i, &s.tok, &s.vbuf)
	if !ok {
		return i, false
	}
	switch bit {
	case bOccurredAt:
		it.OccurredAt, ok, _ = rfc3339.Parse(v)
	case bType:
		it.Type, ok = schemas.ParseType(v)
	case bChannel:
		it.Channel, ok = schemas.ParseChannel(v)
	}
	return j, ok
}

// fastStr stores a string field (or null) in the identifier arena.
func (s *state) fastStr(in []byte, i, f int, seen *uint32) (int, bool) {
	if *seen&(1<<f) != 0 {
		return i, false
	}
	*seen |= 1 << f
	if in[i] != '"' {
		return jsonscan.Null(in, i)
	}
	v, j, ok := jsonscan.String(in, i, &s.tok, &s.vbuf)
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
		return jsonscan.Null(in, i)
	}
	n, ok := jsonscan.ScanNumber(in, i)
	if !ok {
		return i, false
	}
	if n.Exact {
		// Clinger's fast path: the mantissa (< 10^15) and the power of ten
		// (≤ 10^22) are exact doubles, so their IEEE quotient is the
		// correctly rounded value, the one strconv.ParseFloat returns.
		f := float64(n.Mant)
		if n.Frac > 0 {
			f /= jsonscan.Pow10[n.Frac]
		}
		if n.Neg {
			f = -f
		}
		*dst = f
	} else {
		v := in[i:n.End]
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v), len(v)), 64)
		if err != nil {
			return i, false
		}
		*dst = f
	}
	*has |= bit
	return n.End, true
}

// fastContact decodes the contact object at in[i].
func (s *state) fastContact(in []byte, i int) (int, bool) {
	if in[i] != '{' {
		return i, false
	}
	var seen uint32
	if i = jsonscan.SkipWS(in, i+1); i < len(in) && in[i] == '}' {
		return i + 1, true
	}
	for {
		var key []byte
		var ok bool
		if key, i, ok = s.memberKey(in, i); !ok {
			return i, false
		}
		f := contactField(key)
		switch {
		case f < 0:
			s.recordUnknown(key, true)
			i, ok = jsonscan.Skip(in, i, 0, &s.tok, &s.vbuf)
		case seen&(1<<f) != 0:
			return i, false
		case in[i] == '"':
			seen |= 1 << f
			var v []byte
			if v, i, ok = jsonscan.String(in, i, &s.tok, &s.vbuf); ok {
				lo := len(s.pers)
				s.pers = append(s.pers, v...)
				s.contact[f] = span{int32(lo), int32(len(s.pers))}
			}
		default:
			seen |= 1 << f
			i, ok = jsonscan.Null(in, i)
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
	if i = jsonscan.SkipWS(in, i+1); i < len(in) && in[i] == '}' {
		return i + 1, true
	}
	for {
		var key []byte
		var ok bool
		if key, i, ok = s.memberKey(in, i); !ok {
			return i, false
		}
		if in[i] != '"' {
			if i, ok = jsonscan.Null(in, i); !ok {
				return i, false
			}
		} else {
			var v []byte
			if v, i, ok = jsonscan.String(in, i, &s.tok, &s.vbuf); !ok {
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
