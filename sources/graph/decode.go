// Package graph normalises Microsoft Graph mail messages into canonical
// interactions.
//
// A record holds one message resource, a {"value":[…]} list or delta page of
// messages, or a change-notification batch. Notifications carry no message
// (a connector fetches the resource they name and produces the message to
// the same topic; docs/sources-meetings-mail-telephony.md): they never become
// interactions. With sources.graph.client_state configured, a notification
// whose clientState matches none of the configured values is bad input
// (dead-lettered); every notification is counted in
// salespulse_graph_notifications_total by outcome.
//
// Direction follows the org file's mailboxes (lower case):
//
//	from (or sender) is a rep mailbox, some recipient external  → message.outbound, rep = sender
//	from external, a to/cc recipient is a rep mailbox           → message.inbound, rep = first rep recipient
//	every party is a rep mailbox                                → skipped ("internal")
//	no party is a rep mailbox                                   → FieldError (a mailbox missing from the org file)
//	isDraft true, or an "@removed" delta entry                  → skipped
//
// A message copied into several rep mailboxes (one copy per mailbox in Graph)
// is one interaction: the event id hashes internetMessageId with the direction,
// not with the mailbox, so every copy yields the same event_id and the rep is
// chosen from the message itself (sender, or first rep in to then cc order).
//
// See docs/sources-meetings-mail-telephony.md for the full mapping.
package graph

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/salespulse/salespulse/schemas"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

const source = "graph"

// Decoder turns Graph mail records into canonical interactions. It is safe
// for concurrent use.
type Decoder struct {
	idx     *schemas.Index
	metrics *metrics
	pool    vendorkit.Pool[envelope] // reused across records
	// clientStates are the accepted clientState values (cfg.ClientState
	// read); none: notifications are not verified.
	clientStates [][]byte
}

// NewDecoder returns a decoder that maps mailboxes to reps through idx and
// verifies change notifications against cfg's clientState values, which it
// reads now (a rotated secret needs a new decoder, like a new org file).
// Metrics are registered on reg (nil: not registered).
func NewDecoder(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (*Decoder, error) {
	if idx == nil {
		return nil, fmt.Errorf("new graph decoder: nil org index")
	}
	cs, err := cfg.clientStates()
	if err != nil {
		return nil, fmt.Errorf("new graph decoder: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new graph decoder: register metrics: %w", err)
	}
	return &Decoder{idx: idx, metrics: m, clientStates: cs}, nil
}

type address struct {
	EmailAddress struct {
		Name    json.RawMessage `json:"name"`
		Address json.RawMessage `json:"address"`
	} `json:"emailAddress"`
}

// message is a Graph message resource, or one entry of a notification batch
// (subscriptionId set). Leaves are raw JSON so that a value of an unexpected
// type is reported against its own field path.
type message struct {
	ID                json.RawMessage `json:"id"`
	InternetMessageID json.RawMessage `json:"internetMessageId"`
	ConversationID    json.RawMessage `json:"conversationId"`
	Subject           json.RawMessage `json:"subject"`
	SentDateTime      json.RawMessage `json:"sentDateTime"`
	ReceivedDateTime  json.RawMessage `json:"receivedDateTime"`
	IsDraft           json.RawMessage `json:"isDraft"`
	Removed           json.RawMessage `json:"@removed"`
	From              address         `json:"from"`
	Sender            address         `json:"sender"`
	To                []address       `json:"toRecipients"`
	Cc                []address       `json:"ccRecipients"`
	Bcc               []address       `json:"bccRecipients"`
	SubscriptionID    json.RawMessage `json:"subscriptionId"`
	ClientState       json.RawMessage `json:"clientState"`
}

// envelope is a message, or a {"value":[…]} list of messages or
// notifications.
//
// Value stays raw and is parsed in a second step, so that an empty page
// ({"value":[]}, common at the end of a delta round) is told apart from a
// message missing all its fields.
type envelope struct {
	message
	Value json.RawMessage `json:"value"`
	list  []message
	// dirty is how many of list's elements a decode may have written
	// since the last reset: its length after a parse, all of its
	// capacity after a failed one.
	dirty int
	errs  vendorkit.Errors // of the messages of a list; empty between records
}

// reset zeroes e for reuse but keeps slice capacity. The JSON decoder writes
// into a slice's spare capacity without zeroing it, so the elements the
// last decode may have written are cleared, or a field absent here would
// keep an earlier record's value; the rest were cleared before. Clearing
// the whole capacity cost every record after one large delta page the
// clearing of that page (BenchmarkDecodeAfterLargePage).
func (e *envelope) reset() {
	e.message.reset()
	v := e.list[:cap(e.list)]
	for k := range v[:e.dirty] {
		v[k].reset()
	}
	*e = envelope{message: e.message, list: v[:0], errs: e.errs}
}

func (m *message) reset() {
	to, cc, bcc := clearAll(m.To), clearAll(m.Cc), clearAll(m.Bcc)
	*m = message{To: to, Cc: cc, Bcc: bcc}
}

func clearAll(a []address) []address {
	clear(a[:cap(a)])
	return a[:0]
}

// Decode appends the interactions decoded from one Kafka record value to dst
// and returns the extended slice. Zero interactions with a nil error means
// the record was skipped on purpose (notifications, drafts, internal mail,
// removals). Bad input yields a *schemas.FieldError naming the field and
// rule; in a list the good messages are appended and the error joins one
// FieldError per bad message (errors.As finds the first).
//
// Every string appended owns its memory; value may be reused once Decode
// returns. Elements in dst's spare capacity are reused (see Batch.Reset).
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	e := d.pool.Get()
	defer d.pool.Put(e)
	e.reset()
	// ZeroCopy: raw values alias value; everything kept is cloned below.
	if err := vendorkit.Parse(source, value, e); err != nil {
		return dst, err
	}
	if len(e.Value) == 0 || string(e.Value) == "null" {
		return d.message(dst, &e.message, "")
	}
	_, err := json.Parse(e.Value, &e.list, json.ZeroCopy)
	e.dirty = len(e.list)
	if err != nil {
		e.dirty = cap(e.list)
		return dst, schemas.Invalid(source, "value", string(e.Value), "must be an array of messages or notifications: "+err.Error())
	}
	if len(e.list) == 0 {
		d.metrics.skipEmpty.Inc()
		return dst, nil
	}
	for k := range e.list {
		var err error
		dst, err = d.message(dst, &e.list[k], "value["+strconv.Itoa(k)+"].")
		e.errs.Add(err)
	}
	return dst, e.errs.Err()
}

