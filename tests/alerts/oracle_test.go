package alerts_test

import (
	"strconv"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
)

// oracle predicts the alerts of a generated stream from the rules as
// documented in docs/alerts.md, written independently of the detector: per
// partition the largest event time, per lead its first unanswered trigger,
// per quote above the approval level whether an approval request came in
// time and how it was decided, per approval request its decision time.
type oracle struct {
	sla, backlog, requestWithin, ooo time.Duration
	escalate                         float64
	approvalAbove, maxAE, maxMgr     float64

	maxT      [partitions]time.Time
	leads     map[string]oLead
	quotes    map[string][]oQuote // account|rep|discount, oldest first
	linked    map[string]oQuote   // approval id -> quote
	approvals map[string]oApproval

	// Expected transitions, "id state" -> alert, and per id the rule.
	want map[string]schemas.Alert
}

type oLead struct {
	at    time.Time
	event string
	team  string
	part  int32
}

type oQuote struct {
	at         time.Time
	event      string
	part       int32
	firedEarly bool
}

type oApproval struct {
	at   time.Time
	part int32
	team string
}

func newOracle(sla time.Duration) *oracle {
	return &oracle{
		sla: sla, escalate: 4, backlog: 24 * time.Hour, requestWithin: time.Hour, ooo: time.Minute,
		approvalAbove: 10, maxAE: 25, maxMgr: 25,
		leads: map[string]oLead{}, quotes: map[string][]oQuote{}, linked: map[string]oQuote{}, approvals: map[string]oApproval{},
		want: map[string]schemas.Alert{},
	}
}

func (o *oracle) expect(rule string, state schemas.AlertState, team string, subject ...string) {
	id := anomaly.AlertID(rule, subject...)
	o.want[id+" "+state.String()] = schemas.Alert{ID: id, Rule: rule, State: state, Severity: anomaly.Rules[rule], TeamID: team}
}

func (o *oracle) observe(part int32, i *schemas.Interaction) {
	if i.OccurredAt.After(o.maxT[part]) {
		o.maxT[part] = i.OccurredAt
	}
	w := o.maxT[part].Add(-o.ooo)
	t := i.OccurredAt
	switch {
	case i.LeadID != "" && (i.Type == schemas.TypeLeadCreated || i.Type.Inbound()):
		if _, open := o.leads[i.LeadID]; !open {
			o.leads[i.LeadID] = oLead{at: t, event: i.EventID, team: i.TeamID, part: part}
		}
	case i.LeadID != "" && i.Type.Outbound():
		l, open := o.leads[i.LeadID]
		if !open || t.Before(l.at) {
			break
		}
		if t.Sub(l.at) > o.sla {
			o.expect(anomaly.RuleLeadResponseSLA, schemas.AlertFiring, l.team, i.LeadID, l.event)
			o.expect(anomaly.RuleLeadResponseSLA, schemas.AlertResolved, l.team, i.LeadID, l.event)
		}
		if t.Sub(l.at) > time.Duration(float64(o.sla)*o.escalate) {
			o.expect(anomaly.RuleLeadResponseEscalated, schemas.AlertFiring, l.team, i.LeadID, l.event)
			o.expect(anomaly.RuleLeadResponseEscalated, schemas.AlertResolved, l.team, i.LeadID, l.event)
		}
		delete(o.leads, i.LeadID)
	case i.Type == schemas.TypeQuoteCreated:
		if i.DiscountPct > o.maxAE {
			o.expect(anomaly.RuleDiscountBeyondAuthority, schemas.AlertFiring, i.TeamID, i.EventID)
		}
		if i.DiscountPct > o.approvalAbove {
			k := i.AccountID + "|" + i.RepID + "|" + strconv.FormatFloat(i.DiscountPct, 'f', -1, 64)
			o.quotes[k] = append(o.quotes[k], oQuote{at: t, event: i.EventID, part: part})
		}
	case i.Type == schemas.TypeApprovalRequested:
		o.approvals[i.ApprovalID] = oApproval{at: t, part: part, team: i.TeamID}
		k := i.AccountID + "|" + i.RepID + "|" + strconv.FormatFloat(i.DiscountPct, 'f', -1, 64)
		if qs := o.quotes[k]; len(qs) > 0 {
			q := qs[0]
			o.quotes[k] = qs[1:]
			if q.at.Add(o.requestWithin).Before(w) { // the deadline passed before the request came
				q.firedEarly = true
				o.expect(anomaly.RuleDiscountWithoutApproval, schemas.AlertFiring, i.TeamID, q.event)
			}
			o.linked[i.ApprovalID] = q
		}
	case i.Type == schemas.TypeApprovalDecided:
		if a, ok := o.approvals[i.ApprovalID]; ok {
			if t.Sub(a.at) > o.backlog {
				o.expect(anomaly.RuleApprovalBacklog, schemas.AlertFiring, a.team, i.ApprovalID)
				o.expect(anomaly.RuleApprovalBacklog, schemas.AlertResolved, a.team, i.ApprovalID)
			}
			delete(o.approvals, i.ApprovalID)
		}
		if i.Approved && i.DiscountPct > o.maxMgr {
			o.expect(anomaly.RuleApprovalBeyondAuthority, schemas.AlertFiring, i.TeamID, i.ApprovalID)
		}
		if q, ok := o.linked[i.ApprovalID]; ok {
			switch {
			case i.Approved && q.firedEarly:
				o.expect(anomaly.RuleDiscountWithoutApproval, schemas.AlertResolved, i.TeamID, q.event)
			case !i.Approved:
				o.expect(anomaly.RuleDiscountWithoutApproval, schemas.AlertFiring, i.TeamID, q.event)
			}
			delete(o.linked, i.ApprovalID)
		}
	}
}

// finish adds what the final watermarks fire.
func (o *oracle) finish(teamOfRep func(string) string) {
	wm := func(p int32) time.Time { return o.maxT[p].Add(-o.ooo) }
	for id, l := range o.leads {
		if l.at.Add(o.sla).Before(wm(l.part)) {
			o.expect(anomaly.RuleLeadResponseSLA, schemas.AlertFiring, l.team, id, l.event)
		}
		if l.at.Add(time.Duration(float64(o.sla) * o.escalate)).Before(wm(l.part)) {
			o.expect(anomaly.RuleLeadResponseEscalated, schemas.AlertFiring, l.team, id, l.event)
		}
	}
	for k, qs := range o.quotes {
		for _, q := range qs {
			if q.at.Add(o.requestWithin).Before(wm(q.part)) {
				rep := k[indexByte(k, '|')+1:]
				rep = rep[:indexByte(rep, '|')]
				o.expect(anomaly.RuleDiscountWithoutApproval, schemas.AlertFiring, teamOfRep(rep), q.event)
			}
		}
	}
	for id, a := range o.approvals {
		if a.at.Add(o.backlog).Before(wm(a.part)) {
			o.expect(anomaly.RuleApprovalBacklog, schemas.AlertFiring, a.team, id)
		}
	}
}

func indexByte(s string, c byte) int {
	for k := 0; k < len(s); k++ {
		if s[k] == c {
			return k
		}
	}
	return -1
}
