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

// twilio renders a call as the call resource (JSON) or as form-encoded
// status callbacks: progress callbacks (skipped) and the final one.
func twilio(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	start := in.OccurredAt.Truncate(time.Second)
	dur := int64(in.DurationS)
	end := start.Add(time.Duration(dur) * time.Second)
	var sidb [34]byte
	copy(sidb[:], "CA")
	u, v := e.Rand.Uint64(), e.Rand.Uint64()
	for k := 0; k < 8; k++ {
		sidb[2+2*k] = vendorkit.HexDigits[byte(u>>(8*k))>>4]
		sidb[3+2*k] = vendorkit.HexDigits[byte(u>>(8*k))&15]
		sidb[18+2*k] = vendorkit.HexDigits[byte(v>>(8*k))>>4]
		sidb[19+2*k] = vendorkit.HexDigits[byte(v>>(8*k))&15]
	}
	sid := string(sidb[:])
	status := "completed"
	if in.Attributes["outcome"] == "no_answer" {
		status = "no-answer"
	}
	from, to, dir := vendorkit.First(rep.PhoneNumbers), in.Contact.Phone, "outbound-api"
	if in.Type == schemas.TypeCallInbound {
		from, to, dir = in.Contact.Phone, vendorkit.First(rep.PhoneNumbers), "inbound"
	}
	var r *vendorkit.Record
	if e.Rand.IntN(2) == 0 {
		r = e.Record(key)
		b := append(r.Value, `{"sid":"`...)
		b = append(b, sid...)
		b = append(b, `","account_sid":"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","date_created":"`...)
		b = appendRFC2822(b, start.Add(-2*time.Second))
		b = append(b, `","date_updated":"`...)
		b = appendRFC2822(b, end.Add(time.Second))
		b = append(b, `","parent_call_sid":null,"to":`...)
		b = schemas.AppendJSONString(b, to)
		b = append(b, `,"from":`...)
		b = schemas.AppendJSONString(b, from)
		b = append(b, `,"status":"`...)
		b = append(b, status...)
		b = append(b, `","start_time":"`...)
		b = appendRFC2822(b, start)
		b = append(b, `","end_time":"`...)
		b = appendRFC2822(b, end)
		b = append(b, `","duration":"`...)
		b = strconv.AppendInt(b, dur, 10)
		b = append(b, `","price":"-0.01300","price_unit":"USD","direction":"`...)
		b = append(b, dir...)
		b = append(b, `","answered_by":null,"api_version":"2010-04-01","forwarded_from":null,"caller_name":null,"uri":"/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Calls/`...)
		b = append(b, sid...)
		r.Value = append(b, `.json"}`...)
	} else {
		form := func(b []byte, status string, ts time.Time, seq int, final bool) []byte {
			b = append(b, "AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&ApiVersion=2010-04-01&CallSid="...)
			b = append(b, sid...)
			b = append(b, "&CallStatus="...)
			b = append(b, status...)
			if final {
				b = append(b, "&CallDuration="...)
				b = strconv.AppendInt(b, dur, 10)
			}
			b = append(b, "&Called="...)
			b = appendQueryEscape(b, to)
			b = append(b, "&Caller="...)
			b = appendQueryEscape(b, from)
			b = append(b, "&Direction="...)
			b = append(b, dir...)
			b = append(b, "&From="...)
			b = appendQueryEscape(b, from)
			b = append(b, "&To="...)
			b = appendQueryEscape(b, to)
			b = append(b, "&Timestamp="...)
			var tb [40]byte
			b = appendQueryEscape(b, string(appendRFC2822(tb[:0], ts)))
			b = append(b, "&CallbackSource=call-progress-events&SequenceNumber="...)
			return strconv.AppendInt(b, int64(seq), 10)
		}
		p := e.Record(key)
		p.Value = form(p.Value, "ringing", start, 1, false)
		if status == "completed" && e.Rand.IntN(2) == 0 {
			q := e.Record(key)
			q.Value = form(q.Value, "in-progress", start.Add(3*time.Second), 2, false)
		}
		r = e.Record(key)
		r.Value = form(r.Value, status, end, 3, true)
	}
	if e.Expect {
		w := e.Want(r, in, "twilio:"+sid)
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = float64(dur)
		w.Contact.Phone = in.Contact.Phone
	}
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
