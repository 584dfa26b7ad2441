// Package canonical decodes SalesPulse's own event format, canonical JSON v1
// (docs/canonical-schema.md), into schemas.Interaction. It is the hot path
// for producers that already speak the canonical contract, and the format
// the generator writes.
package canonical

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical/internal/rfc3339"
)

// Source is the FieldError.Source of every error this package returns.
const Source = "canonical"

// Decoder turns canonical JSON records into interactions.
//
// A Decoder is safe for concurrent use: per-call scratch state comes from a
// sync.Pool, so workers may share one Decoder (and should: the bound on the
// unknown-field metric's label values is kept per Decoder).
type Decoder struct {
	m    *metrics
	pool sync.Pool // *state
}

// NewDecoder returns a Decoder whose metrics are registered with reg (nil:
// not registered). Several decoders may share one registry.
func NewDecoder(reg prometheus.Registerer) *Decoder {
	d := &Decoder{m: newMetrics(reg)}
	d.pool.New = func() any { return &state{m: d.m, unknown: map[string]prometheus.Counter{}} }
	return d
}

// Decode appends the interactions in value to dst and returns the extended
// slice.
//
// value is one JSON object (one event) or a JSON array of objects. For a
// single object the error is a *schemas.FieldError naming the field, the
// value and the rule broken; nothing is appended then. For an array, valid
// elements are appended and the invalid ones are described by an
// *ArrayError carrying each element's index. Malformed JSON anywhere rejects
// the whole record with a *schemas.FieldError whose rule starts with
// "malformed JSON:" and gives the byte offset. Every error wraps
// schemas.ErrInvalid.
//
// Each appended interaction has been normalised and validated. Its strings
// do not alias value, which may be reused once Decode returns; the
// identifiers (event_id, source, rep_id, …, currency) of one event share one
// allocation and the contact and attributes another, so holding a rep_id
// for hours does not keep personal data alive. Elements of dst between
// len(dst) and cap(dst) are reused, including their Attributes maps: pass a
// slice whose spare capacity nobody else references (schemas.Batch after
// Reset qualifies).
//
// Valid records take a single pass over the bytes (fast.go); a record that
// pass declines — any invalid or malformed one — is decoded again by the
// tokenizer-based reference decoder, which describes what is wrong, so a
// rejected record costs roughly two decodes (BenchmarkDecodeInvalid).
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	s := d.pool.Get().(*state)
	defer d.pool.Put(s)
	n := len(dst)
	out, ok := s.fast(dst, value)
	if ok {
		s.countUnknowns()
		s.m.decoded.Add(float64(len(out) - n))
		return out, nil
	}
	// The fast path declined (an invalid event, malformed JSON, or input it
	// does not handle): decode again with the tokenizer, which reports the
	// precise error. Nothing the fast path did is visible: its events are
	// reset and its unknown-field counts were never added.
	for k := n; k < len(out); k++ {
		out[k].Reset()
	}
	return s.decode(out[:n], value)
}

// decode is the reference decoder, built on segmentio's json.Tokenizer: it
// accepts and rejects exactly what the contract says and describes every
// rejection precisely. Decode runs it for whatever the fast path declines;
// FuzzFastMatchesReference holds the two to the same results.
func (s *state) decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	s.reset(value)

	if !s.next() {
		return dst, s.eof()
	}
	var err error
	n := len(dst)
	switch s.tok.Delim {
	case '{':
		dst, err = s.one(dst)
	case '[':
		dst, err = s.array(dst)
	default:
		if s.tok.Delim != 0 {
			return dst, s.malformed("expected a JSON value")
		}
		err = schemas.Invalid(Source, "", string(s.tok.Value), "record must be a JSON object or an array of JSON objects")
	}
	if err == nil || !isSyntax(err) {
		// Only whitespace may follow the top-level value.
		if s.next() {
			err = s.malformed("unexpected data after the top-level JSON value")
		} else if s.tok.Err != nil {
			err = s.malformed("")
		}
	}
	if err != nil && isSyntax(err) {
		for k := n; k < len(dst); k++ {
			dst[k].Reset()
		}
		dst = dst[:n]
	}
	s.m.decoded.Add(float64(len(dst) - n))
	if err != nil {
		rejected := 1
		if ae, ok := err.(*ArrayError); ok {
			rejected = len(ae.Errs)
		}
		s.m.rejected.Add(float64(rejected))
	}
	return dst, err
}

