// Package twilio normalises Twilio Voice call records into canonical
// interactions.
//
// A record is either a call resource (JSON, as fetched from the REST API, or a
// {"calls":[…]} list page) or a status callback (form-encoded, as Twilio POSTs
// it); the format is sniffed from the first byte. Only final statuses become
// interactions, so a call is counted once:
//
//	status                               inbound                 outbound
//	completed                            call.inbound            call.outbound
//	busy, no-answer, canceled            call.inbound missed     call.outbound (attempt)
//	failed                               call.inbound missed     skipped (never placed)
//	queued, initiated, ringing, in-progress   skipped               skipped
//
// Twilio has no user ids: the rep owns the number or client identity (org
// file phone_numbers: E.164, or "client:<identity>" as Twilio sends it). A
// call whose both ends are reps' is internal and skipped.
//
// One customer conversation is one call, though Twilio reports a leg per
// party: a <Dial> makes a child leg (parent_call_sid / ParentCallSid,
// direction outbound-dial) beside the leg that ran the TwiML. Each leg is
// judged alone (the decoder is stateless per record):
//
//	leg                        From    To      interaction
//	parent, inbound            —       rep     call.inbound of To's rep (the rep's own number)
//	parent, inbound            —       —       skipped: shared_number (the agent is on the child)
//	parent, inbound            rep     —       skipped: rep_leg (the rep dialling out through the app)
//	parent, outbound-api       rep     —       call.outbound of From's rep
//	parent, outbound-api       —       rep     skipped: rep_leg (click-to-call rings the rep first)
//	child, answered            —       rep     call.inbound of To's rep (the agent who answered)
//	child, not answered        —       rep     skipped: unanswered_dial_leg
//	child                      rep     —       call.outbound of From's rep (the callerId)
//	child                      —       —       skipped: unattributed_dial_leg
//
// Contact.Phone is the customer's end in E.164. A child leg's event id is
// its parent's ("twilio:<ParentCallSid>"), the conversation's: a parent to
// a rep's number whose <Dial> rings that rep's listed phone or client is
// one row after the sink's dedup, and a retried callback keeps its id.
//
// See docs/sources-meetings-mail-telephony.md for the full mapping.
package twilio

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/salespulse/salespulse/schemas"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

const source = "twilio"

// Decoder turns Twilio call records into canonical interactions. It is safe
// for concurrent use.
type Decoder struct {
	idx     *schemas.Index
	metrics *metrics
	pool    vendorkit.Pool[page] // reused across records
}

// NewDecoder returns a decoder that maps rep phone numbers to reps through
// idx. Metrics are registered on reg (nil: not registered).
func NewDecoder(idx *schemas.Index, reg prometheus.Registerer) (*Decoder, error) {
	if idx == nil {
		return nil, fmt.Errorf("new twilio decoder: nil org index")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new twilio decoder: register metrics: %w", err)
	}
	return &Decoder{idx: idx, metrics: m}, nil
}

// resource is a Twilio call resource. Leaves are raw JSON so that a value of
// an unexpected type is reported against its own field.
type resource struct {
	Sid         json.RawMessage `json:"sid"`
	Direction   json.RawMessage `json:"direction"`
	From        json.RawMessage `json:"from"`
	To          json.RawMessage `json:"to"`
	StartTime   json.RawMessage `json:"start_time"`
	EndTime     json.RawMessage `json:"end_time"`
	DateCreated json.RawMessage `json:"date_created"`
	Duration    json.RawMessage `json:"duration"`
	Status      json.RawMessage `json:"status"`
	AnsweredBy  json.RawMessage `json:"answered_by"`
	Parent      json.RawMessage `json:"parent_call_sid"`
}

// page is a call resource or a list page ({"calls":[…]}).
type page struct {
	resource
	Calls []resource       `json:"calls"`
	errs  vendorkit.Errors // of the calls of a list page; empty between records
}

func (p *page) reset() {
	// The JSON decoder writes into a slice's spare capacity without zeroing
	// it: clear it, or an absent field would keep an earlier record's value.
	cs := p.Calls
	clear(cs[:cap(cs)])
	*p = page{Calls: cs[:0], errs: p.errs}
}

// call is one call in either format, as text (aliasing the record).
type call struct {
	sid, direction, from, to, status, answeredBy []byte
	parent                                       []byte // parent_call_sid / ParentCallSid: a <Dial> child leg
	start, end, created, duration                []byte // RFC 2822 dates; seconds
	callback                                     bool   // form-encoded status callback
	prefix                                       string // "calls[3]." inside a list page
}

