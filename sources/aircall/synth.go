package aircall

import (
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated interactions as Aircall webhooks: calls without a
// lead, half of them (Twilio carries the rest; docs/sources.md, "Synthetic
// payloads", has the whole mapping).
type synth struct{}

func (synth) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	return vendorkit.CarryWithoutLead(in, rep, schemas.TypeCallOutbound, schemas.TypeCallInbound)
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	aircall(e, in, key, rep)
}

// aircall renders a call as call.created (skipped), sometimes
// call.answered (skipped) and call.ended.
func aircall(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	start := in.OccurredAt.Truncate(time.Second)
	dur := int64(in.DurationS)
	answered := in.Attributes["outcome"] != "no_answer" && in.Type == schemas.TypeCallOutbound
	id := 900000000 + e.Seq
	first, last, _ := strings.Cut(in.Contact.Name, " ")
	withContact := e.Rand.IntN(2) == 0
	dir := "outbound"
	if in.Type == schemas.TypeCallInbound {
		dir = "inbound"
	}
	body := func(b []byte, event, status string, ts int64, final bool) []byte {
		b = append(b, `{"resource":"call","event":"`...)
		b = append(b, event...)
		b = append(b, `","timestamp":`...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, `,"token":"df76g76dpziygs567f0","data":{"id":`...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, `,"direct_link":"https://api.aircall.io/v1/calls/`...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, `","direction":"`...)
		b = append(b, dir...)
		b = append(b, `","status":"`...)
		b = append(b, status...)
		b = append(b, `","missed_call_reason":null,"started_at":`...)
		b = strconv.AppendInt(b, start.Unix(), 10)
		b = append(b, `,"answered_at":`...)
		if answered && (final || status == "answered") {
			b = strconv.AppendInt(b, start.Unix()+min(dur, 4), 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"ended_at":`...)
		if final {
			b = strconv.AppendInt(b, start.Unix()+dur, 10)
			b = append(b, `,"duration":`...)
			b = strconv.AppendInt(b, dur, 10)
		} else {
			b = append(b, `null,"duration":0`...)
		}
		b = append(b, `,"raw_digits":`...)
		b = schemas.AppendJSONString(b, formatNANP(in.Contact.Phone))
		b = append(b, `,"user":{"id":`...)
		b = append(b, vendorkit.First(rep.AircallUserIDs)...)
		b = append(b, `,"name":`...)
		b = schemas.AppendJSONString(b, rep.Name)
		b = append(b, `,"email":`...)
		b = schemas.AppendJSONString(b, vendorkit.First(rep.Mailboxes))
		b = append(b, `},"contact":`...)
		if withContact {
			b = append(b, `{"id":`...)
			b = strconv.AppendUint(b, 7000000+e.Seq, 10)
			b = append(b, `,"first_name":`...)
			b = schemas.AppendJSONString(b, first)
			b = append(b, `,"last_name":`...)
			b = schemas.AppendJSONString(b, last)
			b = append(b, `,"company_name":null,"emails":[]}`...)
		} else {
			b = append(b, "null"...)
		}
		return append(b, "}}"...)
	}
	c := e.Record(key)
	c.Value = body(c.Value, "call.created", "initial", start.Unix(), false)
	if answered && e.Rand.IntN(2) == 0 {
		a := e.Record(key)
		a.Value = body(a.Value, "call.answered", "answered", start.Unix()+min(dur, 4), false)
	}
	r := e.Record(key)
	r.Value = body(r.Value, "call.ended", "done", start.Unix()+dur+30, true)
	if e.Expect {
		w := e.Want(r, in, "aircall:"+strconv.FormatUint(id, 10))
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = float64(dur)
		w.Contact.Phone = in.Contact.Phone
		if withContact {
			w.Contact.Name = in.Contact.Name
		}
	}
}

// formatNANP renders +12015550123 as Aircall shows it: "+1 201-555-0123".
func formatNANP(p string) string {
	if len(p) != 12 || !strings.HasPrefix(p, "+1") {
		return p
	}
	return "+1 " + p[2:5] + "-" + p[5:8] + "-" + p[8:]
}