// one decodes a single object record.
func (s *state) one(dst []schemas.Interaction) ([]schemas.Interaction, error) {
	dst, it := grow(dst)
	bad := s.object(it)
	if bad == nil {
		bad = s.finish(it)
	}
	if bad != nil {
		it.Reset()
		return dst[:len(dst)-1], bad
	}
	return dst, nil
}

// array decodes a JSON array of objects, keeping the valid ones.
func (s *state) array(dst []schemas.Interaction) ([]schemas.Interaction, error) {
	var ae *ArrayError
	for idx := 0; ; idx++ {
		if !s.next() {
			return dst, s.eof()
		}
		if idx == 0 && s.tok.Delim == ']' {
			return dst, nil
		}
		var bad error
		switch s.tok.Delim {
		case '{':
			var it *schemas.Interaction
			dst, it = grow(dst)
			bad = s.object(it)
			if bad == nil {
				bad = s.finish(it)
			}
			if bad != nil {
				it.Reset()
				dst = dst[:len(dst)-1]
			}
		case 0, '[':
			bad = schemas.Invalid(Source, "", s.raw(), "array element must be a JSON object")
			if err := s.skipValue(); err != nil {
				return dst, err
			}
		default:
			return dst, s.malformed("expected a JSON value")
		}
		if isSyntax(bad) {
			return dst, bad
		}
		if bad != nil {
			if ae == nil {
				ae = &ArrayError{}
			}
			ae.Errs = append(ae.Errs, ElementError{Index: idx, Err: bad})
		}
		if !s.next() {
			return dst, s.eof()
		}
		switch s.tok.Delim {
		case ',':
		case ']':
			if ae != nil {
				ae.Len = idx + 1
				return dst, ae
			}
			return dst, nil
		default:
			return dst, s.malformed("expected ',' or ']' after array element")
		}
	}
}

// grow appends one reset interaction to dst, reusing spare capacity (and the
// Attributes map kept there) when there is some.
func grow(dst []schemas.Interaction) ([]schemas.Interaction, *schemas.Interaction) {
	if len(dst) < cap(dst) {
		dst = dst[:len(dst)+1]
		it := &dst[len(dst)-1]
		it.Reset()
		return dst, it
	}
	dst = append(dst, schemas.Interaction{})
	return dst, &dst[len(dst)-1]
}

// String fields kept in the identifier arena, in the order of state.spans.
const (
	fEventID = iota
	fSource
	fRepID
	fTeamID
	fAccountID
	fLeadID
	fApprovalID
	fApproverID
	fStage
	fCurrency
	fPeriod
	numStr
)

// Presence bits for duplicate-key detection, one per known top-level field.
const (
	bOccurredAt uint32 = 1 << (numStr + iota)
	bType
	bChannel
	bDuration
	bAmount
	bListPrice
	bDiscount
	bApproved
	bContact
	bAttributes
	bCustomer
)

type span struct{ lo, hi int32 }

type attr struct{ k, v span }

// state is one decode's scratch memory, pooled by the Decoder. Nothing in it
// outlives a Decode call except through the strings built in finish.
type state struct {
	m       *metrics
	unknown map[string]prometheus.Counter // per-state cache of metrics.unknownField

	tok     json.Tokenizer
	in      []byte
	prevEnd int // offset just past the previous token

	ids   []byte // identifier bytes of the current event
	spans [numStr]span

	pers    []byte // contact and attribute bytes of the current event
	contact [numContact]span
	attrs   []attr
	nattrs  int // attributes seen, including those beyond MaxAttributes

	kbuf, vbuf []byte // unescaped key and value
	stack      []byte // containers being skipped

	// Unknown field names met by the fast path, counted only once it has
	// succeeded (a declined record is counted by the reference decoder).
	ukeys  []byte
	uspans []unknownSpan
}

