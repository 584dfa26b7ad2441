package anomaly

import (
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// quote is a quote above its approval level waiting for an approved
// approval.
type quote struct {
	gen      uint32
	at       time.Time
	event    string
	rep      string
	team     string
	match    string // account|rep|discount: how an approval request finds it
	disc     float64
	auth     Authority
	subject  Subject
	approval string   // linked approval id
	without  *tracked // discount_without_approval, once fired
}

// approval is a requested, undecided approval.
type approval struct {
	gen     uint32
	at      time.Time
	event   string
	rep     string
	team    string
	disc    float64
	hasDisc bool
	quote   string   // linked quote event id
	backlog *tracked // approval_backlog, once fired
}

// discountOf returns the quote's discount in percent: the field, else
// derived from list price and amount. ok is false when neither is there.
func discountOf(i *schemas.Interaction) (float64, bool) {
	if i.Has&schemas.HasDiscount != 0 {
		return i.DiscountPct, true
	}
	if i.Has&(schemas.HasAmount|schemas.HasListPrice) == schemas.HasAmount|schemas.HasListPrice && i.ListPrice > 0 {
		return (1 - i.Amount/i.ListPrice) * 100, true
	}
	return 0, false
}

func (p *partState) subjectOf(role string, i *schemas.Interaction, team string) Subject {
	s := Subject{Role: role, Team: team, ProductLine: i.Attributes["product_line"]}
	if t := p.d.idx.Team(team); t != nil {
		s.Region = t.Region
	}
	switch {
	case i.Has&schemas.HasListPrice != 0:
		s.Size = i.ListPrice
	case i.Has&schemas.HasAmount != 0:
		s.Size = i.Amount
	}
	return s
}

func (p *partState) roleOf(rep string) string {
	if r := p.d.idx.Rep(rep); r != nil {
		return r.Role
	}
	return ""
}

func matchKey(account, rep string, disc float64) string {
	return account + "\x00" + rep + "\x00" + pct(disc)
}

func (p *partState) quoteCreated(i *schemas.Interaction) {
	if i.RepID == "" {
		p.d.m.skipped("quote_without_rep").Inc()
		return
	}
	disc, ok := discountOf(i)
	if !ok {
		p.d.m.skipped("quote_without_discount").Inc()
		return
	}
	team := p.teamOf(i)
	subj := p.subjectOf(p.roleOf(i.RepID), i, team)
	auth, ok := p.d.matrix.Lookup(subj)
	if !ok {
		p.d.m.skipped("no_matrix_entry").Inc()
		return
	}
	evidence := func(t *tracked) {
		p.who(t, i.RepID, team)
		t.a.EventIDs = []string{i.EventID}
		t.a.Values = map[string]string{
			"quote_event_id": i.EventID, "discount_pct": pct(disc), "max_pct": pct(auth.MaxPct),
			"approval_above_pct": pct(auth.ApprovalAbovePct), "role": subj.Role,
		}
		if subj.ProductLine != "" {
			t.a.Values["product_line"] = subj.ProductLine
		}
		if auth.Tier != "" {
			t.a.Values["tier"] = auth.Tier
		}
		if i.AccountID != "" {
			t.a.Values["account_id"] = i.AccountID
		}
	}
	if disc > auth.MaxPct {
		t := newAlert(RuleDiscountBeyondAuthority, i.EventID)
		evidence(t)
		t.a.Summary = "Quote by " + i.RepID + " carries a " + pct(disc) + "% discount; a " + roleName(subj.Role) + " may grant at most " + pct(auth.MaxPct) + "%."
		p.emit(t, schemas.AlertFiring, i.OccurredAt)
	}
	if disc <= auth.ApprovalAbovePct {
		return
	}
	p.touch(kindQuote, i.EventID)
	p.gen++
	q := &quote{gen: p.gen, at: i.OccurredAt, event: i.EventID, rep: i.RepID, team: team, disc: disc, auth: auth, subject: subj,
		match: matchKey(i.AccountID, i.RepID, disc)}
	q.without = newAlert(RuleDiscountWithoutApproval, i.EventID)
	evidence(q.without)
	q.without.a.Summary = "Quote by " + i.RepID + " carries a " + pct(disc) + "% discount above the " + pct(auth.ApprovalAbovePct) + "% that needs approval, without an approved approval."
	p.quotes[i.EventID] = q
	p.emit(q.without, schemas.AlertPending, i.OccurredAt)
	if i.ApprovalID != "" {
		// The source links quote and approval itself (e.g. CPQ).
		q.approval = i.ApprovalID
		p.touch(kindLink, i.ApprovalID)
		p.byApproval[i.ApprovalID] = i.EventID
		if a := p.approvals[i.ApprovalID]; a != nil && a.quote == "" {
			p.touch(kindApproval, i.ApprovalID)
			a.quote = i.EventID
		}
	} else {
		p.touch(kindMatch, q.match)
		p.byMatch[q.match] = append(p.byMatch[q.match], i.EventID)
	}
	p.schedule(q.at.Add(p.cfg.Approvals.RequestWithin), dlQuote, q.gen, i.EventID)
}

func roleName(r string) string {
	if r == "" {
		return "rep of unknown role"
	}
	return r
}

// quoteDue: no approval was requested in time.
func (p *partState) quoteDue(dl deadline) {
	q := p.quotes[dl.key]
	if q == nil || q.gen != dl.gen || q.approval != "" {
		return
	}
	p.touch(kindQuote, dl.key)
	q.without.a.Values["reason"] = "no approval requested within " + dur(p.cfg.Approvals.RequestWithin)
	p.emit(q.without, schemas.AlertFiring, dl.at)
}

func (p *partState) dropQuote(id string, q *quote) {
	p.touch(kindQuote, id)
	delete(p.quotes, id)
	if x, ok := p.byApproval[q.approval]; ok && x == id {
		p.touch(kindLink, q.approval)
		delete(p.byApproval, q.approval)
	}
	if ids := p.byMatch[q.match]; len(ids) > 0 {
		p.touch(kindMatch, q.match)
		for k, x := range ids {
			if x == id {
				ids = append(ids[:k], ids[k+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(p.byMatch, q.match)
		} else {
			p.byMatch[q.match] = ids
		}
	}
}

func (p *partState) approvalRequested(i *schemas.Interaction) {
	if i.ApprovalID == "" {
		p.d.m.skipped("approval_without_id").Inc()
		return
	}
	if _, dup := p.approvals[i.ApprovalID]; dup {
		return
	}
	p.touch(kindApproval, i.ApprovalID)
	p.gen++
	a := &approval{gen: p.gen, at: i.OccurredAt, event: i.EventID, rep: i.RepID, team: p.teamOf(i)}
	a.disc, a.hasDisc = discountOf(i)
	p.approvals[i.ApprovalID] = a
	p.schedule(a.at.Add(p.cfg.Approvals.Backlog), dlBacklog, a.gen, i.ApprovalID)
	// Link the quote that asked for it: named by the quote, else the
	// oldest unlinked quote of the same account, rep and discount.
	if qid, ok := p.byApproval[i.ApprovalID]; ok {
		a.quote = qid
		return
	}
	if a.hasDisc {
		k := matchKey(i.AccountID, i.RepID, a.disc)
		if ids := p.byMatch[k]; len(ids) > 0 {
			q := p.quotes[ids[0]]
			p.touch(kindMatch, k)
			p.touch(kindQuote, ids[0])
			p.touch(kindLink, i.ApprovalID)
			p.byMatch[k] = ids[1:]
			if len(ids) == 1 {
				delete(p.byMatch, k)
			}
			q.approval, a.quote = i.ApprovalID, ids[0]
			p.byApproval[i.ApprovalID] = ids[0]
		}
	}
}

func (p *partState) backlogDue(dl deadline) {
	a := p.approvals[dl.key]
	if a == nil || a.gen != dl.gen {
		return
	}
	p.backlogFire(dl.key, a, dl.at)
}

func (p *partState) backlogFire(id string, a *approval, at time.Time) {
	if a.backlog != nil {
		return
	}
	p.touch(kindApproval, id)
	t := newAlert(RuleApprovalBacklog, id)
	p.who(t, a.rep, a.team)
	t.a.EventIDs = []string{a.event}
	t.a.Values = map[string]string{"approval_id": id, "requested_at": ts(a.at), "limit": dur(p.cfg.Approvals.Backlog)}
	if a.hasDisc {
		t.a.Values["discount_pct"] = pct(a.disc)
	}
	t.a.Summary = "Approval " + id + " requested by " + a.rep + " is still undecided after " + dur(p.cfg.Approvals.Backlog) + "."
	a.backlog = t
	p.emit(t, schemas.AlertFiring, at)
}

func (p *partState) approvalDecided(i *schemas.Interaction) {
	id := i.ApprovalID
	if id == "" {
		p.d.m.skipped("approval_without_id").Inc()
		return
	}
	a := p.approvals[id]
	d := i.OccurredAt
	if a != nil {
		p.touch(kindApproval, id)
		if dl := a.at.Add(p.cfg.Approvals.Backlog); d.After(dl) {
			p.backlogFire(id, a, dl) // decided late, before the watermark passed
		}
		if a.backlog != nil {
			a.backlog.a.EventIDs = append(a.backlog.a.EventIDs, i.EventID)
			a.backlog.a.Values["decided_at"] = ts(d)
			p.emit(a.backlog, schemas.AlertResolved, d)
		}
		delete(p.approvals, id)
	}
	if p.d.matrix == nil {
		return
	}
	var q *quote
	var qid string
	if a != nil && a.quote != "" {
		qid, q = a.quote, p.quotes[a.quote]
	} else if k, ok := p.byApproval[id]; ok {
		qid, q = k, p.quotes[k]
	}
	approved := i.Has&schemas.HasApproved != 0 && i.Approved
	if approved {
		p.checkApprover(i, a, q)
	}
	if q == nil {
		return
	}
	p.touch(kindQuote, qid)
	if approved {
		q.without.a.EventIDs = append(q.without.a.EventIDs, i.EventID)
		q.without.a.Values["approval_id"] = id
		p.emit(q.without, schemas.AlertResolved, d)
	} else {
		q.without.a.EventIDs = append(q.without.a.EventIDs, i.EventID)
		q.without.a.Values["approval_id"] = id
		q.without.a.Values["reason"] = "approval rejected"
		p.emit(q.without, schemas.AlertFiring, d)
	}
	p.dropQuote(qid, q)
}

// checkApprover fires approval_beyond_authority when the approver's role
// may not approve the discount (or the approver is not in the org file).
func (p *partState) checkApprover(i *schemas.Interaction, a *approval, q *quote) {
	disc, ok := discountOf(i)
	if !ok && a != nil && a.hasDisc {
		disc, ok = a.disc, true
	}
	if !ok && q != nil {
		disc, ok = q.disc, true
	}
	if !ok || disc <= 0 {
		return
	}
	rep := i.RepID
	team := p.teamOf(i)
	if a != nil {
		rep, team = a.rep, a.team
	}
	subj := p.subjectOf("", i, team)
	if q != nil {
		subj = q.subject
	}
	if i.ApproverID == "" {
		p.d.m.skipped("approval_without_approver").Inc()
		return
	}
	subj.Role = p.roleOf(i.ApproverID)
	auth, known := p.d.matrix.Lookup(subj)
	if known && disc <= auth.MaxPct {
		return
	}
	t := newAlert(RuleApprovalBeyondAuthority, i.ApprovalID)
	p.who(t, rep, team)
	t.a.EventIDs = []string{i.EventID}
	t.a.Values = map[string]string{
		"approval_id": i.ApprovalID, "approver_id": i.ApproverID, "approver_role": subj.Role, "discount_pct": pct(disc),
	}
	if known {
		t.a.Values["max_pct"] = pct(auth.MaxPct)
		t.a.Summary = "Approval " + i.ApprovalID + " granted a " + pct(disc) + "% discount; approver " + i.ApproverID + " (" + roleName(subj.Role) + ") may approve at most " + pct(auth.MaxPct) + "%."
	} else {
		t.a.Summary = "Approval " + i.ApprovalID + " granted a " + pct(disc) + "% discount; approver " + i.ApproverID + " has no authority in the matrix."
	}
	if q != nil {
		t.a.EventIDs = append([]string{q.event}, t.a.EventIDs...)
		t.a.Values["quote_event_id"] = q.event
	}
	p.emit(t, schemas.AlertFiring, i.OccurredAt)
}
