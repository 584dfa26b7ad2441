package twilio

import (
	"strconv"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated interactions as Twilio call resources and status
// callbacks: calls without a lead, half of them (Aircall carries the rest;
// docs/sources.md, "Synthetic payloads", has the whole mapping).
type synth struct{}

func (synth) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	return vendorkit.CarryWithoutLead(in, rep, schemas.TypeCallOutbound, schemas.TypeCallInbound)
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	twilio(e, in, key, rep)
}

// sharedNumber is the Twilio number of the generated org's sales line: no
// rep owns it (the org file lists reps' own numbers, +1…55501NN).
const sharedNumber = "+18885550000"

// leg is one call leg as Twilio reports it.
type leg struct {
	sid, parent, from, to, dir, status string
	start, end                         time.Time
}

// twilio renders a call as the call resource (JSON) or as form-encoded
// status callbacks: progress callbacks (skipped) and the final one. Half
// of the answered inbound calls come in on the shared sales line, whose
// TwiML <Dial>s the rep: a parent leg (skipped) and the rep's child leg,
// which is the call. Outbound calls are placed by the REST API from the
// rep's number (outbound-api).
func twilio(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	start := in.OccurredAt.Truncate(time.Second)
	end := start.Add(time.Duration(in.DurationS) * time.Second)
	sid := callSid(e)
	status := "completed"
	if in.Attributes["outcome"] == "no_answer" {
		status = "no-answer"
	}
	// Twilio sends E.164 whatever format the CRM keeps.
	contact := in.Contact.Phone
	var buf [24]byte
	if p, ok := vendorkit.E164(buf[:0], []byte(contact)); ok {
		contact = string(p)
	}
	repNum := vendorkit.First(rep.PhoneNumbers)
	json := e.Rand.IntN(2) == 0
	call := leg{sid: sid, from: repNum, to: contact, dir: "outbound-api", status: status, start: start, end: end}
	eventID := "twilio:" + sid
	if in.Type == schemas.TypeCallInbound {
		call.from, call.to, call.dir = contact, repNum, "inbound"
		if status == "completed" && e.Rand.IntN(2) == 0 {
			// The caller hears the line's greeting for a few seconds before
			// the rep answers the child leg.
			parent := leg{sid: sid, from: contact, to: sharedNumber, dir: "inbound", status: status, start: start.Add(-8 * time.Second), end: end.Add(time.Second)}
			renderLeg(e, key, &parent, json)
			call = leg{sid: callSid(e), parent: sid, from: contact, to: repNum, dir: "outbound-dial", status: status, start: start, end: end}
		}
	}
	r := renderLeg(e, key, &call, json)
	if e.Expect {
		w := e.Want(r, in, eventID)
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = end.Sub(start).Seconds()
		w.Contact.Phone = contact
		if call.parent != "" {
			w.Attributes = map[string]string{"call_sid": call.sid}
		}
	}
}

// callSid draws a call sid: "CA" and 32 hex digits.
func callSid(e *vendorkit.Synth) string {
	var sidb [34]byte
	copy(sidb[:], "CA")
	u, v := e.Rand.Uint64(), e.Rand.Uint64()
	for k := 0; k < 8; k++ {
		sidb[2+2*k] = vendorkit.HexDigits[byte(u>>(8*k))>>4]
		sidb[3+2*k] = vendorkit.HexDigits[byte(u>>(8*k))&15]
		sidb[18+2*k] = vendorkit.HexDigits[byte(v>>(8*k))>>4]
		sidb[19+2*k] = vendorkit.HexDigits[byte(v>>(8*k))&15]
	}
	return string(sidb[:])
}

// renderLeg appends c's records, the call resource or its status callbacks,
// and returns the final one.
func renderLeg(e *vendorkit.Synth, key []byte, c *leg, json bool) *vendorkit.Record {
	dur := int64(c.end.Sub(c.start) / time.Second)
	if json {
		r := e.Record(key)
		b := append(r.Value, `{"sid":"`...)
		b = append(b, c.sid...)
		b = append(b, `","account_sid":"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","date_created":"`...)
		b = appendRFC2822(b, c.start.Add(-2*time.Second))
		b = append(b, `","date_updated":"`...)
		b = appendRFC2822(b, c.end.Add(time.Second))
		b = append(b, `","parent_call_sid":`...)
		if c.parent == "" {
			b = append(b, "null"...)
		} else {
			b = schemas.AppendJSONString(b, c.parent)
		}
		b = append(b, `,"to":`...)
		b = schemas.AppendJSONString(b, c.to)
		b = append(b, `,"from":`...)
		b = schemas.AppendJSONString(b, c.from)
		b = append(b, `,"status":"`...)
		b = append(b, c.status...)
		b = append(b, `","start_time":"`...)
		b = appendRFC2822(b, c.start)
		b = append(b, `","end_time":"`...)
		b = appendRFC2822(b, c.end)
		b = append(b, `","duration":"`...)
		b = strconv.AppendInt(b, dur, 10)
		b = append(b, `","price":"-0.01300","price_unit":"USD","direction":"`...)
		b = append(b, c.dir...)
		b = append(b, `","answered_by":null,"api_version":"2010-04-01","forwarded_from":null,"caller_name":null,"uri":"/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Calls/`...)
		b = append(b, c.sid...)
		r.Value = append(b, `.json"}`...)
		return r
	}
	form := func(b []byte, status string, ts time.Time, seq int, final bool) []byte {
		b = append(b, "AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&ApiVersion=2010-04-01&CallSid="...)
		b = append(b, c.sid...)
		if c.parent != "" {
			b = append(b, "&ParentCallSid="...)
			b = append(b, c.parent...)
		}
		b = append(b, "&CallStatus="...)
		b = append(b, status...)
		if final {
			b = append(b, "&CallDuration="...)
			b = strconv.AppendInt(b, dur, 10)
		}
		b = append(b, "&Called="...)
		b = appendQueryEscape(b, c.to)
		b = append(b, "&Caller="...)
		b = appendQueryEscape(b, c.from)
		b = append(b, "&Direction="...)
		b = append(b, c.dir...)
		b = append(b, "&From="...)
		b = appendQueryEscape(b, c.from)
		b = append(b, "&To="...)
		b = appendQueryEscape(b, c.to)
		b = append(b, "&Timestamp="...)
		var tb [40]byte
		b = appendQueryEscape(b, string(appendRFC2822(tb[:0], ts)))
		b = append(b, "&CallbackSource=call-progress-events&SequenceNumber="...)
		return strconv.AppendInt(b, int64(seq), 10)
	}
	p := e.Record(key)
	p.Value = form(p.Value, "ringing", c.start, 1, false)
	if c.status == "completed" && e.Rand.IntN(2) == 0 {
		q := e.Record(key)
		q.Value = form(q.Value, "in-progress", c.start.Add(3*time.Second), 2, false)
	}
	r := e.Record(key)
	r.Value = form(r.Value, c.status, c.end, 3, true)
	return r
}

func appendRFC2822(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 +0000")
}

// appendQueryEscape form-encodes s (url.QueryEscape without allocating).
func appendQueryEscape(b []byte, s string) []byte {
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		}
	}
	return b
}