func (s *state) reset(value []byte) {
	s.in = value
	s.prevEnd = 0
	s.tok.Reset(value)
	s.resetEvent()
}

func (s *state) resetEvent() {
	s.ids = s.ids[:0]
	s.spans = [numStr]span{}
	s.pers = s.pers[:0]
	s.contact = [numContact]span{}
	s.attrs = s.attrs[:0]
	s.nattrs = 0
}

func (s *state) next() bool {
	s.prevEnd = len(s.in) - s.tok.Remaining()
	return s.tok.Next()
}

// isValueStart reports whether the current token can start a JSON value.
func (s *state) isValueStart() bool {
	return s.tok.Delim == 0 || s.tok.Delim == '{' || s.tok.Delim == '['
}

// object decodes the object whose '{' is the current token into the state's
// event buffers. It always consumes the whole object: after the first
// contract violation it keeps checking the syntax, so an array can carry on
// with its next element. A syntax error ends decoding at once.
func (s *state) object(it *schemas.Interaction) error {
	s.resetEvent()
	var seen uint32
	var bad error
	for first := true; ; first = false {
		if !s.next() {
			return s.eof()
		}
		if first && s.tok.Delim == '}' {
			return bad
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		if bad != nil {
			err = s.skipValue()
		} else {
			bad, err = s.field(it, key, &seen)
		}
		if err != nil {
			return err
		}
		if !s.next() {
			return s.eof()
		}
		switch s.tok.Delim {
		case ',':
		case '}':
			return bad
		default:
			return s.malformed("expected ',' or '}' after object member")
		}
	}
}

// key reads an object key, its ':' and the first token of its value. The
// returned bytes stay valid until the next call to key.
func (s *state) key() ([]byte, error) {
	if s.tok.Delim != 0 || !s.tok.Value.String() {
		return nil, s.malformed("expected a string object key")
	}
	k := s.unquote(&s.kbuf)
	if !s.next() {
		return nil, s.eof()
	}
	if s.tok.Delim != ':' {
		return nil, s.malformed("expected ':' after object key")
	}
	if !s.next() {
		return nil, s.eof()
	}
	if !s.isValueStart() {
		return nil, s.malformed("expected a JSON value")
	}
	return k, nil
}

// unquote returns the current string token's content, unescaping into buf
// only when the token has escapes or non-ASCII bytes.
func (s *state) unquote(buf *[]byte) []byte {
	v := s.tok.Value
	if s.tok.Kind() == json.Unescaped {
		return v[1 : len(v)-1]
	}
	*buf = v.AppendUnquote((*buf)[:0])
	return *buf
}

// field decodes one top-level member's value (the current token). bad is a
// contract violation with the value fully consumed; err is a syntax error.
func (s *state) field(it *schemas.Interaction, key []byte, seen *uint32) (bad, err error) {
	switch string(key) {
	case "event_id":
		return s.str(fEventID, "event_id", seen)
	case "occurred_at":
		if bad = s.once(seen, bOccurredAt, "occurred_at"); bad == nil && !s.tok.Value.Null() {
			if !s.tok.Value.String() {
				bad = s.wrongType("occurred_at", "string (RFC 3339 timestamp)")
			} else if t, ok, missing := rfc3339.Parse(s.unquote(&s.vbuf)); ok {
				it.OccurredAt = t
			} else if missing {
				bad = schemas.Invalid(Source, "occurred_at", string(s.unquote(&s.vbuf)), "must carry a UTC offset (Z or ±hh:mm)")
			} else {
				bad = schemas.Invalid(Source, "occurred_at", string(s.unquote(&s.vbuf)), "must be an RFC 3339 timestamp such as 2024-05-01T09:30:00Z or 2024-05-01T11:30:00.250+02:00")
			}
		}
	case "source":
		return s.str(fSource, "source", seen)
	case "type":
		if bad = s.once(seen, bType, "type"); bad == nil && !s.tok.Value.Null() {
			if !s.tok.Value.String() {
				bad = s.wrongType("type", "string")
			} else if t, ok := schemas.ParseType(s.unquote(&s.vbuf)); ok {
				it.Type = t
			} else {
				bad = schemas.Invalid(Source, "type", string(s.unquote(&s.vbuf)), "unknown type; must be one of "+typeList)
			}
		}
	case "channel":
		if bad = s.once(seen, bChannel, "channel"); bad == nil && !s.tok.Value.Null() {
			if !s.tok.Value.String() {
				bad = s.wrongType("channel", "string")
			} else if c, ok := schemas.ParseChannel(s.unquote(&s.vbuf)); ok {
				it.Channel = c
			} else {
				bad = schemas.Invalid(Source, "channel", string(s.unquote(&s.vbuf)), "unknown channel; must be one of email, phone, meeting, social, chat, crm")
			}
		}
	case "rep_id":
		return s.str(fRepID, "rep_id", seen)
	case "team_id":
		return s.str(fTeamID, "team_id", seen)
	case "account_id":
		return s.str(fAccountID, "account_id", seen)
	case "lead_id":
		return s.str(fLeadID, "lead_id", seen)
	case "approval_id":
		return s.str(fApprovalID, "approval_id", seen)
	case "approver_id":
		return s.str(fApproverID, "approver_id", seen)
	case "stage":
		return s.str(fStage, "stage", seen)
	case "currency":
		return s.str(fCurrency, "currency", seen)
	case "period":
		return s.str(fPeriod, "period", seen)
	case "duration_s":
		bad = s.number(&it.DurationS, &it.Has, schemas.HasDuration, seen, bDuration, "duration_s")
	case "amount":
		bad = s.number(&it.Amount, &it.Has, schemas.HasAmount, seen, bAmount, "amount")
	case "list_price":
		bad = s.number(&it.ListPrice, &it.Has, schemas.HasListPrice, seen, bListPrice, "list_price")
	case "discount_pct":
		bad = s.number(&it.DiscountPct, &it.Has, schemas.HasDiscount, seen, bDiscount, "discount_pct")
	case "approved":
		if bad = s.once(seen, bApproved, "approved"); bad == nil && !s.tok.Value.Null() {
			switch {
			case s.tok.Value.True():
				it.Approved = true
				it.Has |= schemas.HasApproved
			case s.tok.Value.False():
				it.Approved = false
				it.Has |= schemas.HasApproved
			default:
				bad = s.wrongType("approved", "boolean")
			}
		}
	case "customer":
		if bad = s.once(seen, bCustomer, "customer"); bad == nil && !s.tok.Value.Null() {
			switch {
			case s.tok.Value.True():
				it.Customer = true
			case s.tok.Value.False():
				it.Customer = false
			default:
				bad = s.wrongType("customer", "boolean")
			}
		}
	case "contact":
		if bad = s.once(seen, bContact, "contact"); bad == nil && !s.tok.Value.Null() {
			if s.tok.Delim != '{' {
				bad = s.wrongType("contact", "object")
			} else {
				return s.contactObject()
			}
		}
	case "attributes":
		if bad = s.once(seen, bAttributes, "attributes"); bad == nil && !s.tok.Value.Null() {
			if s.tok.Delim != '{' {
				bad = s.wrongType("attributes", "object")
			} else {
				return s.attributesObject()
			}
		}
	default:
		s.countUnknown(key)
	}
	return bad, s.skipValue()
}

// typeList is the rule text for an unknown type.
var typeList = func() string {
	var b strings.Builder
	for k, t := range schemas.Types() {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	return b.String()
}()

// once marks a known field as seen and rejects it the second time: with
// duplicate keys, different JSON parsers disagree on which value counts, and
// a producer (or attacker) could show an auditor one discount and the
// pipeline another.
func (s *state) once(seen *uint32, bit uint32, name string) error {
	if *seen&bit != 0 {
		return schemas.Invalid(Source, name, "", "duplicate key")
	}
	*seen |= bit
	return nil
}

// str stores a string field in the identifier arena.
func (s *state) str(f int, name string, seen *uint32) (bad, err error) {
	if bad = s.once(seen, 1<<f, name); bad != nil || s.tok.Value.Null() {
		return bad, s.skipValue()
	}
	if !s.tok.Value.String() {
		return s.wrongType(name, "string"), s.skipValue()
	}
	v := s.unquote(&s.vbuf)
	lo := len(s.ids)
	s.ids = append(s.ids, v...)
	s.spans[f] = span{int32(lo), int32(len(s.ids))}
	return nil, nil
}

func (s *state) number(dst *float64, has *uint16, bit uint16, seen *uint32, seenBit uint32, name string) error {
	if bad := s.once(seen, seenBit, name); bad != nil || s.tok.Value.Null() {
		return bad
	}
	if !s.tok.Value.Number() {
		return s.wrongType(name, "number")
	}
	v := s.tok.Value
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v), len(v)), 64)
	if err != nil {
		return schemas.Invalid(Source, name, string(v), "out of range for a 64-bit float")
	}
	*dst = f
	*has |= bit
	return nil
}

