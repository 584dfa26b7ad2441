package zoom

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated interactions as Zoom webhooks: meetings without a
// lead (docs/sources.md, "Synthetic payloads", has the whole mapping).
type synth struct{}

func (synth) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	return vendorkit.CarryWithoutLead(in, rep, schemas.TypeMeetingHeld)
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	zoom(e, in, key, rep)
}

func zoomUUID(e *vendorkit.Synth) string {
	var b [16]byte
	u, v := e.Rand.Uint64(), e.Rand.Uint64()
	for k := 0; k < 8; k++ {
		b[k], b[8+k] = byte(u>>(8*k)), byte(v>>(8*k))
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// zoom renders a meeting as Zoom sends it: meeting.started, a participant
// joining (both skipped), then meeting.ended, which carries the
// participants half of the time.
func zoom(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	start := in.OccurredAt.Truncate(time.Second)
	end := start.Add(time.Duration(in.DurationS) * time.Second)
	uuid := zoomUUID(e)
	meetingID := 80000000000 + e.Seq
	topic := "Demo: " + e.Subject(in)
	participants := e.Rand.IntN(2) == 0
	obj := func(b []byte, ended bool) []byte {
		b = append(b, `"object":{"uuid":`...)
		b = schemas.AppendJSONString(b, uuid)
		b = append(b, `,"id":"`...)
		b = strconv.AppendUint(b, meetingID, 10)
		b = append(b, `","host_id":`...)
		b = schemas.AppendJSONString(b, vendorkit.First(rep.ZoomUserIDs))
		b = append(b, `,"topic":`...)
		b = schemas.AppendJSONString(b, topic)
		b = append(b, `,"type":2,"start_time":"`...)
		b = start.AppendFormat(b, "2006-01-02T15:04:05Z")
		b = append(b, `","duration":`...)
		b = strconv.AppendInt(b, int64(math.Round(in.DurationS/60/15)*15), 10) // scheduled
		b = append(b, `,"timezone":"UTC"`...)
		if ended {
			b = append(b, `,"end_time":"`...)
			b = end.AppendFormat(b, "2006-01-02T15:04:05Z")
			b = append(b, '"')
			if participants {
				b = append(b, `,"participants":[{"id":`...)
				b = schemas.AppendJSONString(b, vendorkit.First(rep.ZoomUserIDs))
				b = append(b, `,"user_name":`...)
				b = schemas.AppendJSONString(b, rep.Name)
				b = append(b, `,"email":`...)
				b = schemas.AppendJSONString(b, vendorkit.First(rep.Mailboxes))
				b = append(b, `},{"id":"","user_name":`...)
				b = schemas.AppendJSONString(b, in.Contact.Name)
				b = append(b, `,"email":`...)
				b = schemas.AppendJSONString(b, in.Contact.Email)
				b = append(b, `}]`...)
			}
		}
		return append(b, '}')
	}
	head := func(b []byte, event string, ts time.Time) []byte {
		b = append(b, `{"event":"`...)
		b = append(b, event...)
		b = append(b, `","event_ts":`...)
		b = strconv.AppendInt(b, ts.UnixMilli(), 10)
		return append(b, `,"payload":{"account_id":"o8KK_AAACq6BBEyA70CA",`...)
	}
	s := e.Record(key)
	s.Value = append(obj(head(s.Value, "meeting.started", start), false), "}}"...)
	if e.Rand.IntN(2) == 0 {
		p := e.Record(key)
		b := head(p.Value, "meeting.participant_joined", start.Add(90*time.Second))
		b = append(b, `"object":{"uuid":`...)
		b = schemas.AppendJSONString(b, uuid)
		b = append(b, `,"id":"`...)
		b = strconv.AppendUint(b, meetingID, 10)
		b = append(b, `","host_id":`...)
		b = schemas.AppendJSONString(b, vendorkit.First(rep.ZoomUserIDs))
		b = append(b, `,"participant":{"user_id":"16778240","user_name":`...)
		b = schemas.AppendJSONString(b, in.Contact.Name)
		b = append(b, `,"email":`...)
		b = schemas.AppendJSONString(b, in.Contact.Email)
		b = append(b, `,"join_time":"`...)
		b = start.Add(90*time.Second).AppendFormat(b, "2006-01-02T15:04:05Z")
		p.Value = append(b, `"}}}}`...)
	}
	r := e.Record(key)
	r.Value = append(obj(head(r.Value, "meeting.ended", end), true), "}}"...)
	if e.Expect {
		w := e.Want(r, in, "zoom:"+uuid)
		w.OccurredAt = start
		w.Has |= schemas.HasDuration
		w.DurationS = end.Sub(start).Seconds()
		if participants {
			w.Contact = schemas.Contact{Email: in.Contact.Email, Name: in.Contact.Name}
		}
	}
}
