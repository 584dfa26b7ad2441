// Package schemas holds SalesPulse's public contracts: the canonical
// interaction every source normalises into, the batches that flow from
// sources through the pipeline to the sinks, and the ClickHouse DDL.
//
// The canonical JSON form of an Interaction is documented in
// docs/canonical-schema.md; this file is its Go shape. Changing a field name
// or meaning here is a breaking change for every producer and every SQL user.
package schemas

import (
	"time"
)

// Version is the canonical schema version written to ClickHouse with every
// row, so readers can tell rows of different contract versions apart.
const Version = 1

// Type is what happened. The string values are the canonical JSON values.
type Type uint8

// The canonical interaction types. TypeUnknown is never valid.
const (
	TypeUnknown Type = iota
	TypeLeadCreated
	TypeMessageInbound
	TypeMessageOutbound
	TypeCallInbound
	TypeCallOutbound
	TypeMeetingHeld
	TypeSocialInbound
	TypeSocialOutbound
	TypeOpportunityStageChanged
	TypeQuoteCreated
	TypeApprovalRequested
	TypeApprovalDecided
	TypeDealWon
	TypeDealLost
	TypeLeadConverted
	TypeLeadUpdated
	TypeMeetingJoined
	// TypeAlertAcknowledged is someone taking on an alert (docs/alerts.md,
	// "Acknowledgement"): LeadID is the lead, ApprovalID the id of the
	// alert acknowledged, RepID the acknowledging rep when a rep of the
	// org, else ApproverID who it was (a Slack user id, an API caller).
	// It is no one's sales activity: it opens and answers nothing.
	TypeAlertAcknowledged
	// TypeForecastSubmitted is a sales forecast for a period (docs/
	// canonical-schema.md, "Forecasts"): RepID the rep's own forecast, or
	// only TeamID the team's; Period the period ("2026-03", "2026-Q2");
	// Amount and Currency the forecast amount; Stage the forecast category
	// (commit, best_case, pipeline). It is no one's sales activity.
	TypeForecastSubmitted
	// TypeAccountUpdated says who owns an account and what its web domain
	// is (docs/signals.md): AccountID, RepID the owner, attribute
	// AttrAccountDomain. It teaches market-signal matching its account
	// directory; it is no one's activity.
	TypeAccountUpdated
	// TypeAccountSignal is a market signal about an account (an executive
	// change, a funding round, a hiring surge, news; docs/signals.md):
	// AccountID when the provider knows it, attributes AttrSignal*. It is
	// no one's activity.
	TypeAccountSignal
	numTypes
)

var typeNames = [numTypes]string{
	TypeUnknown:                 "",
	TypeLeadCreated:             "lead.created",
	TypeMessageInbound:          "message.inbound",
	TypeMessageOutbound:         "message.outbound",
	TypeCallInbound:             "call.inbound",
	TypeCallOutbound:            "call.outbound",
	TypeMeetingHeld:             "meeting.held",
	TypeSocialInbound:           "social.inbound",
	TypeSocialOutbound:          "social.outbound",
	TypeOpportunityStageChanged: "opportunity.stage_changed",
	TypeQuoteCreated:            "quote.created",
	TypeApprovalRequested:       "approval.requested",
	TypeApprovalDecided:         "approval.decided",
	TypeDealWon:                 "deal.won",
	TypeDealLost:                "deal.lost",
	TypeLeadConverted:           "lead.converted",
	TypeLeadUpdated:             "lead.updated",
	TypeMeetingJoined:           "meeting.joined",
	TypeAlertAcknowledged:       "alert.acknowledged",
	TypeForecastSubmitted:       "forecast.submitted",
	TypeAccountUpdated:          "account.updated",
	TypeAccountSignal:           "account.signal",
}

// String returns the canonical JSON value of t ("" for TypeUnknown).
func (t Type) String() string {
	if t >= numTypes {
		return ""
	}
	return typeNames[t]
}

// Types lists every valid type in declaration order.
func Types() []Type {
	out := make([]Type, 0, numTypes-1)
	for t := TypeLeadCreated; t < numTypes; t++ {
		out = append(out, t)
	}
	return out
}