// Field names as the two formats spell them.
const (
	fSid = iota
	fDirection
	fFrom
	fTo
	fStart
	fEnd
	fDuration
	fStatus
	fAnsweredBy
	fParent
	numFields
)

var (
	jsonNames = [numFields]string{"sid", "direction", "from", "to", "start_time", "end_time", "duration", "status", "answered_by", "parent_call_sid"}
	formNames = [numFields]string{"CallSid", "Direction", "From", "To", "Timestamp", "Timestamp", "CallDuration", "CallStatus", "AnsweredBy", "ParentCallSid"}
)

func (c *call) field(f int) string {
	if c.callback {
		return formNames[f]
	}
	return c.prefix + jsonNames[f]
}

// Decode appends the interactions decoded from one Kafka record value to dst
// and returns the extended slice. Zero interactions with a nil error means
// the record was skipped on purpose (not final, internal, failed outbound).
// Bad input yields a *schemas.FieldError naming the field and rule; in a list
// page the good calls are appended and the error joins one FieldError per bad
// call (errors.As finds the first).
//
// Every string appended owns its memory; value may be reused once Decode
// returns. Elements in dst's spare capacity are reused (see Batch.Reset).
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	k := 0
	for k < len(value) && (value[k] == ' ' || value[k] == '\t' || value[k] == '\r' || value[k] == '\n') {
		k++
	}
	if k == len(value) {
		return dst, schemas.Invalid(source, "", "", "empty record")
	}
	if value[k] != '{' {
		// Form bodies copied from logs or proxies often end in a newline.
		for n := len(value); n > 0 && (value[n-1] == '\n' || value[n-1] == '\r' || value[n-1] == ' '); n-- {
			value = value[:n-1]
		}
		var c call
		if err := parseForm(&c, value); err != nil {
			return dst, err
		}
		return d.emit(dst, &c)
	}

	p := d.pool.Get()
	defer d.pool.Put(p)
	p.reset()
	// ZeroCopy: raw values alias value; everything kept is cloned.
	if err := vendorkit.Parse(source, value, p); err != nil {
		return dst, err
	}
	if len(p.Sid) > 0 || len(p.Calls) == 0 {
		var c call
		if err := fromJSON(&c, &p.resource); err != nil {
			return dst, err
		}
		return d.emit(dst, &c)
	}
	for k := range p.Calls {
		c := call{prefix: "calls[" + strconv.Itoa(k) + "]."}
		err := fromJSON(&c, &p.Calls[k])
		if err == nil {
			dst, err = d.emit(dst, &c)
		}
		p.errs.Add(err)
	}
	return dst, p.errs.Err()
}

func fromJSON(c *call, r *resource) error {
	for f, pair := range [...]struct {
		raw json.RawMessage
		dst *[]byte
	}{
		{r.Sid, &c.sid}, {r.Direction, &c.direction}, {r.From, &c.from}, {r.To, &c.to},
		{r.StartTime, &c.start}, {r.EndTime, &c.end}, {r.Duration, &c.duration},
		{r.Status, &c.status}, {r.AnsweredBy, &c.answeredBy}, {r.Parent, &c.parent},
	} {
		b, ok := vendorkit.Str(pair.raw)
		if !ok && f == fDuration {
			b, ok = vendorkit.Scalar(pair.raw) // a number is fine too
		}
		if !ok {
			return schemas.Invalid(source, c.prefix+jsonNames[f], string(pair.raw), "must be a string")
		}
		*pair.dst = b
	}
	b, ok := vendorkit.Str(r.DateCreated)
	if !ok {
		return schemas.Invalid(source, c.prefix+"date_created", string(r.DateCreated), "must be a string")
	}
	c.created = b
	return nil
}

