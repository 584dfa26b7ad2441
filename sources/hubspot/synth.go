package hubspot

import (
	"strconv"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated interactions as HubSpot webhook bodies
// (docs/sources.md, "Synthetic payloads", has the whole mapping): contact
// creations with their e-mail and phone, contact changes and deal stage
// changes of the teams working in HubSpot. Their lead touches go through
// the telephony, mail and meeting vendors, which name the contact only.
type synth struct{}

var _ vendorkit.CRM = synth{}

func (synth) Carries(in *schemas.Interaction, rep *vendorkit.SynthRep) vendorkit.Carry {
	if rep == nil || rep.CRM != Name {
		return vendorkit.CarryNo
	}
	switch in.Type {
	case schemas.TypeLeadCreated, schemas.TypeLeadUpdated, schemas.TypeOpportunityStageChanged, schemas.TypeDealWon, schemas.TypeDealLost:
		return vendorkit.CarryNative
	}
	return vendorkit.CarryNo
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	switch in.Type {
	case schemas.TypeLeadCreated, schemas.TypeLeadUpdated:
		hsContact(e, in, key, rep)
	default:
		hsDeal(e, in, key, rep)
	}
}

// LeadID: a generator lead is the contact 50000+n of the portal,
// "hs:<portal>:<id>" as the decoder names leads.
func (synth) LeadID(e *vendorkit.Synth, lead string) string {
	return "hs:" + strconv.FormatUint(portal(e), 10) + ":" + strconv.FormatUint(hsContactID(lead), 10)
}

// AccountID keeps the generator's id: no HubSpot event the decoder reads
// names an account.
func (synth) AccountID(_ *vendorkit.Synth, account string) string { return account }

// portal is the generated HubSpot account's portal id.
func portal(e *vendorkit.Synth) uint64 { return 20000000 + e.Seed%1000000 }

// HubSpot internal deal stage ids for the generator's stages: the default
// sales pipeline's, so the decoder's default won/lost stages apply.
var hsStages = map[string]string{
	"prospecting": "appointmentscheduled", "qualification": "qualifiedtobuy", "discovery": "presentationscheduled",
	"proposal": "decisionmakerboughtin", "negotiation": "contractsent",
	"closed_won": "closedwon", "closed_lost": "closedlost",
}

func hsContactID(lead string) uint64 { return 50000 + vendorkit.IDNumber(lead) }
func hsDealID(account string) uint64 { return 9000000 + vendorkit.IDNumber(account) }

const (
	hsSubContactCreation = 1101
	hsSubContactProperty = 1102
	hsSubDealStage       = 1103
	hsSubDealOwner       = 1104
	hsSubDealCreation    = 1105
	// One contact.propertyChange subscription per property, as HubSpot
	// subscribes them.
	hsSubContactEmail  = 1106
	hsSubContactPhone  = 1107
	hsSubContactMobile = 1108
)

// hsEvent appends one webhook event. Its eventId is 100000000 + 8*Seq +
// off: off (0..7) tells the events of one interaction apart.
func hsEvent(e *vendorkit.Synth, b []byte, sub int, typ string, obj uint64, ms int64, rep *vendorkit.SynthRep, prop, value string, off uint64) ([]byte, string) {
	eventID := 100000000 + e.Seq*8 + off%8
	b = append(b, `{"eventId":`...)
	b = strconv.AppendUint(b, eventID, 10)
	b = append(b, `,"subscriptionId":`...)
	b = strconv.AppendInt(b, int64(sub), 10)
	b = append(b, `,"portalId":`...)
	b = strconv.AppendUint(b, portal(e), 10)
	b = append(b, `,"appId":1160452,"occurredAt":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"subscriptionType":"`...)
	b = append(b, typ...)
	b = append(b, `","attemptNumber":0,"objectId":`...)
	b = strconv.AppendUint(b, obj, 10)
	if prop != "" {
		b = append(b, `,"propertyName":`...)
		b = schemas.AppendJSONString(b, prop)
		b = append(b, `,"propertyValue":`...)
		b = schemas.AppendJSONString(b, value)
	}
	b = append(b, `,"changeSource":"CRM_UI","sourceId":"userId:`...)
	b = append(b, vendorkit.First(rep.HubSpotUserIDs)...)
	b = append(b, `"}`...)
	id := "hs:" + strconv.FormatUint(portal(e), 10) + ":" + strconv.Itoa(sub) + ":" + strconv.FormatUint(eventID, 10)
	return b, id
}

// hsContact renders a lead.created as a contact.creation followed, in the
// same POST body, by one contact.propertyChange per identity the contact
// was created with (email, phone, mobilephone), each its own event at the
// creation's time, as HubSpot sends them: the creation itself names no
// property. A lead.updated is the property changes alone. Sometimes the
// body also holds a lifecyclestage change the decoder skips. HubSpot
// sends no country.
func hsContact(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	ms := in.OccurredAt.UnixMilli()
	obj := hsContactID(in.LeadID)
	lead := rep.LeadID(e, in.LeadID)
	off := uint64(e.Rand.IntN(8))
	b := append(r.Value, '[')
	var id string
	if in.Type == schemas.TypeLeadCreated {
		b, id = hsEvent(e, b, hsSubContactCreation, "contact.creation", obj, ms, rep, "", "", off)
		off++
		if e.Expect {
			e.Want(r, in, id).LeadID = lead
		}
	}
	for _, p := range [...]struct {
		sub  int
		name string
		v    string
		set  func(*schemas.Contact, string)
	}{
		{hsSubContactEmail, "email", in.Contact.Email, func(c *schemas.Contact, v string) { c.Email = v }},
		{hsSubContactPhone, "phone", in.Contact.Phone, func(c *schemas.Contact, v string) { c.Phone = v }},
		{hsSubContactMobile, "mobilephone", in.Contact.Mobile, func(c *schemas.Contact, v string) { c.Mobile = v }},
	} {
		if p.v == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b, id = hsEvent(e, b, p.sub, "contact.propertyChange", obj, ms, rep, p.name, p.v, off)
		off++
		if e.Expect {
			w := e.Want(r, in, id)
			w.Type, w.Channel = schemas.TypeLeadUpdated, schemas.TypeLeadUpdated.DefaultChannel()
			w.LeadID = lead
			p.set(&w.Contact, p.v)
		}
	}
	if e.Rand.IntN(2) == 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b, _ = hsEvent(e, b, hsSubContactProperty, "contact.propertyChange", obj, ms, rep, "lifecyclestage", "lead", off)
	}
	r.Value = append(b, ']')
}

