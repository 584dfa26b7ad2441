// Package zoom normalises Zoom meeting webhooks into canonical interactions.
//
// One meeting.held is emitted per meeting, from meeting.ended: that is the
// only event that knows both ends of the meeting. It names no contact: Zoom
// sends no participant list in meeting.ended.
//
// The guest's e-mail arrives in meeting.participant_joined: a guest who is
// not the host and not a rep (by Zoom user id or mailbox) and who has an
// e-mail becomes a meeting.joined credited to the host's rep, with the
// e-mail as Contact.Email. Its event id is the meeting instance's uuid, the
// participant's id and the join time, so a webhook retry keeps it, and a
// guest who drops and rejoins joins again (a second touch answers nothing
// new). Other participant_joined events, meeting.started and
// participant_left are skipped, counted in salespulse_zoom_skipped_total by
// reason.
//
// See docs/sources-meetings-mail-telephony.md for the full mapping.
package zoom

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/salespulse/salespulse/schemas"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

const source = "zoom"

// Decoder turns Zoom webhook bodies into canonical interactions. It is safe
// for concurrent use.
type Decoder struct {
	idx     *schemas.Index
	metrics *metrics
	pool    vendorkit.Pool[webhook] // reused across records
}

// NewDecoder returns a decoder that maps Zoom user ids to reps through idx.
// Metrics are registered on reg (nil: not registered).
func NewDecoder(idx *schemas.Index, reg prometheus.Registerer) (*Decoder, error) {
	if idx == nil {
		return nil, fmt.Errorf("new zoom decoder: nil org index")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new zoom decoder: register metrics: %w", err)
	}
	return &Decoder{idx: idx, metrics: m}, nil
}

// webhook is the part of a Zoom webhook body the decoder reads. Leaves are
// raw JSON so that a value of an unexpected type is reported against its own
// field path, and so that ids arrive as strings or numbers alike.
type webhook struct {
	Event   json.RawMessage `json:"event"`
	Payload struct {
		Object meeting `json:"object"`
	} `json:"payload"`
}

type meeting struct {
	UUID        json.RawMessage `json:"uuid"`
	ID          json.RawMessage `json:"id"`
	HostID      json.RawMessage `json:"host_id"`
	Topic       json.RawMessage `json:"topic"`
	StartTime   json.RawMessage `json:"start_time"`
	EndTime     json.RawMessage `json:"end_time"`
	Duration    json.RawMessage `json:"duration"`
	Participant participant     `json:"participant"` // participant events
}

// participant is payload.object.participant of meeting.participant_joined
// (https://developers.zoom.us/docs/api/meetings/events/#tag/meeting/POST/meeting.participant_joined).
type participant struct {
	UserID            json.RawMessage `json:"user_id"`             // the participant in this meeting instance
	ID                json.RawMessage `json:"id"`                  // Zoom user id, for signed-in users
	ParticipantUserID json.RawMessage `json:"participant_user_id"` // for users of the host's account
	ParticipantUUID   json.RawMessage `json:"participant_uuid"`    // unique per participant in the meeting
	UserName          json.RawMessage `json:"user_name"`
	Email             json.RawMessage `json:"email"`
	JoinTime          json.RawMessage `json:"join_time"`
}

func (w *webhook) reset() { *w = webhook{} }

// Decode appends the interactions decoded from one Kafka record value to dst
// and returns the extended slice. Zero interactions with a nil error means the
// record was skipped on purpose (handshake, start and participant events).
// Bad input yields a *schemas.FieldError naming the field and rule, and dst
// unchanged.
//
// Every string appended owns its memory; value may be reused once Decode
// returns. Elements in dst's spare capacity are reused (see Batch.Reset).
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	w := d.pool.Get()
	defer d.pool.Put(w)
	w.reset()
	// ZeroCopy: raw values alias value and are cloned below before they are
	// kept in an Interaction.
	if err := vendorkit.Parse(source, value, w); err != nil {
		return dst, err
	}
	event, ok := vendorkit.Str(w.Event)
	if !ok {
		return dst, schemas.Invalid(source, "event", string(w.Event), "must be a string")
	}
	switch vendorkit.View(event) {
	case "meeting.ended":
		return d.ended(dst, &w.Payload.Object)
	case "endpoint.url_validation":
		d.metrics.skipURLValidation.Inc()
	case "meeting.started":
		d.metrics.skipStarted.Inc()
	case "meeting.participant_joined":
		return d.joined(dst, &w.Payload.Object)
	case "meeting.participant_left":
		d.metrics.skipLeft.Inc()
	case "":
		return dst, schemas.Invalid(source, "event", "", "required")
	default:
		// Other Zoom events on the same webhook app (recordings, users, …)
		// are not interactions and not errors either.
		d.metrics.skipOther.Inc()
	}
	return dst, nil
}

