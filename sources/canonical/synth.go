package canonical

import (
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// synth renders generated interactions as canonical JSON: what no vendor
// carries natively (inbound messages, social touches, approvals, a HubSpot
// team's quotes), with the lead and account ids of the rep's CRM so they
// pair with its events.
type synth struct {
	canon schemas.Interaction // reused: its Attributes map keeps capacity
}

func (*synth) Carries(*schemas.Interaction, *vendorkit.SynthRep) vendorkit.Carry {
	return vendorkit.CarryFallback
}

func (s *synth) Encode(e *vendorkit.Synth, in *schemas.Interaction, key []byte, rep *vendorkit.SynthRep) {
	r := e.Record(key)
	c := &s.canon
	attrs := c.Attributes
	*c = *in
	if rep != nil {
		c.LeadID = rep.LeadID(e, in.LeadID)
		c.AccountID = rep.AccountID(e, in.AccountID)
	}
	if len(in.Attributes) > 0 {
		if attrs == nil {
			attrs = make(map[string]string, len(in.Attributes))
		}
		clear(attrs)
		for k, v := range in.Attributes {
			attrs[k] = v
		}
		c.Attributes = attrs
	} else {
		clear(attrs)
		c.Attributes = attrs
	}
	r.Value = schemas.AppendJSON(r.Value, c)
	if e.Expect {
		w := *c
		w.Channel = c.Channel
		if w.Channel == schemas.ChannelUnknown {
			w.Channel = w.Type.DefaultChannel()
		}
		w.Attributes = nil
		if len(c.Attributes) > 0 {
			w.Attributes = make(map[string]string, len(c.Attributes))
			for k, v := range c.Attributes {
				w.Attributes[k] = v
			}
		}
		r.Expected = append(r.Expected, w)
	}
}