// party is one address of a message, lower-cased for the mailbox lookup.
type party struct {
	addr, name []byte
	rep        string
}

func (d *Decoder) message(dst []schemas.Interaction, m *message, prefix string) ([]schemas.Interaction, error) {
	if len(m.SubscriptionID) > 0 && string(m.SubscriptionID) != "null" {
		// A reference to a message, not an interaction: the connector
		// that fetches the message produces it to this topic too.
		return dst, d.notification(m, prefix)
	}
	if len(m.Removed) > 0 && string(m.Removed) != "null" {
		d.metrics.skipRemoved.Inc() // delta: deleted or moved out of the folder
		return dst, nil
	}
	switch string(m.IsDraft) {
	case "true":
		d.metrics.skipDraft.Inc()
		return dst, nil
	case "", "false", "null":
	default:
		return dst, schemas.Invalid(source, prefix+"isDraft", string(m.IsDraft), "must be a boolean")
	}

	var buf [512]byte // lower-cased addresses for lookups; grows on the heap if needed
	lc := buf[:0]
	lookup := func(a *address, field string) (party, error) {
		addr, ok1 := vendorkit.Str(a.EmailAddress.Address)
		name, ok2 := vendorkit.Str(a.EmailAddress.Name)
		if !ok1 {
			return party{}, schemas.Invalid(source, prefix+field+".emailAddress.address", string(a.EmailAddress.Address), "must be a string")
		}
		if !ok2 {
			return party{}, schemas.Invalid(source, prefix+field+".emailAddress.name", string(a.EmailAddress.Name), "must be a string")
		}
		p := party{addr: addr, name: name}
		if len(addr) > 0 {
			n := len(lc)
			lc = vendorkit.AppendLower(lc, addr)
			p.rep = d.idx.RepFor(schemas.IdentMailbox, vendorkit.View(lc[n:]))
		}
		return p, nil
	}

	from, err := lookup(&m.From, "from")
	if err != nil {
		return dst, err
	}
	sender, err := lookup(&m.Sender, "sender")
	if err != nil {
		return dst, err
	}
	if len(from.addr) == 0 {
		from = sender // from is absent in some $select projections
	}
	if len(from.addr) == 0 {
		return dst, schemas.Invalid(source, prefix+"from.emailAddress.address", "", "required")
	}
	rep := from.rep
	if rep == "" {
		rep = sender.rep // sent on behalf: the delegate's mailbox is the rep's
	}

	// Walk recipients: the first external one is the contact of an outbound
	// message, the first rep one the owner of an inbound message.
	var external, repRcpt party
	for _, list := range [...]struct {
		a     []address
		field string
	}{{m.To, "toRecipients"}, {m.Cc, "ccRecipients"}, {m.Bcc, "bccRecipients"}} {
		for k := range list.a {
			p, err := lookup(&list.a[k], list.field+"["+strconv.Itoa(k)+"]")
			if err != nil {
				return dst, err
			}
			switch {
			case len(p.addr) == 0:
			case p.rep == "" && external.addr == nil:
				external = p
			case p.rep != "" && repRcpt.rep == "" && list.field != "bccRecipients":
				repRcpt = p
			}
		}
	}

	var typ schemas.Type
	var contact party
	dateField, dateRaw, otherRaw := "sentDateTime", m.SentDateTime, m.ReceivedDateTime
	switch {
	case rep != "" && external.addr != nil:
		typ, contact = schemas.TypeMessageOutbound, external
	case rep != "":
		d.metrics.skipInternal.Inc() // rep to rep only: not a sales touch
		return dst, nil
	case repRcpt.rep != "":
		typ, contact, rep = schemas.TypeMessageInbound, from, repRcpt.rep
		dateField, dateRaw, otherRaw = "receivedDateTime", m.ReceivedDateTime, m.SentDateTime
	default:
		return dst, schemas.Invalid(source, prefix+"from.emailAddress.address", string(from.addr),
			"unknown graph mailbox: neither the sender nor a to/cc recipient is a rep mailbox: add it to the org file (mailboxes)")
	}

	db, ok := vendorkit.Str(dateRaw)
	if ok && len(db) == 0 {
		db, ok = vendorkit.Str(otherRaw) // the other timestamp is a second best
	}
	if !ok || len(db) == 0 {
		return dst, schemas.Invalid(source, prefix+dateField, string(dateRaw), "required")
	}
	at, ok := vendorkit.ParseISO(db)
	if !ok || !vendorkit.Plausible(at) {
		return dst, schemas.Invalid(source, prefix+dateField, string(db), vendorkit.RuleISOTime)
	}

	imid, ok := vendorkit.Str(m.InternetMessageID)
	if !ok {
		return dst, schemas.Invalid(source, prefix+"internetMessageId", string(m.InternetMessageID), "must be a string")
	}
	idKind := "imid"
	if len(imid) == 0 {
		// Without internetMessageId only the Graph id is left: stable for a
		// message that stays in its folder, not across mailboxes.
		if imid, ok = vendorkit.Str(m.ID); !ok || len(imid) == 0 {
			return dst, schemas.Invalid(source, prefix+"internetMessageId", string(m.InternetMessageID), "required (or id)")
		}
		idKind = "id"
	}
	subject, ok := vendorkit.Str(m.Subject)
	if !ok {
		return dst, schemas.Invalid(source, prefix+"subject", string(m.Subject), "must be a string")
	}
	conv, ok := vendorkit.Str(m.ConversationID)
	if !ok {
		return dst, schemas.Invalid(source, prefix+"conversationId", string(m.ConversationID), "must be a string")
	}

	dst, ev := vendorkit.Next(dst)
	ev.EventID = eventID(idKind, imid, typ)
	ev.OccurredAt = at
	ev.Source = source
	ev.Type = typ
	ev.Channel = schemas.ChannelEmail
	ev.RepID = rep
	ev.TeamID = d.idx.TeamOf(rep)
	ev.Contact = schemas.Contact{Email: string(contact.addr), Name: string(contact.name)}
	if len(subject) > 0 {
		vendorkit.SetAttrBytes(ev, "subject", subject) // free text: the privacy stage pseudonymises it
	}
	if len(conv) > 0 {
		vendorkit.SetAttrBytes(ev, "conversation_id", conv)
	}
	return vendorkit.Commit(dst)
}