// wrongType describes a value of the wrong JSON type. The value is the raw
// JSON text for scalars (so a quoted "12" shows its quotes) and empty for
// objects and arrays.
func (s *state) wrongType(name, want string) error {
	got, raw := "", ""
	switch v := s.tok.Value; {
	case s.tok.Delim == '{':
		got = "object"
	case s.tok.Delim == '[':
		got = "array"
	case v.String():
		got, raw = "string", string(v)
	case v.Number():
		got, raw = "number", string(v)
	case v.Null():
		got, raw = "null", "null"
	default:
		got, raw = "boolean", string(v)
	}
	return schemas.Invalid(Source, name, raw, "must be a JSON "+want+", got "+got)
}

// Members of "contact", indexes of state.contact.
const (
	cEmail = iota
	cPhone
	cMobile
	cName
	cCountry
	numContact
)

// contactField maps a member name of "contact" to its index, or -1.
func contactField(key []byte) int {
	switch string(key) {
	case "email":
		return cEmail
	case "phone":
		return cPhone
	case "mobile":
		return cMobile
	case "name":
		return cName
	case "country":
		return cCountry
	}
	return -1
}

// contactObject decodes {"email","phone","mobile","name","country"} into
// the personal arena.
func (s *state) contactObject() (bad, err error) {
	var seen uint32
	for first := true; ; first = false {
		if !s.next() {
			return nil, s.eof()
		}
		if first && s.tok.Delim == '}' {
			return bad, nil
		}
		key, err := s.key()
		if err != nil {
			return nil, err
		}
		f := contactField(key)
		if f < 0 {
			s.countUnknownIn("contact.", key)
		}
		switch {
		case bad != nil || f < 0:
		case seen&(1<<f) != 0:
			bad = schemas.Invalid(Source, "contact."+string(key), "", "duplicate key")
		case s.tok.Value.Null():
			seen |= 1 << f
		case !s.tok.Value.String():
			bad = s.wrongType("contact."+string(key), "string")
		default:
			seen |= 1 << f
			v := s.unquote(&s.vbuf)
			lo := len(s.pers)
			s.pers = append(s.pers, v...)
			s.contact[f] = span{int32(lo), int32(len(s.pers))}
		}
		if err := s.skipValue(); err != nil {
			return nil, err
		}
		if !s.next() {
			return nil, s.eof()
		}
		switch s.tok.Delim {
		case ',':
		case '}':
			return bad, nil
		default:
			return nil, s.malformed("expected ',' or '}' after object member")
		}
	}
}

