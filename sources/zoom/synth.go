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
// lead, and contacts joining a rep's meeting (docs/sources.md, "Synthetic
// payloads", has the whole mapping).
type synth struct{}

func (synth) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	if in.Type == schemas.TypeMeetingJoined && in.Contact.Email == "" {
		return vendorkit.CarryNo // the decoder skips a join without e-mail
	}
	return vendorkit.CarryWithoutLead(in, rep, schemas.TypeMeetingHeld, schemas.TypeMeetingJoined)
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	if in.Type == schemas.TypeMeetingJoined {
		joined(e, in, key, rep)
		return
	}
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

// zoom renders a meeting as Zoom sends it: meeting.started, sometimes the
// host joining (both skipped), then meeting.ended, which lists nobody. A
// guest's joining is a meeting.joined of its own (joined).
func zoom(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	start := in.OccurredAt.Truncate(time.Second)
	end := start.Add(time.Duration(in.DurationS) * time.Second)
	uuid := zoomUUID(e)
	meetingID := 80000000000 + e.Seq
	topic := "Demo: " + e.Subject(in)
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
		b = schemas.AppendJSONString(b, rep.Name)
		b = append(b, `,"id":`...)
		b = schemas.AppendJSONString(b, vendorkit.First(rep.ZoomUserIDs))
		b = append(b, `,"email":`...)
		b = schemas.AppendJSONString(b, vendorkit.First(rep.Mailboxes))
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
	}
}

// joined renders a contact joining a rep's meeting as the
// meeting.participant_joined webhook Zoom sends: the guest is not signed in
// to the host's account (empty id), has a participant_uuid, and types the
// e-mail as they like (a third of the time in another case than the CRM's).
func joined(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	at := in.OccurredAt.Truncate(time.Second)
	uuid := zoomUUID(e)
	var pb [16]byte
	u, v := e.Rand.Uint64(), e.Rand.Uint64()
	for k := 0; k < 8; k++ {
		pb[k], pb[8+k] = byte(u>>(8*k)), byte(v>>(8*k))
	}
	puuid := make([]byte, 0, 36)
	for k, c := range pb {
		if k == 4 || k == 6 || k == 8 || k == 10 {
			puuid = append(puuid, '-')
		}
		puuid = append(puuid, vendorkit.HexDigits[c>>4], vendorkit.HexDigits[c&15])
	}
	email := in.Contact.Email
	if e.Rand.IntN(3) == 0 {
		email = titleCase(email)
	}
	var jt [20]byte
	joinTime := at.UTC().AppendFormat(jt[:0], "2006-01-02T15:04:05Z")
	r := e.Record(key)
	b := append(r.Value, `{"event":"meeting.participant_joined","event_ts":`...)
	b = strconv.AppendInt(b, at.Add(time.Second).UnixMilli(), 10)
	b = append(b, `,"payload":{"account_id":"o8KK_AAACq6BBEyA70CA","object":{"uuid":`...)
	b = schemas.AppendJSONString(b, uuid)
	b = append(b, `,"id":"`...)
	b = strconv.AppendUint(b, 80000000000+e.Seq, 10)
	b = append(b, `","host_id":`...)
	b = schemas.AppendJSONString(b, vendorkit.First(rep.ZoomUserIDs))
	b = append(b, `,"topic":`...)
	b = schemas.AppendJSONString(b, "Demo: "+e.Subject(in))
	b = append(b, `,"type":2,"start_time":"`...)
	b = at.Add(-2*time.Minute).UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","timezone":"UTC","duration":30,"participant":{"user_id":"`...)
	b = strconv.AppendUint(b, 16778240+e.Seq%1000, 10)
	b = append(b, `","user_name":`...)
	b = schemas.AppendJSONString(b, in.Contact.Name)
	b = append(b, `,"id":"","participant_uuid":"`...)
	b = append(b, puuid...)
	b = append(b, `","email":`...)
	b = schemas.AppendJSONString(b, email)
	b = append(b, `,"join_time":"`...)
	b = append(b, joinTime...)
	r.Value = append(b, `"}}}}`...)
	if e.Expect {
		w := e.Want(r, in, "zoom:"+uuid+":"+string(puuid)+":"+string(joinTime))
		w.OccurredAt = at
		w.Contact = schemas.Contact{Email: email, Name: in.Contact.Name}
	}
}

// titleCase upper-cases the first letter of each dot-separated word of an
// e-mail's local part ("dana.reyes@x.com" → "Dana.Reyes@x.com").
func titleCase(email string) string {
	b := []byte(email)
	up := true
	for k, c := range b {
		if c == '@' {
			break
		}
		if up && c >= 'a' && c <= 'z' {
			b[k] = c - 'a' + 'A'
		}
		up = c == '.'
	}
	return string(b)
}