// notification verifies a change or lifecycle notification's clientState
// against the configured values and counts it by outcome. Graph echoes the
// clientState the subscription was created with; anyone who learns the
// notification URL can post the rest, so a mismatch is reported (and
// dead-lettered) rather than dropped: forged traffic, or subscriptions
// created with a secret the config lacks (a rotation half done).
func (d *Decoder) notification(m *message, prefix string) error {
	if len(d.clientStates) == 0 {
		d.metrics.notifUnverified.Inc()
		return nil
	}
	cs, ok := vendorkit.Str(m.ClientState)
	if !ok {
		d.metrics.notifRejected.Inc()
		return schemas.Invalid(source, prefix+"clientState", string(m.ClientState), "must be a string")
	}
	if len(cs) == 0 {
		d.metrics.notifRejected.Inc()
		return schemas.Invalid(source, prefix+"clientState", "", "required: sources.graph.client_state is configured, so notifications must carry it")
	}
	for _, want := range d.clientStates {
		if subtle.ConstantTimeCompare(cs, want) == 1 {
			d.metrics.notifVerified.Inc()
			return nil
		}
	}
	d.metrics.notifRejected.Inc()
	// The value is left out: it may be a secret of another deployment.
	return schemas.Invalid(source, prefix+"clientState", "", "does not match sources.graph.client_state: not from a subscription of ours (forged, or created with a secret missing from the config)")
}

// eventID is "graph:" + 128 bits of SHA-256 over the message id and the
// direction. Hashed because internetMessageId often embeds a host or user
// name (personal data must not reach ids) and has no length bound.
func eventID(kind string, id []byte, typ schemas.Type) string {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(id)
	h.Write([]byte{0})
	h.Write([]byte(typ.String()))
	var sum [sha256.Size]byte
	var out [len("graph:") + 32]byte
	copy(out[:], "graph:")
	hex.Encode(out[len("graph:"):], h.Sum(sum[:0])[:16])
	return string(out[:])
}