// attributesObject decodes a string→string object into the personal arena.
// A null value means the attribute is absent.
func (s *state) attributesObject() (bad, err error) {
	for first := true; ; first = false {
		if !s.next() {
			return nil, s.eof()
		}
		if first && s.tok.Delim == '}' {
			break
		}
		key, err := s.key()
		if err != nil {
			return nil, err
		}
		if bad == nil && !s.tok.Value.Null() {
			s.nattrs++
			switch {
			case !s.tok.Value.String():
				bad = s.wrongType("attributes."+string(key), "string")
			case s.nattrs > schemas.MaxAttributes:
				// Keep counting for the error; store nothing more.
			default:
				lo := len(s.pers)
				s.pers = append(s.pers, key...)
				k := span{int32(lo), int32(len(s.pers))}
				v := s.unquote(&s.vbuf)
				s.pers = append(s.pers, v...)
				a := attr{k, span{k.hi, int32(len(s.pers))}}
				if len(key) > schemas.MaxIDLen || len(v) > schemas.MaxAttributeLen {
					bad = schemas.Invalid(Source, "attributes."+string(key), string(v), "key longer than "+strconv.Itoa(schemas.MaxIDLen)+" or value longer than "+strconv.Itoa(schemas.MaxAttributeLen)+" bytes")
					break
				}
				for _, b := range s.attrs {
					if bytes.Equal(s.pers[b.k.lo:b.k.hi], key) {
						bad = schemas.Invalid(Source, "attributes."+string(key), "", "duplicate key")
						break
					}
				}
				s.attrs = append(s.attrs, a)
			}
		}
		if err := s.skipValue(); err != nil {
			return nil, err
		}
		if !s.next() {
			return nil, s.eof()
		}
		if s.tok.Delim == '}' {
			break
		}
		if s.tok.Delim != ',' {
			return nil, s.malformed("expected ',' or '}' after object member")
		}
	}
	if bad == nil && s.nattrs > schemas.MaxAttributes {
		bad = schemas.Invalid(Source, "attributes", strconv.Itoa(s.nattrs), "more than "+strconv.Itoa(schemas.MaxAttributes)+" entries")
	}
	return bad, nil
}

