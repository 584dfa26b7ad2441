// Package hubspot normalises HubSpot Webhooks v3 events (contact and deal
// subscriptions, classic and generic "object.*" forms) into canonical
// interactions. The mapping is documented in docs/sources.md, section
// "HubSpot".
package hubspot

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// Source is the value of Interaction.Source and FieldError.Source.
const Source = "hubspot"

// Rules of the FieldErrors this package returns (besides schemas' own).
const (
	RuleID     = "must be a non-negative integer"
	RuleString = "must be a JSON string"
)

// event is one webhook event. Every field is raw so that one event of the
// wrong shape cannot fail the decoding of the other 99 in its POST body;
// the values point into the record buffer (json.ZeroCopy) and live only
// during Decode.
type event struct {
	EventID          json.RawMessage `json:"eventId"`
	SubscriptionID   json.RawMessage `json:"subscriptionId"`
	PortalID         json.RawMessage `json:"portalId"`
	OccurredAt       json.RawMessage `json:"occurredAt"`
	SubscriptionType json.RawMessage `json:"subscriptionType"`
	EventType        json.RawMessage `json:"eventType"` // older name of subscriptionType
	ObjectID         json.RawMessage `json:"objectId"`
	ObjectTypeID     json.RawMessage `json:"objectTypeId"` // generic webhooks: "0-1" contact, "0-3" deal
	PropertyName     json.RawMessage `json:"propertyName"`
	PropertyValue    json.RawMessage `json:"propertyValue"`
	ChangeSource     json.RawMessage `json:"changeSource"`
	SourceID         json.RawMessage `json:"sourceId"`
}

const parseFlags = json.ZeroCopy | json.DontMatchCaseInsensitiveStructFields

// Decoder turns one Kafka record value (a webhook POST body) into canonical
// interactions. It is safe for concurrent use.
type Decoder struct {
	cfg        Config
	allSources bool // LeadChangeSources holds "*"
	idx        *schemas.Index
	metrics    *metrics
	pool       vendorkit.Pool[scratch]
}

type scratch struct {
	events []event
	buf    []byte
	intern vendorkit.Interner
	errs   vendorkit.Errors
}

// NewDecoder returns a decoder. cfg gets its defaults applied and is
// validated; idx maps HubSpot user ids to reps and may be nil. reg may be nil.
func NewDecoder(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (*Decoder, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hubspot decoder config: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("hubspot decoder metrics: %w", err)
	}
	return &Decoder{cfg: cfg, idx: idx, metrics: m, allSources: slices.Contains(cfg.LeadChangeSources, "*")}, nil
}

// Decode appends to dst the interactions of one record value: a JSON array
// of up to 100 webhook events (a single event object is accepted too).
// value is not retained; every string appended is owned.
//
// Zero interactions and a nil error mean every event was deliberately
// skipped (counted in salespulse_hubspot_skipped_total). Bad events yield
// *schemas.FieldError values whose Field starts with "[index]."; the good
// events of the same body are appended all the same, and the returned error
// (an errors.Join when several are bad) names the bad ones. Every appended
// interaction has passed Normalize and Validate.
func (d *Decoder) Decode(dst []schemas.Interaction, value []byte) ([]schemas.Interaction, error) {
	s := d.pool.Get()
	defer d.pool.Put(s)
	v := bytes.TrimSpace(value)
	if len(v) == 0 {
		return dst, schemas.Invalid(Source, "", "", "empty record value")
	}
	evs := s.events[:cap(s.events)]
	clear(evs) // the JSON decoder reuses elements without zeroing them
	single := v[0] == '{'
	var rest []byte
	var err error
	if single {
		evs = append(evs[:0], event{})
		rest, err = json.Parse(v, &evs[0], parseFlags)
	} else {
		evs = evs[:0]
		rest, err = json.Parse(v, &evs, parseFlags)
	}
	s.events = evs
	if err != nil || len(rest) != 0 {
		return dst, malformed(v, rest, err)
	}
	for k := range evs {
		prefix := ""
		if !single {
			prefix = "[" + strconv.Itoa(k) + "]."
		}
		dst = d.decodeEvent(s, dst, &evs[k], prefix)
	}
	return dst, s.errs.Err()
}

func malformed(v, rest []byte, err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		field := te.Field
		if _, err := strconv.Atoi(field); err == nil {
			field = "[" + field + "]"
		}
		return schemas.Invalid(Source, field, vendorkit.TypeErrorValue(te.Value), "must be a JSON array of event objects, or one event object")
	}
	if err == nil {
		return schemas.Invalid(Source, "", string(rest), "unexpected data after the JSON value")
	}
	return schemas.Invalid(Source, "", string(v), "malformed JSON: "+err.Error())
}