// hsDeal is a dealstage property change; sometimes the body also holds a
// deal.creation or an owner change, both skipped.
func hsDeal(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	ms := in.OccurredAt.UnixMilli()
	obj := hsDealID(in.AccountID)
	stage := hsStages[in.Stage]
	b := append(r.Value, '[')
	switch e.Rand.IntN(4) {
	case 0:
		b, _ = hsEvent(e, b, hsSubDealCreation, "deal.creation", obj, ms, rep, "", "", uint64(e.Rand.IntN(8)))
		b = append(b, ',')
	case 1:
		b, _ = hsEvent(e, b, hsSubDealOwner, "deal.propertyChange", obj, ms, rep, "hubspot_owner_id", vendorkit.First(rep.HubSpotUserIDs), uint64(e.Rand.IntN(8)))
		b = append(b, ',')
	}
	b, id := hsEvent(e, b, hsSubDealStage, "deal.propertyChange", obj, ms, rep, "dealstage", stage, uint64(e.Rand.IntN(8)))
	r.Value = append(b, ']')
	if e.Rand.IntN(5) == 0 {
		// A body of skipped events only: the deal changes hands.
		o := e.Record(key)
		b := append(o.Value, '[')
		b, _ = hsEvent(e, b, hsSubDealOwner, "deal.propertyChange", obj, ms+int64(1000+e.Rand.IntN(60000)), rep, "hubspot_owner_id", vendorkit.First(rep.Colleague.HubSpotUserIDs), uint64(e.Rand.IntN(8)))
		o.Value = append(b, ']')
	}
	if e.Expect {
		w := e.Want(r, in, id)
		w.Stage = stage
	}
}
