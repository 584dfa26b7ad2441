// Package aircall normalises Aircall call webhooks into canonical
// interactions.
//
// Only call.ended is emitted: it arrives about 30 seconds after the call,
// once Aircall knows its duration. call.hungup fires at hang-up with partial
// data; emitting both would count the call twice in the per-batch partial
// aggregates even though they share an event_id, so call.hungup is skipped
// with the other in-progress events (call.created, call.ringing_on_agent,
// call.answered, …) and counted in salespulse_aircall_skipped_total.
//
// See docs/sources-meetings-mail-telephony.md for the full mapping.
package aircall

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/salespulse/salespulse/schemas"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

const source = "aircall"

// Decoder turns Aircall webhook bodies into canonical interactions. It is
// safe for concurrent use.
type Decoder struct {
	idx     *schemas.Index
	metrics *metrics
	pool    vendorkit.Pool[webhook] // reused across records
}

// NewDecoder returns a decoder that maps Aircall users to reps through idx.
// Metrics are registered on reg (nil: not registered).
func NewDecoder(idx *schemas.Index, reg prometheus.Registerer) (*Decoder, error) {
	if idx == nil {
		return nil, fmt.Errorf("new aircall decoder: nil org index")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new aircall decoder: register metrics: %w", err)
	}
	return &Decoder{idx: idx, metrics: m}, nil
}

// webhook is the part of an Aircall webhook the decoder reads. Leaves are raw
// JSON so that a value of an unexpected type is reported against its own
// field path and ids may arrive as numbers or strings.
type webhook struct {
	Event json.RawMessage `json:"event"`
	Data  struct {
		ID               json.RawMessage `json:"id"`
		Direction        json.RawMessage `json:"direction"`
		Status           json.RawMessage `json:"status"`
		StartedAt        json.RawMessage `json:"started_at"`
		AnsweredAt       json.RawMessage `json:"answered_at"`
		EndedAt          json.RawMessage `json:"ended_at"`
		Duration         json.RawMessage `json:"duration"`
		RawDigits        json.RawMessage `json:"raw_digits"`
		MissedCallReason json.RawMessage `json:"missed_call_reason"`
		User             struct {
			ID    json.RawMessage `json:"id"`
			Email json.RawMessage `json:"email"`
		} `json:"user"`
		// Participants of the call, "participants" in call webhooks
		// ("conference_participants" in the Call API): type "user" (an
		// agent: id, name), "contact" or "external" (phone_number).
		Participants []participant `json:"participants"`
		Contact      struct {
			FirstName json.RawMessage `json:"first_name"`
			LastName  json.RawMessage `json:"last_name"`
			Emails    []struct {
				Value json.RawMessage `json:"value"`
			} `json:"emails"`
		} `json:"contact"`
	} `json:"data"`
}

type participant struct {
	Type json.RawMessage `json:"type"`
	ID   json.RawMessage `json:"id"`
}

func (w *webhook) reset() {
	// The JSON decoder writes into a slice's spare capacity without zeroing
	// it: clear it, or an absent field would keep an earlier record's value.
	es, ps := w.Data.Contact.Emails, w.Data.Participants
	clear(es[:cap(es)])
	clear(ps[:cap(ps)])
	*w = webhook{}
	w.Data.Contact.Emails = es[:0]
	w.Data.Participants = ps[:0]
}

// Decode appends the interactions decoded from one Kafka record value to dst
// and returns the extended slice: one call.inbound or call.outbound for a
// call.ended webhook, none (nil error) for the other events. Bad input yields
// a *schemas.FieldError naming the field and rule, and dst unchanged.
//
// Every string appended owns its memory; value may be reused once Decode
// returns. Elements in dst's spare capacity are reused (see Batch.Reset).
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	w := d.pool.Get()
	defer d.pool.Put(w)
	w.reset()
	// ZeroCopy: raw values alias value; everything kept is cloned below.
	if err := vendorkit.Parse(source, value, w); err != nil {
		return dst, err
	}
	event, ok := vendorkit.Str(w.Event)
	switch {
	case !ok:
		return dst, schemas.Invalid(source, "event", string(w.Event), "must be a string")
	case len(event) == 0:
		return dst, schemas.Invalid(source, "event", "", "required")
	case vendorkit.View(event) == "call.ended":
		return d.ended(dst, w)
	case strings.HasPrefix(vendorkit.View(event), "call."):
		d.metrics.skipNotFinal.Inc()
	default:
		// user.*, contact.*, number.*, message.* …: not calls.
		d.metrics.skipOther.Inc()
	}
	return dst, nil
}