// str returns the content of a JSON string value ("" for absent or null).
// The field path is built only on error: concatenating it per field and
// event was most of the allocations of a batch.
func str(prefix, field string, raw json.RawMessage) (string, error) {
	if vendorkit.Null(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", schemas.Invalid(Source, prefix+field, string(raw), RuleString)
	}
	if b, ok := vendorkit.Unquote(raw); ok {
		return unsafeString(b), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", schemas.Invalid(Source, prefix+field, string(raw), RuleString)
	}
	return s, nil
}

// unsafeString views b as a string without copying; the result lives only
// as long as the record buffer and is cloned or interned before it is kept.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// kind is what a subscription is about.
type kind uint8

const (
	kindOther kind = iota
	kindContactCreation
	kindDealCreation
	kindContactProperty
	kindDealProperty
)

// classify maps subscriptionType (classic "contact.creation" or generic
// "object.creation" with objectTypeId "0-1") to a kind.
func classify(typ, objectTypeID string) kind {
	object, action, _ := strings.Cut(typ, ".")
	if object == "object" {
		switch objectTypeID {
		case "0-1":
			object = "contact"
		case "0-3":
			object = "deal"
		}
	}
	switch object + "." + action {
	case "contact.creation":
		return kindContactCreation
	case "deal.creation":
		return kindDealCreation
	case "contact.propertyChange":
		return kindContactProperty
	case "deal.propertyChange":
		return kindDealProperty
	}
	return kindOther
}

func (d *Decoder) decodeEvent(s *scratch, dst []schemas.Interaction, e *event, prefix string) []schemas.Interaction {
	field, raw := "subscriptionType", e.SubscriptionType
	if vendorkit.Null(raw) {
		field, raw = "eventType", e.EventType
	}
	typ, err := str(prefix, field, raw)
	if err != nil {
		s.errs.Add(err)
		return dst
	}
	if typ == "" {
		s.errs.Add(schemas.Invalid(Source, prefix+"subscriptionType", "", "required (or eventType)"))
		return dst
	}
	objType, err := str(prefix, "objectTypeId", e.ObjectTypeID)
	if err != nil {
		s.errs.Add(err)
		return dst
	}
	prop, err := str(prefix, "propertyName", e.PropertyName)
	if err != nil {
		s.errs.Add(err)
		return dst
	}
	k := classify(typ, objType)
	switch {
	case k == kindOther:
		d.metrics.skipped[skipSubscription].Inc()
		return dst
	case k == kindDealCreation:
		d.metrics.skipped[skipDealCreation].Inc()
		return dst
	case (k == kindContactProperty || k == kindDealProperty) && prop == "hubspot_owner_id":
		// Ownership moves are not interactions; the owner of later
		// events comes from their own sourceId.
		d.metrics.skipped[skipOwnership].Inc()
		return dst
	case k == kindContactProperty && identityProperty(prop):
		// Learnt whatever changeSource says: an import or a sync that
		// sets an e-mail still tells who the contact is. Only opening a
		// lead (contact.creation) is filtered by change source. A
		// cleared value teaches nothing.
		v, err := str(prefix, "propertyValue", e.PropertyValue)
		if err != nil {
			s.errs.Add(err)
			return dst
		}
		if strings.TrimSpace(v) == "" {
			d.metrics.skipped[skipProperty].Inc()
			return dst
		}
	case k == kindContactProperty || (k == kindDealProperty && prop != "dealstage"):
		d.metrics.skipped[skipProperty].Inc()
		return dst
	case k == kindContactCreation && !d.allSources:
		src, err := str(prefix, "changeSource", e.ChangeSource)
		if err != nil {
			s.errs.Add(err)
			return dst
		}
		// A bulk import or an integration sync creating contacts would
		// open an SLA clock per contact. No changeSource: nothing says it
		// was one, so the lead opens.
		if src != "" && !slices.Contains(d.cfg.LeadChangeSources, src) {
			d.metrics.skipped[skipChangeSource].Inc()
			return dst
		}
	}

	var it *schemas.Interaction
	dst, it = vendorkit.Next(dst)
	if err := d.fill(s, it, e, k, prop, prefix); err != nil {
		s.errs.Add(err)
		return vendorkit.Drop(dst)
	}
	if dst, err = vendorkit.Commit(dst); err != nil {
		s.errs.Add(vendorkit.Prefix(prefix, err))
		return dst
	}
	d.metrics.emit(dst[len(dst)-1].Type)
	return dst
}

func digits(prefix, field string, raw json.RawMessage) ([]byte, error) {
	b, ok := vendorkit.Digits(raw)
	if !ok {
		if vendorkit.Null(raw) {
			return nil, schemas.Invalid(Source, prefix+field, "", "required")
		}
		return nil, schemas.Invalid(Source, prefix+field, string(raw), RuleID)
	}
	return b, nil
}

