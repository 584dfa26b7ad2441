// Package zoom normalises Zoom meeting webhooks into canonical interactions.
//
// One meeting.held is emitted per meeting, from meeting.ended: that is the
// only event that knows both ends of the meeting. meeting.started and the
// participant events are skipped (counted in salespulse_zoom_skipped_total):
// the decoder is stateless per Kafka record, so it cannot join a
// participant_joined with the ended event of the same meeting; when the ended
// payload itself carries a participants list, the external participants are
// counted and the first one becomes the Contact.
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
	UUID         json.RawMessage `json:"uuid"`
	ID           json.RawMessage `json:"id"`
	HostID       json.RawMessage `json:"host_id"`
	Topic        json.RawMessage `json:"topic"`
	StartTime    json.RawMessage `json:"start_time"`
	EndTime      json.RawMessage `json:"end_time"`
	Duration     json.RawMessage `json:"duration"`
	Participants []participant   `json:"participants"`
}

type participant struct {
	ID                json.RawMessage `json:"id"` // Zoom user id, for users of the account
	ParticipantUserID json.RawMessage `json:"participant_user_id"`
	UserName          json.RawMessage `json:"user_name"`
	Email             json.RawMessage `json:"email"`
}

func (w *webhook) reset() {
	// The decoder writes into the slice's spare capacity without zeroing
	// it first: clear it, or a field absent here would keep the value of an
	// earlier record.
	ps := w.Payload.Object.Participants
	clear(ps[:cap(ps)])
	ps = ps[:0]
	*w = webhook{}
	w.Payload.Object.Participants = ps
}

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
	case "meeting.participant_joined", "meeting.participant_left":
		d.metrics.skipParticipant.Inc()
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

func (d *Decoder) ended(dst []schemas.Interaction, m *meeting) ([]schemas.Interaction, error) {
	uuid, ok := vendorkit.Str(m.UUID)
	switch {
	case !ok:
		return dst, schemas.Invalid(source, "payload.object.uuid", string(m.UUID), "must be a string")
	case len(uuid) == 0:
		return dst, schemas.Invalid(source, "payload.object.uuid", "", "required")
	case len(uuid) > maxVendorID:
		return dst, schemas.Invalid(source, "payload.object.uuid", string(uuid), "longer than "+strconv.Itoa(maxVendorID)+" bytes")
	}
	host, ok := vendorkit.Str(m.HostID)
	if !ok {
		return dst, schemas.Invalid(source, "payload.object.host_id", string(m.HostID), "must be a string")
	}
	if len(host) == 0 {
		return dst, schemas.Invalid(source, "payload.object.host_id", "", "required")
	}
	rep := d.idx.RepFor(schemas.IdentZoom, vendorkit.View(host))
	if rep == "" {
		return dst, schemas.Invalid(source, "payload.object.host_id", string(host), "unknown zoom user: add it to the org file (zoom_user_ids)")
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

	n := len(dst)
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
	if err := d.participants(ev, host, m.Participants); err != nil {
		return dst[:n], err
	}
	return vendorkit.Commit(dst)
}

// participants records, when the ended payload lists them, how many took
// part and how many were external (neither the host nor a rep known by Zoom
// user id or mailbox), and the first external one as the Contact.
func (d *Decoder) participants(ev *schemas.Interaction, host []byte, ps []participant) error {
	if len(ps) == 0 {
		return nil
	}
	external := 0
	for k := range ps {
		p := &ps[k]
		var f [4][]byte
		for j, r := range [4][]byte{p.ID, p.ParticipantUserID, p.Email, p.UserName} {
			b, ok := vendorkit.Str(r)
			if !ok {
				return schemas.Invalid(source, "payload.object.participants["+strconv.Itoa(k)+"]."+participantFields[j], string(r), "must be a string")
			}
			f[j] = b
		}
		id, puid, email, name := f[0], f[1], f[2], f[3]
		if d.internal(host, id) || d.internal(host, puid) || len(email) > 0 && d.isRepMailbox(email) {
			continue
		}
		external++
		if external == 1 {
			ev.Contact = schemas.Contact{Email: string(email), Name: string(name)}
		}
	}
	var b [20]byte
	vendorkit.SetAttrBytes(ev, "participants", strconv.AppendInt(b[:0], int64(len(ps)), 10))
	vendorkit.SetAttrBytes(ev, "external_participants", strconv.AppendInt(b[:0], int64(external), 10))
	return nil
}

var participantFields = [4]string{"id", "participant_user_id", "email", "user_name"}

func (d *Decoder) internal(host, id []byte) bool {
	return len(id) > 0 && (string(id) == string(host) || d.idx.RepFor(schemas.IdentZoom, vendorkit.View(id)) != "")
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