const maxVendorID = schemas.MaxIDLen - len("aircall:")

func (d *Decoder) ended(dst []schemas.Interaction, w *webhook) ([]schemas.Interaction, error) {
	c := &w.Data
	id, ok := vendorkit.Scalar(c.ID)
	switch {
	case !ok:
		return dst, schemas.Invalid(source, "data.id", string(c.ID), "must be a number or string")
	case len(id) == 0:
		return dst, schemas.Invalid(source, "data.id", "", "required")
	case len(id) > maxVendorID:
		return dst, schemas.Invalid(source, "data.id", string(id), "longer than "+strconv.Itoa(maxVendorID)+" bytes")
	}
	var typ schemas.Type
	dir, ok := vendorkit.Str(c.Direction)
	switch {
	case ok && vendorkit.View(dir) == "inbound":
		typ = schemas.TypeCallInbound
	case ok && vendorkit.View(dir) == "outbound":
		typ = schemas.TypeCallOutbound
	case ok && len(dir) == 0:
		return dst, schemas.Invalid(source, "data.direction", "", "required")
	default:
		return dst, schemas.Invalid(source, "data.direction", string(c.Direction), `must be "inbound" or "outbound"`)
	}
	started, present, err := epoch("data.started_at", c.StartedAt)
	if err != nil {
		return dst, err
	}
	if !present {
		return dst, schemas.Invalid(source, "data.started_at", "", "required")
	}
	answered, _, err := epoch("data.answered_at", c.AnsweredAt)
	if err != nil {
		return dst, err
	}
	ended, hasEnd, err := epoch("data.ended_at", c.EndedAt)
	if err != nil {
		return dst, err
	}
	if hasEnd && ended.Before(started) {
		return dst, schemas.Invalid(source, "data.ended_at", string(c.EndedAt), "must not be before started_at")
	}
	// Duration: Aircall's own (seconds, ringing included); else the span.
	dur, hasDur, ok := vendorkit.Float(c.Duration)
	if !ok || hasDur && !(dur >= 0 && dur <= 7*24*3600) {
		return dst, schemas.Invalid(source, "data.duration", string(c.Duration), "must be a number of seconds between 0 and 604800")
	}
	if !hasDur && hasEnd {
		dur, hasDur = ended.Sub(started).Seconds(), true
		if dur > 7*24*3600 {
			return dst, schemas.Invalid(source, "data.ended_at", string(c.EndedAt), "call longer than one week")
		}
	}

	rep, err := d.rep(typ, c.User.ID, c.User.Email, c.Participants)
	if err != nil {
		return dst, err
	}

	digits, ok := vendorkit.Str(c.RawDigits)
	if !ok {
		return dst, schemas.Invalid(source, "data.raw_digits", string(c.RawDigits), "must be a string")
	}
	reason, ok := vendorkit.Str(c.MissedCallReason)
	if !ok {
		return dst, schemas.Invalid(source, "data.missed_call_reason", string(c.MissedCallReason), "must be a string")
	}
	first, ok1 := vendorkit.Str(c.Contact.FirstName)
	last, ok2 := vendorkit.Str(c.Contact.LastName)
	if !ok1 || !ok2 {
		return dst, schemas.Invalid(source, "data.contact", "", "first_name and last_name must be strings")
	}
	var email []byte
	if len(c.Contact.Emails) > 0 {
		if email, ok = vendorkit.Str(c.Contact.Emails[0].Value); !ok {
			return dst, schemas.Invalid(source, "data.contact.emails[0].value", string(c.Contact.Emails[0].Value), "must be a string")
		}
	}

	dst, ev := vendorkit.Next(dst)
	ev.EventID = "aircall:" + string(id)
	ev.OccurredAt = started
	ev.Source = source
	ev.Type = typ
	ev.Channel = schemas.ChannelPhone
	ev.RepID = rep
	ev.TeamID = d.idx.TeamOf(rep)
	if hasDur {
		ev.Has |= schemas.HasDuration
		ev.DurationS = dur
	}
	var pb [24]byte
	if p, ok := vendorkit.E164(pb[:0], digits); ok {
		ev.Contact.Phone = string(p)
	}
	ev.Contact.Email = string(email)
	switch {
	case len(first) > 0 && len(last) > 0:
		ev.Contact.Name = string(first) + " " + string(last)
	case len(first) > 0:
		ev.Contact.Name = string(first)
	default:
		ev.Contact.Name = string(last)
	}
	if answered.IsZero() {
		// An unanswered inbound call is still a prospect reaching in: the
		// lead-response clock starts, and "missed" tells dashboards apart.
		if typ == schemas.TypeCallInbound {
			vendorkit.SetAttrBytes(ev, "missed", []byte("true"))
		} else {
			vendorkit.SetAttrBytes(ev, "answered", []byte("false"))
		}
	}
	if len(reason) > 0 {
		vendorkit.SetAttrBytes(ev, "missed_call_reason", reason)
	}
	return vendorkit.Commit(dst)
}

