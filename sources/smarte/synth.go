package smarte

import (
	"github.com/segmentio/encoding/json"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders a generated market signal as a SMARTe webhook with one
// news event; SMARTe knows the company's domain, not the CRM's account.
type synth struct{}

func (synth) Carries(in *schemas.Interaction, _ *vendorkit.SynthRep) vendorkit.Carry {
	if in.Type == schemas.TypeAccountSignal && in.Attributes[schemas.AttrSignalDomain] != "" {
		return vendorkit.CarryNative
	}
	return vendorkit.CarryNo
}

// categories are SMARTe categories per kind: the documented "Funding" and
// "Product Change", and a personnel and a hiring category.
var categories = map[string]string{
	schemas.SignalFundingRound: "Funding", schemas.SignalNews: "Product Change",
	schemas.SignalExecutiveChange: "Key Personnel Change", schemas.SignalHiringSurge: "Hiring Plans",
}

func (synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, _ *vendorkit.SynthRep) {
	a := in.Attributes
	var w Webhook
	w.CompanyDomain = a[schemas.AttrSignalDomain] + " " // as the documented sample has it
	at := in.OccurredAt.UTC().Truncate(1e9)
	ev := Event{ID: "SM" + in.EventID, Title: "Company update", Description: "Company update.",
		PublishDate: at.Format(dateLayout), Category: categories[a[schemas.AttrSignalKind]], URL: a[schemas.AttrSignalURL]}
	w.Data.NewsEvents = []Event{ev}
	if e.Rand.IntN(8) == 0 { // now and then a webhook without news events: a valid record without signals
		n := e.Record(key)
		n.Value = append(n.Value, `{"company_domain":"`+in.Attributes[schemas.AttrSignalDomain]+` ","data":{"news_events":[]}}`...)
	}
	r := e.Record(key)
	r.Value, _ = json.Append(r.Value, &w, 0)
	if e.Expect {
		x := e.Want(r, in, ev.ID)
		x.OccurredAt, x.RepID, x.TeamID = at, "", ""
		dom := schemas.NormaliseDomain(w.CompanyDomain)
		x.Attributes = map[string]string{schemas.AttrSignalKind: kindOf(ev.Category), schemas.AttrSignalDomain: dom, schemas.AttrSignalCategory: ev.Category}
		if ev.URL != "" {
			x.Attributes[schemas.AttrSignalURL] = ev.URL
		}
	}
}
