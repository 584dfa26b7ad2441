// Package dealscore computes the engagement features of open opportunities
// in event time, trains a logistic regression on closed deals, scores open
// opportunities with it and explains each score by its top contributing
// features (docs/scores.md). It is pure: no I/O, no clock, no randomness;
// the same events in the same order give the same features, the same
// training examples the same model, bit for bit.
//
// The join (docs/scores.md, "Which events belong to an opportunity"): an
// opportunity is the open deal of one account. It opens with the first
// opportunity.stage_changed, quote.created, approval.requested or deal
// close at an account that has none open, and closes with deal.won or
// deal.lost at that account. Its touches are the account's touches: calls,
// messages, social touches and meetings that carry the account id and no
// lead id (touches of a lead belong to the lead's journey, before any
// opportunity, and reach another partition of the lead topics).
package dealscore

import (
	"slices"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// The features, in model order.
const (
	FEmail7d = iota
	FPhone7d
	FSocial7d
	FMeetings7d
	FEmail30d
	FPhone30d
	FSocial30d
	FMeetings30d
	FFirstResponseH
	FMeetings
	FDiscountPct
	FStageAgeD
	FCycleD
	FApprovals
	FRejected
	FStage
	NumFeatures
)

// Names are the features' names: the columns of deal_features and the
// keys of a model file.
var Names = schemas.DealFeatureNames

// The feature constants and the schema's list agree in length.
var (
	_ [NumFeatures - len(schemas.DealFeatureNames)]struct{}
	_ [len(schemas.DealFeatureNames) - NumFeatures]struct{}
)

// Vector is one opportunity's features as of one instant.
type Vector [NumFeatures]float64

const (
	week  = 7 * 24 * time.Hour / time.Millisecond
	month = 30 * 24 * time.Hour / time.Millisecond
	hour  = float64(time.Hour / time.Millisecond)
	dayMs = float64(24 * time.Hour / time.Millisecond)
)

// Stages are the open stages in pipeline order; the stage feature is the
// index of the current one (a name not listed counts as 0).
var Stages = []string{"prospecting", "qualification", "discovery", "proposal", "negotiation"}

func stageIndex(s string) int {
	for k, n := range Stages {
		if n == s {
			return k
		}
	}
	return 0
}

// Channel slots of the touch counts.
const (
	chEmail = iota
	chPhone
	chSocial
	chMeeting
	numCh
)

// Touch reports whether i counts as a touch of its account (a call,
// message, social touch or held meeting with the account id and no lead
// id), as opposed to a deal event.
func Touch(i *schemas.Interaction) bool { return touchChannel(i) >= 0 }

// touchChannel is i's slot among the counted touches, or -1: a call,
// message, social touch or held meeting of the account (not of a lead),
// in either direction. meeting.joined is the guest's side of a meeting
// already counted by meeting.held; PairOnly copies were counted already.
func touchChannel(i *schemas.Interaction) int {
	if i.LeadID != "" || i.AccountID == "" || i.PairOnly {
		return -1
	}
	switch i.Type {
	case schemas.TypeMessageInbound, schemas.TypeMessageOutbound:
		return chEmail
	case schemas.TypeCallInbound, schemas.TypeCallOutbound:
		return chPhone
	case schemas.TypeSocialInbound, schemas.TypeSocialOutbound:
		return chSocial
	case schemas.TypeMeetingHeld:
		return chMeeting
	}
	return -1
}

// Opp is an account's open opportunity.
type Opp struct {
	ID        string // account id + "/" + the opening event's id
	RepID     string // the rep of the last event that named one
	TeamID    string
	Open      int64 // unix ms of the opening event
	StageAt   int64 // unix ms of the last stage change (Open before any)
	Stage     int
	FirstOut  int64 // unix ms of the first outbound touch at or after Open; 0 none
	Meetings  int
	Discount  float64 // of the last quote; 0 before any
	Approvals int
	Rejected  int
	closed    bool // by the last Apply
}

// Account is what the features of one account need: its touches of the
// last 30 days (event times, per channel) and its open opportunity.
type Account struct {
	Touches [numCh][]int64 // unix ms, in arrival order
	Last    int64          // largest event time seen at the account
	Opp     *Opp           // nil: none open
}

// Event is what Apply did with an interaction.
type Event uint8

// Events.
const (
	None   Event = iota // nothing of an opportunity
	Opened              // an opportunity opened (and the event applied to it)
	Moved               // the open opportunity changed or was touched
	Won                 // it closed won: Account.Opp is the closed one until the next Apply
	Lost                // it closed lost
)

// Relevant reports whether i can change an account's features.
func Relevant(i *schemas.Interaction) bool {
	if i.AccountID == "" || i.PairOnly {
		return false
	}
	if touchChannel(i) >= 0 {
		return true
	}
	switch i.Type {
	case schemas.TypeOpportunityStageChanged, schemas.TypeQuoteCreated, schemas.TypeApprovalRequested,
		schemas.TypeApprovalDecided, schemas.TypeDealWon, schemas.TypeDealLost:
		return i.LeadID == ""
	}
	return false
}

// Apply feeds one event of the account (Relevant(i) must hold). On Won
// and Lost, Opp is the closed opportunity: the caller reads its closing
// features with Features and then sets Opp to nil (else the next Apply
// drops it).
func (a *Account) Apply(i *schemas.Interaction) Event {
	if a.Opp != nil && a.Opp.closed {
		a.Opp = nil
	}
	t := i.OccurredAt.UnixMilli()
	a.Last = max(a.Last, t)
	if ch := touchChannel(i); ch >= 0 {
		a.Touches[ch] = append(a.Touches[ch], t)
		a.prune()
		o := a.Opp
		if o == nil {
			return None
		}
		if i.Type.Outbound() && o.FirstOut == 0 && t >= o.Open {
			o.FirstOut = t
		}
		if ch == chMeeting && t >= o.Open {
			o.Meetings++
		}
		return Moved
	}
	ev := Moved
	if a.Opp == nil {
		a.Opp = &Opp{ID: i.AccountID + "/" + i.EventID, Open: t, StageAt: t}
		ev = Opened
	}
	o := a.Opp
	if i.RepID != "" {
		o.RepID, o.TeamID = i.RepID, i.TeamID
	}
	switch i.Type {
	case schemas.TypeOpportunityStageChanged:
		o.Stage, o.StageAt = stageIndex(i.Stage), t
	case schemas.TypeQuoteCreated:
		if i.Has&schemas.HasDiscount != 0 {
			o.Discount = i.DiscountPct
		}
	case schemas.TypeApprovalRequested:
		o.Approvals++
	case schemas.TypeApprovalDecided:
		if i.Has&schemas.HasApproved != 0 && !i.Approved {
			o.Rejected++
		}
	case schemas.TypeDealWon:
		o.closed = true
		return Won
	case schemas.TypeDealLost:
		o.closed = true
		return Lost
	}
	return ev
}

// prune drops touches 30 days or more before the account's last event:
// no feature as of a later instant counts them.
func (a *Account) prune() {
	cut := a.Last - int64(month)
	for c := range a.Touches {
		ts := a.Touches[c]
		n := 0
		for n < len(ts) && ts[n] <= cut {
			n++
		}
		if n > 0 {
			a.Touches[c] = slices.Delete(ts, 0, n)
		}
	}
}

// Features returns the open (or just closed) opportunity's features as of
// at, in event time; ok is false when none is open.
func (a *Account) Features(at time.Time) (v Vector, ok bool) {
	o := a.Opp
	if o == nil {
		return v, false
	}
	t := at.UnixMilli()
	for c := range numCh {
		for _, x := range a.Touches[c] {
			if x > t {
				continue
			}
			if x > t-int64(week) {
				v[FEmail7d+c]++
			}
			if x > t-int64(month) {
				v[FEmail30d+c]++
			}
		}
	}
	if o.FirstOut != 0 && o.FirstOut <= t {
		v[FFirstResponseH] = float64(o.FirstOut-o.Open) / hour
	} else {
		v[FFirstResponseH] = float64(max(0, t-o.Open)) / hour
	}
	v[FMeetings] = float64(o.Meetings)
	v[FDiscountPct] = o.Discount
	v[FStageAgeD] = float64(max(0, t-o.StageAt)) / dayMs
	v[FCycleD] = float64(max(0, t-o.Open)) / dayMs
	v[FApprovals] = float64(o.Approvals)
	v[FRejected] = float64(o.Rejected)
	v[FStage] = float64(o.Stage)
	return v, true
}

// Closed reports whether the opportunity closed with the last Apply.
func (o *Opp) Closed() bool { return o.closed }