func (s *state) countUnknown(key []byte) {
	c, ok := s.unknown[string(key)]
	if !ok {
		name := string(key)
		c = s.m.unknownField(name)
		if len(s.unknown) < 4*maxUnknownFieldLabels {
			s.unknown[name] = c
		}
	}
	c.Inc()
}

func (s *state) countUnknownIn(prefix string, key []byte) {
	s.kbuf = append(append(s.kbuf[:0:0], prefix...), key...)
	s.countUnknown(s.kbuf)
}

// skipValue consumes the value whose first token is current, checking its
// syntax (the tokenizer alone does not check where ':' and ',' go).
// Iterative, so deep nesting cannot exhaust the goroutine stack.
func (s *state) skipValue() error {
	if s.tok.Delim == 0 {
		return nil
	}
	const (
		wantValueOrEnd = iota // just after '[' or '{' (for '{': key or '}')
		wantValue             // after ',' in an array, or ':' in an object
		wantKey               // after ',' in an object
		wantColon
		wantCommaOrEnd
	)
	s.stack = append(s.stack[:0], byte(s.tok.Delim))
	st := wantValueOrEnd
	for len(s.stack) > 0 {
		if !s.next() {
			return s.eof()
		}
		top := s.stack[len(s.stack)-1]
		d := s.tok.Delim
		switch st {
		case wantValueOrEnd, wantValue, wantKey:
			if st == wantValueOrEnd && (top == '{' && d == '}' || top == '[' && d == ']') {
				s.stack = s.stack[:len(s.stack)-1]
				st = wantCommaOrEnd
				continue
			}
			if top == '{' && st != wantValue {
				if d != 0 || !s.tok.Value.String() {
					return s.malformed("expected a string object key")
				}
				st = wantColon
				continue
			}
			switch d {
			case 0:
				st = wantCommaOrEnd
			case '{', '[':
				s.stack = append(s.stack, byte(d))
				st = wantValueOrEnd
			default:
				return s.malformed("expected a JSON value")
			}
		case wantColon:
			if d != ':' {
				return s.malformed("expected ':' after object key")
			}
			st = wantValue
		case wantCommaOrEnd:
			switch {
			case d == ',' && top == '{':
				st = wantKey
			case d == ',':
				st = wantValue
			case top == '{' && d == '}' || top == '[' && d == ']':
				s.stack = s.stack[:len(s.stack)-1]
			default:
				return s.malformed("expected ',' or the end of the enclosing object or array")
			}
		}
	}
	return nil
}