func (d *Decoder) fill(s *scratch, it *schemas.Interaction, e *event, k kind, prop, prefix string) error {
	portal, err := digits(prefix, "portalId", e.PortalID)
	if err != nil {
		return err
	}
	sub, err := digits(prefix, "subscriptionId", e.SubscriptionID)
	if err != nil {
		return err
	}
	eid, err := digits(prefix, "eventId", e.EventID)
	if err != nil {
		return err
	}
	obj, err := digits(prefix, "objectId", e.ObjectID)
	if err != nil {
		return err
	}
	var ok bool
	if it.OccurredAt, ok = vendorkit.Millis(e.OccurredAt); !ok {
		rule := vendorkit.RuleMillis
		if vendorkit.Null(e.OccurredAt) {
			rule = "required"
		}
		return schemas.Invalid(Source, prefix+"occurredAt", string(e.OccurredAt), rule)
	}
	it.Source = Source
	// HubSpot documents (eventId, subscriptionId, portalId) as the
	// deduplication key; attemptNumber is left out so a retry gets the
	// same id as the first attempt.
	b := append(s.buf[:0], "hs:"...)
	b = append(b, portal...)
	b = append(b, ':')
	b = append(b, sub...)
	b = append(b, ':')
	b = append(b, eid...)
	it.EventID = string(b)
	// The object id is qualified by the portal: ids are per account.
	b = append(b[:0], "hs:"...)
	b = append(b, portal...)
	b = append(b, ':')
	b = append(b, obj...)
	objectID := string(b)
	s.buf = b

	switch k {
	case kindContactCreation:
		it.Type = schemas.TypeLeadCreated
		it.LeadID = objectID
	case kindContactProperty: // email, phone or mobilephone, checked by decodeEvent
		v, _ := str(prefix, "propertyValue", e.PropertyValue)
		it.Type = schemas.TypeLeadUpdated
		it.LeadID = objectID
		switch v = strings.Clone(v); prop {
		case "email":
			it.Contact.Email = v
		case "phone":
			it.Contact.Phone = v
		default: // mobilephone
			it.Contact.Mobile = v
		}
	case kindDealProperty: // dealstage
		stage, err := str(prefix, "propertyValue", e.PropertyValue)
		if err != nil {
			return err
		}
		if stage == "" {
			return schemas.Invalid(Source, prefix+"propertyValue", "", "required for a dealstage change")
		}
		if len(stage) > schemas.MaxIDLen {
			return schemas.Invalid(Source, prefix+"propertyValue", stage, "longer than 256 bytes")
		}
		is := func(id string) bool { return sameStage(stage, id) }
		switch {
		case slices.ContainsFunc(d.cfg.WonStages, is):
			it.Type = schemas.TypeDealWon
		case slices.ContainsFunc(d.cfg.LostStages, is):
			it.Type = schemas.TypeDealLost
		default:
			it.Type = schemas.TypeOpportunityStageChanged
			if !slices.ContainsFunc(d.cfg.OpenStages, is) {
				// A stage nobody mapped: if it closes a deal, the win or
				// loss is lost. Counted by id form (bounded), marked on
				// the row so SQL finds the ids to add to the config.
				d.metrics.unknownStage[stageForm(stage)].Inc()
				vendorkit.SetAttr(it, "hs_stage_unmapped", "true")
			}
		}
		it.Stage = s.intern.String(stage)
		vendorkit.SetAttr(it, "opportunity_id", objectID)
	}

	src, err := str(prefix, "changeSource", e.ChangeSource)
	if err != nil {
		return err
	}
	if src != "" && len(src) <= 64 {
		vendorkit.SetAttr(it, "hs_change_source", s.intern.String(src))
	}
	sourceID, err := str(prefix, "sourceId", e.SourceID)
	if err != nil {
		return err
	}
	// The acting user appears only as sourceId "userId:<id>". An unknown
	// user leaves rep_id empty (no type mapped here requires a rep) and is
	// kept as hs_user_id so operators can complete the org file.
	if user, ok := strings.CutPrefix(sourceID, "userId:"); ok {
		if isDigits(user) {
			if rep := d.idx.RepFor(schemas.IdentHubSpot, user); rep != "" {
				it.RepID = rep
				it.TeamID = d.idx.TeamOf(rep)
			} else {
				vendorkit.SetAttr(it, "hs_user_id", s.intern.String(user))
			}
		}
	}
	return nil
}

// identityProperty reports whether a contact property is an identity of
// the contact: email, phone and mobilephone. HubSpot sends one property per
// event and no country with it: the national numbers of these events are
// read in the team's (else the configured) country.
func identityProperty(name string) bool {
	return name == "email" || name == "phone" || name == "mobilephone"
}

func isDigits(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for k := 0; k < len(s); k++ {
		if s[k] < '0' || s[k] > '9' {
			return false
		}
	}
	return true
}