// parseForm reads an application/x-www-form-urlencoded status callback
// without building a url.Values map: only the fields used are kept.
func parseForm(c *call, value []byte) error {
	c.callback = true
	for len(value) > 0 {
		pair := value
		if k := indexByte(value, '&'); k >= 0 {
			pair, value = value[:k], value[k+1:]
		} else {
			value = nil
		}
		k := indexByte(pair, '=')
		if k < 0 {
			continue
		}
		key, v := pair[:k], pair[k+1:]
		var dst *[]byte
		switch vendorkit.View(key) {
		case "CallSid":
			dst = &c.sid
		case "Direction":
			dst = &c.direction
		case "From":
			dst = &c.from
		case "To":
			dst = &c.to
		case "CallStatus":
			dst = &c.status
		case "CallDuration":
			dst = &c.duration
		case "Timestamp":
			dst = &c.end
		case "AnsweredBy":
			dst = &c.answeredBy
		case "ParentCallSid":
			dst = &c.parent
		default:
			continue
		}
		if needsUnescape(v) {
			s, err := url.QueryUnescape(string(v))
			if err != nil {
				return schemas.Invalid(source, vendorkit.View(key), string(v), "malformed form encoding")
			}
			v = []byte(s)
		}
		*dst = v
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for k, x := range b {
		if x == c {
			return k
		}
	}
	return -1
}

func needsUnescape(b []byte) bool {
	for _, c := range b {
		if c == '%' || c == '+' {
			return true
		}
	}
	return false
}

const maxVendorID = schemas.MaxIDLen - len("twilio:")

func (d *Decoder) emit(dst []schemas.Interaction, c *call) ([]schemas.Interaction, error) {
	switch {
	case len(c.sid) == 0:
		return dst, schemas.Invalid(source, c.field(fSid), "", "required")
	case len(c.sid) > maxVendorID:
		return dst, schemas.Invalid(source, c.field(fSid), string(c.sid), "longer than "+strconv.Itoa(maxVendorID)+" bytes")
	}
	var typ schemas.Type
	switch vendorkit.View(c.direction) {
	case "inbound":
		typ = schemas.TypeCallInbound
	case "outbound-api", "outbound-dial", "outbound":
		typ = schemas.TypeCallOutbound
	case "":
		return dst, schemas.Invalid(source, c.field(fDirection), "", "required")
	default:
		return dst, schemas.Invalid(source, c.field(fDirection), string(c.direction), "must be inbound, outbound-api or outbound-dial")
	}
	completed := false
	switch vendorkit.View(c.status) {
	case "completed":
		completed = true
	case "busy", "no-answer", "canceled":
	case "failed":
		if typ == schemas.TypeCallOutbound {
			d.metrics.skipFailedOutbound.Inc() // never placed: not a touch
			return dst, nil
		}
	case "queued", "initiated", "ringing", "in-progress":
		d.metrics.skipNotFinal.Inc()
		return dst, nil
	case "":
		return dst, schemas.Invalid(source, c.field(fStatus), "", "required")
	default:
		return dst, schemas.Invalid(source, c.field(fStatus), string(c.status), "unknown call status")
	}

	dur, hasDur := 0.0, len(c.duration) > 0
	if hasDur {
		n, err := strconv.ParseUint(vendorkit.View(c.duration), 10, 32)
		if err != nil || n > 7*24*3600 {
			return dst, schemas.Invalid(source, c.field(fDuration), string(c.duration), "must be whole seconds between 0 and 604800")
		}
		dur = float64(n)
	}
	var at time.Time
	if c.callback {
		// Timestamp is when the callback fired, at the end of the call: the
		// call began CallDuration seconds earlier.
		if len(c.end) == 0 {
			return dst, schemas.Invalid(source, "Timestamp", "", "required")
		}
		end, ok := parseRFC2822(c.end)
		if !ok {
			return dst, schemas.Invalid(source, "Timestamp", string(c.end), ruleDate)
		}
		at = end.Add(-time.Duration(dur) * time.Second)
	} else {
		field, raw := fStart, c.start
		if len(raw) == 0 { // never started (e.g. no-answer): when it was created
			field, raw = -1, c.created
		}
		if len(raw) == 0 {
			return dst, schemas.Invalid(source, c.field(fStart), "", "required (or date_created)")
		}
		var ok bool
		if at, ok = parseRFC2822(raw); !ok || !vendorkit.Plausible(at) {
			name := c.prefix + "date_created"
			if field >= 0 {
				name = c.field(field)
			}
			return dst, schemas.Invalid(source, name, string(raw), ruleDate)
		}
		if !hasDur && len(c.end) > 0 && field >= 0 {
			end, ok := parseRFC2822(c.end)
			if !ok || end.Before(at) {
				return dst, schemas.Invalid(source, c.field(fEnd), string(c.end), ruleDate+", not before start_time")
			}
			dur, hasDur = end.Sub(at).Seconds(), true
			if dur > 7*24*3600 {
				return dst, schemas.Invalid(source, c.field(fEnd), string(c.end), "call longer than one week")
			}
		}
	}
	if !vendorkit.Plausible(at) {
		return dst, schemas.Invalid(source, c.field(fStart), string(c.end), ruleDate)
	}

	// Each end's rep, if any; then which end is the rep's and which the
	// customer's (the table in the package doc).
	var fromBuf, toBuf [24]byte
	from, fromPhone := number(fromBuf[:0], c.from)
	to, toPhone := number(toBuf[:0], c.to)
	fromRep, toRep := d.repOf(from), d.repOf(to)
	if fromRep != "" && toRep != "" {
		d.metrics.skipInternal.Inc() // rep to rep, e.g. a forward to the rep's own phone
		return dst, nil
	}
	child := len(c.parent) > 0 || vendorkit.View(c.direction) == "outbound-dial"
	if len(c.parent) > maxVendorID {
		return dst, schemas.Invalid(source, c.field(fParent), string(c.parent), "longer than "+strconv.Itoa(maxVendorID)+" bytes")
	}
	rep, other, otherPhone := "", []byte(nil), false
	switch {
	case child && toRep != "":
		// A <Dial> leg ringing an agent: From is the caller's number (the
		// customer's), kept by <Dial>. Of the legs one <Dial> rings at
		// once, the first to answer is connected and the others canceled:
		// only the answered one is the call, so a conversation is one row.
		if !completed {
			d.metrics.skipUnansweredLeg.Inc()
			return dst, nil
		}
		typ, rep, other, otherPhone = schemas.TypeCallInbound, toRep, from, fromPhone
	case child && fromRep != "":
		// A <Dial> leg from the rep's callerId to the customer.
		// (A failed one was skipped above: never placed.)
		typ, rep, other, otherPhone = schemas.TypeCallOutbound, fromRep, to, toPhone
	case child:
		// A <Dial> leg between two numbers no rep owns (an external
		// forward, or a shared callerId): nobody to credit, and the
		// parent leg cannot say who it was either.
		d.metrics.skipUnattributedLeg.Inc()
		return dst, nil
	case typ == schemas.TypeCallInbound && toRep != "":
		rep, other, otherPhone = toRep, from, fromPhone
	case typ == schemas.TypeCallInbound && fromRep != "":
		// The rep's own leg into Twilio (a Voice SDK client:identity, or
		// the rep's phone calling the app): the customer is on its child.
		d.metrics.skipRepLeg.Inc()
		return dst, nil
	case typ == schemas.TypeCallInbound:
		// A shared number (a queue, an IVR): the agent who answers is on
		// the <Dial> child leg; emitting this leg too would count the
		// conversation twice, once for nobody.
		d.metrics.skipSharedNumber.Inc()
		return dst, nil
	case fromRep != "":
		rep, other, otherPhone = fromRep, to, toPhone
	case toRep != "":
		// Click-to-call: the REST API rings the rep first, then <Dial>s
		// the customer on a child leg, which is the call.
		d.metrics.skipRepLeg.Inc()
		return dst, nil
	case len(from) == 0:
		return dst, schemas.Invalid(source, c.field(fFrom), "", "required for an outbound call")
	default:
		return dst, schemas.Invalid(source, c.field(fFrom), string(from), "unknown twilio number: add it to the org file (phone_numbers, E.164)")
	}

	dst, ev := vendorkit.Next(dst)
	if len(c.parent) > 0 {
		ev.EventID = "twilio:" + string(c.parent) // the conversation's id: see the package doc
		vendorkit.SetAttrBytes(ev, "call_sid", c.sid)
	} else {
		ev.EventID = "twilio:" + string(c.sid)
	}
	ev.OccurredAt = at
	ev.Source = source
	ev.Type = typ
	ev.Channel = schemas.ChannelPhone
	ev.RepID = rep
	ev.TeamID = d.idx.TeamOf(rep)
	if hasDur {
		ev.Has |= schemas.HasDuration
		ev.DurationS = dur
	}
	if otherPhone {
		ev.Contact.Phone = string(other)
	}
	if !completed {
		vendorkit.SetAttrBytes(ev, "status", c.status)
		if typ == schemas.TypeCallInbound {
			vendorkit.SetAttrBytes(ev, "missed", []byte("true"))
		}
	}
	if len(c.answeredBy) > 0 {
		vendorkit.SetAttrBytes(ev, "answered_by", c.answeredBy) // human, machine_start, fax, …
	}
	return vendorkit.Commit(dst)
}

// repOf returns the rep who owns a number or client identity, "" for none.
func (d *Decoder) repOf(n []byte) string {
	if len(n) == 0 {
		return ""
	}
	return d.idx.RepFor(schemas.IdentPhone, vendorkit.View(n))
}

const ruleDate = "must be an RFC 2822 date between 2000 and 2100"

// number returns the E.164 form of a phone number (isPhone), or the value as
// sent for other addresses ("client:alice", "sip:…"), which the org file may
// list as a rep's identity too.
func number(buf, b []byte) (n []byte, isPhone bool) {
	if p, ok := vendorkit.E164(buf, b); ok {
		return p, true
	}
	return b, false
}