// finish turns the event buffers into it's strings and map, then normalises
// and validates it.
//
// It runs ValidateFields, not Validate: both decoders already enforced
// the attribute limits (at most MaxAttributes entries, key and value
// lengths), with the same messages, while reading them. FuzzDecode runs
// the full Validate on every decoded event, so the two cannot drift apart
// unnoticed.
func (s *state) finish(it *schemas.Interaction) error {
	if len(s.ids) > 0 {
		ids := string(s.ids) // the one allocation for all identifiers
		for f, dst := range [numStr]*string{
			&it.EventID, &it.Source, &it.RepID, &it.TeamID, &it.AccountID,
			&it.LeadID, &it.ApprovalID, &it.ApproverID, &it.Stage, &it.Currency, &it.Period,
		} {
			if sp := s.spans[f]; sp.hi > sp.lo {
				*dst = ids[sp.lo:sp.hi]
			}
		}
	}
	var pers string
	if len(s.pers) > 0 || len(s.attrs) > 0 {
		pers = string(s.pers)
		sub := func(sp span) string { return pers[sp.lo:sp.hi] }
		it.Contact = schemas.Contact{
			Email: sub(s.contact[cEmail]), Phone: sub(s.contact[cPhone]), Mobile: sub(s.contact[cMobile]),
			Name: sub(s.contact[cName]), Country: sub(s.contact[cCountry]),
		}
	}
	it.Normalize()
	if len(s.attrs) > 0 {
		if it.Attributes == nil {
			it.Attributes = make(map[string]string, len(s.attrs))
		}
		for _, a := range s.attrs {
			it.Attributes[pers[a.k.lo:a.k.hi]] = pers[a.v.lo:a.v.hi]
		}
	}
	err := it.ValidateFields()
	if fe, ok := err.(*schemas.FieldError); ok {
		// Validate names the event's own source; the contract broken is ours.
		fe.Source = Source
	}
	return err
}

// raw is the current scalar token's JSON text, or "" for a container.
func (s *state) raw() string {
	if s.tok.Delim != 0 {
		return ""
	}
	return string(s.tok.Value)
}

// eof is the error for input that ended where a token was expected (or for a
// tokenizer error, which also stops Next).
func (s *state) eof() error {
	if s.tok.Err != nil {
		return s.malformed("")
	}
	return s.syntax("unexpected end of JSON input", len(s.in))
}

// malformed reports a syntax error at the current token. With msg == "" the
// tokenizer's own error is used.
func (s *state) malformed(msg string) error {
	off := len(s.in) - s.tok.Remaining() - len(s.tok.Value)
	if msg == "" {
		// The tokenizer failed somewhere after the previous token: report
		// the first non-space byte there.
		off = s.prevEnd
		for off < len(s.in) && (s.in[off] == ' ' || s.in[off] == '\t' || s.in[off] == '\n' || s.in[off] == '\r') {
			off++
		}
		msg = "invalid JSON"
		if s.tok.Err != nil {
			msg = strings.TrimPrefix(s.tok.Err.Error(), "json: ")
			// Drop the tokenizer's quote of the input: the offset says where.
			if k := strings.Index(msg, ": "); k >= 0 {
				msg = msg[:k]
			}
		}
	}
	if off < 0 {
		off = 0
	}
	return s.syntax(msg, off)
}

func (s *state) syntax(msg string, off int) error {
	return &schemas.FieldError{Source: Source, Rule: malformedPrefix + msg + " at byte offset " + strconv.Itoa(off)}
}

const malformedPrefix = "malformed JSON: "

func isSyntax(err error) bool {
	fe, ok := err.(*schemas.FieldError)
	return ok && strings.HasPrefix(fe.Rule, malformedPrefix)
}