// rep resolves the call's agent: data.user (Aircall user id first, then
// the user's e-mail as a mailbox); when data.user is null, the first
// data.participants entry of type "user" that the org file knows: a
// completed call must not be lost because Aircall names its agent only
// among the participants. Outbound
// calls need a rep and are dead-lettered only when neither names one; an
// inbound call may have none (nobody picked up, or a user missing from the
// org file) and is counted.
func (d *Decoder) rep(typ schemas.Type, rawID, rawEmail []byte, parts []participant) (string, error) {
	id, ok := vendorkit.Scalar(rawID)
	if !ok {
		return "", schemas.Invalid(source, "data.user.id", string(rawID), "must be a number or string")
	}
	email, ok := vendorkit.Str(rawEmail)
	if !ok {
		return "", schemas.Invalid(source, "data.user.email", string(rawEmail), "must be a string")
	}
	rep := ""
	if len(id) > 0 {
		rep = d.idx.RepFor(schemas.IdentAircall, vendorkit.View(id))
	}
	if rep == "" && len(email) > 0 {
		var buf [128]byte
		rep = d.idx.RepFor(schemas.IdentMailbox, vendorkit.View(vendorkit.AppendLower(buf[:0], email)))
	}
	// The participants are asked only when data.user names nobody: a user
	// the org file lacks stays an error about that user, not a silent
	// hand-over to whoever else was on the call.
	var agent []byte // the first user participant's id, for the error
	if rep == "" && len(id) == 0 && len(email) == 0 {
		for k := range parts {
			t, ok := vendorkit.Str(parts[k].Type)
			if !ok {
				return "", schemas.Invalid(source, "data.participants["+strconv.Itoa(k)+"].type", string(parts[k].Type), "must be a string")
			}
			if vendorkit.View(t) != "user" {
				continue
			}
			pid, ok := vendorkit.Scalar(parts[k].ID)
			if !ok {
				return "", schemas.Invalid(source, "data.participants["+strconv.Itoa(k)+"].id", string(parts[k].ID), "must be a number or string")
			}
			if len(pid) == 0 {
				continue
			}
			if agent == nil {
				agent = pid
			}
			if rep = d.idx.RepFor(schemas.IdentAircall, vendorkit.View(pid)); rep != "" {
				break
			}
		}
	}
	if rep == "" {
		if typ.RequiresRep() {
			switch {
			case len(id) > 0 || len(email) > 0:
				return "", schemas.Invalid(source, "data.user.id", string(id), "unknown aircall user: add it to the org file (aircall_user_ids or mailboxes)")
			case agent != nil:
				return "", schemas.Invalid(source, "data.participants", string(agent), "unknown aircall user: add it to the org file (aircall_user_ids)")
			}
			return "", schemas.Invalid(source, "data.user.id", "", "required for an outbound call: neither data.user nor a data.participants entry of type user names an agent")
		}
		d.metrics.unmappedInbound.Inc()
	}
	return rep, nil
}

// epoch parses a Unix time in seconds (number or numeric string; null or
// absent → present == false).
func epoch(field string, r []byte) (t time.Time, present bool, err error) {
	f, present, ok := vendorkit.Float(r)
	if !ok || present && !(f >= float64(vendorkit.Earliest.Unix()) && f < float64(vendorkit.Latest.Unix())) {
		return time.Time{}, true, schemas.Invalid(source, field, string(r), "must be Unix seconds between 2000 and 2100")
	}
	if !present {
		return time.Time{}, false, nil
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true, nil
}