// ParseType maps a canonical JSON value to its Type. It takes a byte slice so
// decoders can look a value up without allocating a string.
func ParseType(b []byte) (Type, bool) {
	// A switch on string(b) compiles to comparisons without allocation.
	switch string(b) {
	case "lead.created":
		return TypeLeadCreated, true
	case "message.inbound":
		return TypeMessageInbound, true
	case "message.outbound":
		return TypeMessageOutbound, true
	case "call.inbound":
		return TypeCallInbound, true
	case "call.outbound":
		return TypeCallOutbound, true
	case "meeting.held":
		return TypeMeetingHeld, true
	case "social.inbound":
		return TypeSocialInbound, true
	case "social.outbound":
		return TypeSocialOutbound, true
	case "opportunity.stage_changed":
		return TypeOpportunityStageChanged, true
	case "quote.created":
		return TypeQuoteCreated, true
	case "approval.requested":
		return TypeApprovalRequested, true
	case "approval.decided":
		return TypeApprovalDecided, true
	case "deal.won":
		return TypeDealWon, true
	case "deal.lost":
		return TypeDealLost, true
	case "lead.converted":
		return TypeLeadConverted, true
	case "lead.updated":
		return TypeLeadUpdated, true
	case "meeting.joined":
		return TypeMeetingJoined, true
	case "alert.acknowledged":
		return TypeAlertAcknowledged, true
	case "forecast.submitted":
		return TypeForecastSubmitted, true
	case "account.updated":
		return TypeAccountUpdated, true
	case "account.signal":
		return TypeAccountSignal, true
	}
	return TypeUnknown, false
}

// Outbound reports whether t is a rep reaching out: the touches that answer a
// lead and that require a rep_id.
func (t Type) Outbound() bool {
	switch t {
	case TypeMessageOutbound, TypeCallOutbound, TypeSocialOutbound, TypeMeetingHeld, TypeMeetingJoined:
		return true
	}
	return false
}

// Inbound reports whether t is a prospect reaching in (a lead-response trigger
// together with lead.created).
func (t Type) Inbound() bool {
	switch t {
	case TypeMessageInbound, TypeCallInbound, TypeSocialInbound:
		return true
	}
	return false
}

// Direction is "inbound", "outbound" or "" (neither, e.g. CRM changes).
func (t Type) Direction() string {
	switch {
	case t.Inbound() || t == TypeLeadCreated:
		return "inbound"
	case t.Outbound():
		return "outbound"
	}
	return ""
}

// RequiresRep reports whether an interaction of type t must name the rep:
// outbound touches, meetings and quotes are always somebody's work.
func (t Type) RequiresRep() bool {
	return t.Outbound() || t == TypeQuoteCreated
}

// Channel is the medium of an interaction.
type Channel uint8

// The canonical channels.
const (
	ChannelUnknown Channel = iota
	ChannelEmail
	ChannelPhone
	ChannelMeeting
	ChannelSocial
	ChannelChat
	ChannelCRM
	numChannels
)

var channelNames = [numChannels]string{"", "email", "phone", "meeting", "social", "chat", "crm"}

// String returns the canonical JSON value of c.
func (c Channel) String() string {
	if c >= numChannels {
		return ""
	}
	return channelNames[c]
}

// Channels lists every valid channel.
func Channels() []Channel {
	return []Channel{ChannelEmail, ChannelPhone, ChannelMeeting, ChannelSocial, ChannelChat, ChannelCRM}
}

// ParseChannel maps a canonical JSON value to its Channel.
func ParseChannel(b []byte) (Channel, bool) {
	switch string(b) {
	case "email":
		return ChannelEmail, true
	case "phone":
		return ChannelPhone, true
	case "meeting":
		return ChannelMeeting, true
	case "social":
		return ChannelSocial, true
	case "chat":
		return ChannelChat, true
	case "crm":
		return ChannelCRM, true
	}
	return ChannelUnknown, false
}

// DefaultChannel is the channel implied by a type when the event names none.
func (t Type) DefaultChannel() Channel {
	switch t {
	case TypeMessageInbound, TypeMessageOutbound:
		return ChannelEmail
	case TypeCallInbound, TypeCallOutbound:
		return ChannelPhone
	case TypeMeetingHeld, TypeMeetingJoined:
		return ChannelMeeting
	case TypeSocialInbound, TypeSocialOutbound:
		return ChannelSocial
	}
	return ChannelCRM
}

// Optional-field presence bits, so that "absent" and "zero" stay different
// (a 0 % discount is a fact; no discount field is not) without a pointer per
// field on the hot path.
const (
	HasDuration uint16 = 1 << iota
	HasAmount
	HasListPrice
	HasDiscount
	HasApproved
)

// Contact is personal data about the other party. Sources pseudonymise it
// (see package privacy) before an Interaction leaves them; sinks never store
// these raw values.
type Contact struct {
	Email  string
	Phone  string
	Mobile string // a second number of the same contact (Salesforce MobilePhone)
	Name   string
	// Country is the ISO 3166-1 alpha-2 code that numbers without a
	// country code are read in ("US" makes "(201) 555-0123" +12015550123).
	// Empty: the team's country, else the configured default. It is not
	// personal data on its own and is not stored.
	Country string
}

// IsZero reports whether no identifying contact field is set (Country
// alone identifies nobody).
func (c Contact) IsZero() bool {
	return c.Email == "" && c.Phone == "" && c.Mobile == "" && c.Name == ""
}

// ContactKeys are the pseudonyms of each identity of the contact, one per
// normalised value (e-mail lower-cased, phones in E.164), so that a call to
// the phone and a mail to the address can each find the same lead.
type ContactKeys struct {
	Email  string
	Phone  string
	Mobile string
}

