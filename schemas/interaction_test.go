package schemas

import "testing"

// TestOpensAndAnswersLead: what opens and answers a lead's response
// clock, for the window and the SLA detector alike (docs/kbis.md).
func TestOpensAndAnswersLead(t *testing.T) {
	for _, c := range []struct {
		i             Interaction
		opens, answer bool
	}{
		{Interaction{Type: TypeLeadCreated, LeadID: "L"}, true, false},
		{Interaction{Type: TypeCallInbound, LeadID: "L"}, true, false},
		{Interaction{Type: TypeMeetingHeld, LeadID: "L"}, false, true},
		{Interaction{Type: TypeMessageOutbound, LeadID: "L"}, false, true},
		{Interaction{Type: TypeCallInbound}, false, false},                                  // no lead
		{Interaction{Type: TypeCallInbound, LeadID: "003C", Customer: true}, false, false},  // a customer's
		{Interaction{Type: TypeCallOutbound, LeadID: "003C", Customer: true}, false, false}, // a customer's
		{Interaction{Type: TypeLeadUpdated, LeadID: "L"}, false, false},
		{Interaction{Type: TypeAlertAcknowledged, LeadID: "L"}, false, false},
	} {
		if c.i.OpensLead() != c.opens || c.i.AnswersLead() != c.answer {
			t.Errorf("%s lead %q customer %v: opens %v answers %v, want %v %v", c.i.Type, c.i.LeadID, c.i.Customer,
				c.i.OpensLead(), c.i.AnswersLead(), c.opens, c.answer)
		}
	}
}