const maxVendorID = schemas.MaxIDLen - len("zoom:")

// instance returns the meeting instance's uuid, its host's Zoom user id
// and the host's rep.
func (d *Decoder) instance(m *meeting) (uuid, host []byte, rep string, err error) {
	uuid, ok := vendorkit.Str(m.UUID)
	switch {
	case !ok:
		return nil, nil, "", schemas.Invalid(source, "payload.object.uuid", string(m.UUID), "must be a string")
	case len(uuid) == 0:
		return nil, nil, "", schemas.Invalid(source, "payload.object.uuid", "", "required")
	case len(uuid) > maxVendorID:
		return nil, nil, "", schemas.Invalid(source, "payload.object.uuid", string(uuid), "longer than "+strconv.Itoa(maxVendorID)+" bytes")
	}
	host, ok = vendorkit.Str(m.HostID)
	if !ok {
		return nil, nil, "", schemas.Invalid(source, "payload.object.host_id", string(m.HostID), "must be a string")
	}
	if len(host) == 0 {
		return nil, nil, "", schemas.Invalid(source, "payload.object.host_id", "", "required")
	}
	rep = d.idx.RepFor(schemas.IdentZoom, vendorkit.View(host))
	if rep == "" {
		return nil, nil, "", schemas.Invalid(source, "payload.object.host_id", string(host), "unknown zoom user: add it to the org file (zoom_user_ids)")
	}
	return uuid, host, rep, nil
}

func (d *Decoder) ended(dst []schemas.Interaction, m *meeting) ([]schemas.Interaction, error) {
	uuid, _, rep, err := d.instance(m)
	if err != nil {
		return dst, err
	}
	sb, ok := vendorkit.Str(m.StartTime)
	if !ok || len(sb) == 0 {
		if ok {
			return dst, schemas.Invalid(source, "payload.object.start_time", "", "required")
		}
		return dst, schemas.Invalid(source, "payload.object.start_time", string(m.StartTime), vendorkit.RuleISOTime)
	}
	start, ok := vendorkit.ParseISO(sb)
	if !ok || !vendorkit.Plausible(start) {
		return dst, schemas.Invalid(source, "payload.object.start_time", string(sb), vendorkit.RuleISOTime)
	}

	// Duration: the actual one (end_time − start_time) when the end is known;
	// else the duration field, which Zoom fills with the scheduled minutes.
	var durS float64
	hasDur := false
	eb, ok := vendorkit.Str(m.EndTime)
	if !ok {
		return dst, schemas.Invalid(source, "payload.object.end_time", string(m.EndTime), vendorkit.RuleISOTime)
	}
	if len(eb) > 0 {
		end, ok := vendorkit.ParseISO(eb)
		if !ok || !vendorkit.Plausible(end) {
			return dst, schemas.Invalid(source, "payload.object.end_time", string(eb), vendorkit.RuleISOTime)
		}
		if end.Before(start) {
			return dst, schemas.Invalid(source, "payload.object.end_time", string(eb), "must not be before start_time")
		}
		durS, hasDur = end.Sub(start).Seconds(), true
	} else {
		mins, present, ok := vendorkit.Float(m.Duration)
		if !ok || present && !(mins >= 0 && mins <= 7*24*60) {
			return dst, schemas.Invalid(source, "payload.object.duration", string(m.Duration), "must be a number of minutes between 0 and 10080")
		}
		durS, hasDur = mins*60, present
	}
	if hasDur && durS > 7*24*3600 {
		return dst, schemas.Invalid(source, "payload.object.end_time", string(eb), "meeting longer than one week")
	}

	id, ok := vendorkit.Scalar(m.ID)
	if !ok {
		return dst, schemas.Invalid(source, "payload.object.id", string(m.ID), "must be a string or number")
	}
	topic, ok := vendorkit.Str(m.Topic)
	if !ok {
		return dst, schemas.Invalid(source, "payload.object.topic", string(m.Topic), "must be a string")
	}

	dst, ev := vendorkit.Next(dst)
	ev.EventID = "zoom:" + string(uuid)
	ev.OccurredAt = start
	ev.Source = source
	ev.Type = schemas.TypeMeetingHeld
	ev.Channel = schemas.ChannelMeeting
	ev.RepID = rep
	ev.TeamID = d.idx.TeamOf(rep)
	if hasDur {
		ev.Has |= schemas.HasDuration
		ev.DurationS = durS
	}
	if len(id) > 0 {
		vendorkit.SetAttrBytes(ev, "meeting_id", id)
	}
	if len(topic) > 0 {
		vendorkit.SetAttrBytes(ev, "topic", topic) // free text: the privacy stage pseudonymises it
	}
	return vendorkit.Commit(dst)
}

