package anomaly

import (
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// lead is an open lead: triggered (lead.created or an inbound touch) and not
// yet answered (an outbound touch or meeting on it). Only open leads are
// kept: an answer deletes the entry.
type lead struct {
	gen      uint32
	at       time.Time // first unanswered trigger
	event    string    // its event id
	rep      string
	team     string
	ch       schemas.Channel
	sla      time.Duration
	breach   *tracked // lead_response_sla, nil until it fires
	escalate *tracked // lead_response_sla_escalated
}

func (p *partState) leadTrigger(i *schemas.Interaction) {
	if p.cfg.SLA.Disabled {
		return
	}
	p.touch(kindLead, i.LeadID)
	if l, open := p.leads[i.LeadID]; open {
		// Still waiting: the clock runs from the first unanswered touch.
		if l.rep == "" {
			l.rep = i.RepID
		}
		return
	}
	p.gen++
	team := p.teamOf(i)
	l := &lead{gen: p.gen, at: i.OccurredAt, event: i.EventID, rep: i.RepID, team: team, ch: i.Channel}
	l.sla = p.cfg.SLA.slaFor(team, i.Channel)
	p.leads[i.LeadID] = l
	p.schedule(l.at.Add(l.sla), dlSLA, l.gen, i.LeadID)
	if f := p.cfg.SLA.EscalateFactor; f > 1 {
		p.schedule(l.at.Add(time.Duration(float64(l.sla)*f)), dlEscalate, l.gen, i.LeadID)
	}
}

func (l *lead) escalateAfter(f float64) time.Duration { return time.Duration(float64(l.sla) * f) }

func (p *partState) leadDue(dl deadline) {
	l := p.leads[dl.key]
	if l == nil || l.gen != dl.gen {
		return
	}
	p.leadFire(dl.key, l, dl.kind == dlEscalate, dl.at)
}

func (p *partState) leadFire(id string, l *lead, escalated bool, at time.Time) {
	rule, limit := RuleLeadResponseSLA, l.sla
	slot := &l.breach
	if escalated {
		rule, limit, slot = RuleLeadResponseEscalated, l.escalateAfter(p.cfg.SLA.EscalateFactor), &l.escalate
	}
	if *slot != nil {
		return
	}
	p.touch(kindLead, id)
	t := newAlert(rule, id, l.event)
	p.who(t, l.rep, l.team)
	t.a.EventIDs = []string{l.event}
	t.a.Values = map[string]string{
		"lead_id": id, "channel": l.ch.String(), "triggered_at": ts(l.at),
		"sla": dur(l.sla), "limit": dur(limit),
	}
	if escalated {
		t.a.Summary = "Lead " + id + " (" + l.ch.String() + ") still has no response after " + dur(limit) + ", " + trimFactor(p.cfg.SLA.EscalateFactor) + "× the SLA of " + dur(l.sla) + "."
	} else {
		t.a.Summary = "Lead " + id + " (" + l.ch.String() + ") had no response within its SLA of " + dur(l.sla) + "."
	}
	*slot = t
	p.emit(t, schemas.AlertFiring, at)
}

func trimFactor(f float64) string { return pct(f) }

// leadAnswer closes the lead. An answer that came after a deadline whose
// alert has not fired yet (the watermark lags by OutOfOrder) fires it first,
// at the deadline, so the rows do not depend on how batches were cut.
func (p *partState) leadAnswer(i *schemas.Interaction) {
	l := p.leads[i.LeadID]
	if l == nil {
		return
	}
	a := i.OccurredAt
	if a.Before(l.at) {
		return // an answer older than the trigger answers an earlier one
	}
	p.touch(kindLead, i.LeadID)
	if d := l.at.Add(l.sla); a.After(d) {
		p.leadFire(i.LeadID, l, false, d)
	}
	if f := p.cfg.SLA.EscalateFactor; f > 1 {
		if d := l.at.Add(l.escalateAfter(f)); a.After(d) {
			p.leadFire(i.LeadID, l, true, d)
		}
	}
	for _, t := range []*tracked{l.breach, l.escalate} {
		if t != nil {
			t.a.EventIDs = append(t.a.EventIDs, i.EventID)
			t.a.Values["answered_at"] = ts(a)
			t.a.Values["response_time"] = dur(a.Sub(l.at))
			p.emit(t, schemas.AlertResolved, a)
		}
	}
	delete(p.leads, i.LeadID)
	if !p.cfg.Outliers.Disabled {
		rep := i.RepID
		if rep == "" {
			rep = l.rep
		}
		if rep != "" {
			p.observe(RuleResponseOutlier, rep, l.team, a.Sub(l.at).Seconds(), i)
		}
	}
}