// IsZero reports whether no key is set.
func (k ContactKeys) IsZero() bool { return k.Email == "" && k.Phone == "" && k.Mobile == "" }

// WatermarkAtEnd is a Watermark's Stage when its upstream had consumed
// all of its input.
const WatermarkAtEnd = "end"

// Interaction is one canonical sales interaction.
//
// Strings in an Interaction own their memory: decoders clone anything they
// keep past the record buffer, because a batch outlives the fetch it came
// from.
type Interaction struct {
	EventID    string    // unique per source; the idempotency key
	OccurredAt time.Time // event time, UTC
	Source     string    // the producing system, e.g. "salesforce", "canonical"
	Type       Type
	Channel    Channel // never ChannelUnknown after Normalize

	RepID      string
	TeamID     string
	AccountID  string
	LeadID     string
	ApprovalID string
	ApproverID string
	Stage      string // opportunity stage; on forecast.submitted the forecast category
	Currency   string // ISO 4217, upper case
	// Period is the forecast period of a forecast.submitted, "2026-03"
	// (a month) or "2026-Q2" (a quarter), cut in the team's time zone
	// (ParsePeriod). Empty on every other type.
	Period string

	Has         uint16 // HasDuration | HasAmount | ...
	DurationS   float64
	Amount      float64
	ListPrice   float64
	DiscountPct float64 // 0..100
	Approved    bool

	// ContactKey is the pseudonym of the contact (keyed HMAC of the e-mail,
	// else phone, else name): it lets SQL users count distinct contacts and
	// erase a subject without ever holding the raw value.
	ContactKey string
	// Keys are the pseudonyms of each identity (e-mail, phone, mobile),
	// set by pseudonymisation; lead resolution matches on them.
	Keys    ContactKeys
	Contact Contact // raw; cleared by pseudonymisation before any sink

	// Watermark marks a progress record, not an event: an upstream task
	// of the lead topics (docs/leads.md) telling every downstream
	// partition that its input EventID ("topic/partition") has reached
	// event time OccurredAt. The stages consume it; no sink stores it.
	// Stage is WatermarkAtEnd when the upstream had consumed all of its
	// input (it may go quiet rather than lag); SentAt is the upstream's
	// wall clock when it sent the mark. Set only by package leads.
	Watermark bool
	SentAt    time.Time

	// PairOnly marks a copy of a touch that was already counted where it
	// was first routed (its contact's partition, before the contact was
	// known to be a lead's), re-sent to its lead's partition once the lead
	// resolved: the window pairs it and counts nothing else, and no sink
	// stores it. Set only by lead resolution, never by a decoder.
	PairOnly bool

	// Customer marks an existing customer's contact, not a lead: on an
	// identity (lead.updated) the contact id it names is a customer's
	// (a Salesforce Contact, a canonical event with "customer": true),
	// and lead resolution copies it to every touch it resolves to that
	// identity. A Customer event neither opens nor answers a response
	// clock (docs/leads.md): an existing customer's call is no lead
	// waiting for an answer. It is still the rep's activity.
	Customer bool

	Attributes map[string]string
}

// Reset clears i for reuse, keeping the Attributes map's capacity.
func (i *Interaction) Reset() {
	attrs := i.Attributes
	clear(attrs)
	*i = Interaction{Attributes: attrs}
}

// Direction is the direction implied by the type.
func (i *Interaction) Direction() string { return i.Type.Direction() }

// OpensLead reports whether i opens a lead's response clock
// (docs/kbis.md, "Lead response"): a lead.created or an inbound touch
// that names its lead, unless the lead is an existing customer's contact
// (Customer).
func (i *Interaction) OpensLead() bool {
	return i.LeadID != "" && !i.Customer && (i.Type == TypeLeadCreated || i.Type.Inbound())
}

// AnswersLead reports whether i answers a lead's open trigger: an
// outbound touch (meetings included) that names its lead, unless it is an
// existing customer's contact.
func (i *Interaction) AnswersLead() bool {
	return i.LeadID != "" && !i.Customer && i.Type.Outbound()
}

// Normalize fills derived fields: the channel from the type when absent, the
// time zone to UTC, the currency to upper case.
func (i *Interaction) Normalize() {
	if i.Channel == ChannelUnknown {
		i.Channel = i.Type.DefaultChannel()
	}
	i.OccurredAt = i.OccurredAt.UTC()
	if c := i.Currency; c != "" && (c[0] >= 'a' || len(c) > 1 && c[1] >= 'a' || len(c) > 2 && c[2] >= 'a') {
		i.Currency = upperASCII(c)
	}
}

func upperASCII(s string) string {
	b := []byte(s)
	for k, c := range b {
		if c >= 'a' && c <= 'z' {
			b[k] = c - 'a' + 'A'
		}
	}
	return string(b)
}