// joined turns a guest's meeting.participant_joined into a meeting.joined
// of the host's rep (package doc).
func (d *Decoder) joined(dst []schemas.Interaction, m *meeting) ([]schemas.Interaction, error) {
	p := &m.Participant
	var f [len(participantFields)][]byte
	for k, r := range [...][]byte{p.UserID, p.ID, p.ParticipantUserID, p.ParticipantUUID, p.UserName, p.Email, p.JoinTime} {
		b, ok := vendorkit.Str(r)
		if !ok {
			return dst, schemas.Invalid(source, "payload.object.participant."+participantFields[k], string(r), "must be a string")
		}
		f[k] = b
	}
	userID, zoomID, puid, puuid, name, email, joinTime := f[0], f[1], f[2], f[3], f[4], f[5], f[6]
	if len(email) == 0 {
		d.metrics.skipJoinNoEmail.Inc() // a phone dial-in, or a guest Zoom gives no e-mail for
		return dst, nil
	}
	uuid, host, rep, err := d.instance(m)
	if err != nil {
		return dst, err
	}
	if string(zoomID) == string(host) || string(puid) == string(host) {
		d.metrics.skipJoinHost.Inc()
		return dst, nil
	}
	if d.internal(zoomID) || d.internal(puid) || d.isRepMailbox(email) {
		d.metrics.skipJoinRep.Inc() // a colleague: not a contact
		return dst, nil
	}
	if len(joinTime) == 0 {
		return dst, schemas.Invalid(source, "payload.object.participant.join_time", "", "required")
	}
	at, ok := vendorkit.ParseISO(joinTime)
	if !ok || !vendorkit.Plausible(at) {
		return dst, schemas.Invalid(source, "payload.object.participant.join_time", string(joinTime), vendorkit.RuleISOTime)
	}
	// The participant's most specific id: participant_uuid is unique per
	// participant in the meeting; older payloads have only the others.
	who, whoField := puuid, "participant_uuid"
	for _, c := range [...]struct {
		v     []byte
		field string
	}{{puid, "participant_user_id"}, {zoomID, "id"}, {userID, "user_id"}, {email, "email"}} {
		if len(who) > 0 {
			break
		}
		who, whoField = c.v, c.field
	}
	id := "zoom:" + string(uuid) + ":" + string(who) + ":" + string(joinTime)
	if len(id) > schemas.MaxIDLen {
		return dst, schemas.Invalid(source, "payload.object.participant."+whoField, string(who), "event id (uuid, participant, join_time) longer than "+strconv.Itoa(schemas.MaxIDLen)+" bytes")
	}
	meetingID, ok := vendorkit.Scalar(m.ID)
	if !ok {
		return dst, schemas.Invalid(source, "payload.object.id", string(m.ID), "must be a string or number")
	}

	dst, ev := vendorkit.Next(dst)
	ev.EventID = id
	ev.OccurredAt = at
	ev.Source = source
	ev.Type = schemas.TypeMeetingJoined
	ev.Channel = schemas.ChannelMeeting
	ev.RepID = rep
	ev.TeamID = d.idx.TeamOf(rep)
	ev.Contact.Email = string(email) // as sent: the privacy stage lower-cases it
	ev.Contact.Name = string(name)
	if len(meetingID) > 0 {
		vendorkit.SetAttrBytes(ev, "meeting_id", meetingID)
	}
	return vendorkit.Commit(dst)
}

var participantFields = [...]string{"user_id", "id", "participant_user_id", "participant_uuid", "user_name", "email", "join_time"}

// internal reports whether a Zoom user id is a rep's.
func (d *Decoder) internal(id []byte) bool {
	return len(id) > 0 && d.idx.RepFor(schemas.IdentZoom, vendorkit.View(id)) != ""
}

// isRepMailbox looks the address up lower-cased, as the org file stores
// mailboxes.
func (d *Decoder) isRepMailbox(addr []byte) bool {
	var buf [128]byte
	if len(addr) > len(buf) {
		return d.idx.RepFor(schemas.IdentMailbox, strings.ToLower(string(addr))) != ""
	}
	for k, c := range addr {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[k] = c
	}
	return d.idx.RepFor(schemas.IdentMailbox, vendorkit.View(buf[:len(addr)])) != ""
}
