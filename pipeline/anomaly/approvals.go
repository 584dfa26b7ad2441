package anomaly

import (
	"encoding/binary"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/schemas"
)

// approvalRules judges quotes and approvals by the authorization matrix
// (discount_beyond_authority, discount_without_approval,
// approval_beyond_authority; off without a matrix) and pages approvals left
// undecided (approval_backlog). One detector, because an approval's record
// holds both its backlog alert and the quote it was linked to.
type approvalRules struct {
	cfg    *Config
	matrix *matrix.Matrix // nil: discount rules off
}

// State key kinds.
const (
	kindQuote    = 'Q' // quote event id
	kindApproval = 'A' // approval id
	kindMatch    = 'm' // account\x00rep\x00discount: unlinked quote ids
	kindLink     = 'b' // approval id: linked quote event id
)

// Deadline kinds.
const (
	dlQuote = iota
	dlBacklog
)

func (d *approvalRules) Kinds() []byte { return []byte{kindQuote, kindApproval, kindMatch, kindLink} }

func (d *approvalRules) NewState(p *detect.Partition, q detect.Queue) detect.State {
	return &approvalsPart{approvalRules: d, p: p, q: q, quotes: map[string]*quote{}, byMatch: map[string][]string{},
		byApproval: map[string]string{}, approvals: map[string]*approval{}}
}

// approvalsPart is one partition's quotes and approvals.
type approvalsPart struct {
	*approvalRules
	p          *detect.Partition
	q          detect.Queue
	quotes     map[string]*quote   // by quote event id, awaiting approval
	byMatch    map[string][]string // account|rep|discount -> unlinked quote event ids, oldest first
	byApproval map[string]string   // approval id -> linked quote event id
	approvals  map[string]*approval
}

func (s *approvalsPart) Apply(i *schemas.Interaction) {
	switch i.Type {
	case schemas.TypeQuoteCreated:
		if s.matrix != nil {
			s.quoteCreated(i)
		}
		// Every quote's discount, judged by the matrix or not, is scored
		// against the team's by the outlier detector.
		if i.RepID != "" {
			if d, ok := discountOf(i); ok {
				s.p.Observe(RuleDiscountOutlier, i.RepID, s.p.TeamOf(i), d, i)
			}
		}
	case schemas.TypeApprovalRequested:
		s.approvalRequested(i)
	case schemas.TypeApprovalDecided:
		s.approvalDecided(i)
	}
}

func (s *approvalsPart) Due(dl detect.Deadline) {
	switch dl.Kind {
	case dlQuote:
		s.quoteDue(dl)
	case dlBacklog:
		s.backlogDue(dl)
	}
}

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
	auth     matrix.Authority
	subject  matrix.Subject
	approval string          // linked approval id
	without  *detect.Tracked // discount_without_approval, once fired
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
	quote   string          // linked quote event id
	backlog *detect.Tracked // approval_backlog, once fired
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

func (s *approvalsPart) subjectOf(role string, i *schemas.Interaction, team string) matrix.Subject {
	subj := matrix.Subject{Role: role, Team: team, ProductLine: i.Attributes["product_line"]}
	if t := s.p.Index().Team(team); t != nil {
		subj.Region = t.Region
	}
	switch {
	case i.Has&schemas.HasListPrice != 0:
		subj.Size = i.ListPrice
	case i.Has&schemas.HasAmount != 0:
		subj.Size = i.Amount
	}
	return subj
}

func (s *approvalsPart) roleOf(rep string) string {
	if r := s.p.Index().Rep(rep); r != nil {
		return r.Role
	}
	return ""
}

func matchKey(account, rep string, disc float64) string {
	return account + "\x00" + rep + "\x00" + pct(disc)
}

func (s *approvalsPart) quoteCreated(i *schemas.Interaction) {
	if i.RepID == "" {
		s.p.Skip("quote_without_rep")
		return
	}
	disc, ok := discountOf(i)
	if !ok {
		s.p.Skip("quote_without_discount")
		return
	}
	team := s.p.TeamOf(i)
	subj := s.subjectOf(s.roleOf(i.RepID), i, team)
	auth, ok := s.matrix.Lookup(subj)
	if !ok {
		s.p.Skip("no_matrix_entry")
		return
	}
	evidence := func(t *detect.Tracked) {
		s.p.Who(t, i.RepID, team)
		t.Alert.EventIDs = []string{i.EventID}
		t.Alert.Values = map[string]string{
			"quote_event_id": i.EventID, "discount_pct": pct(disc), "max_pct": pct(auth.MaxPct),
			"approval_above_pct": pct(auth.ApprovalAbovePct), "role": subj.Role,
		}
		if subj.ProductLine != "" {
			t.Alert.Values["product_line"] = subj.ProductLine
		}
		if auth.Tier != "" {
			t.Alert.Values["tier"] = auth.Tier
		}
		if i.AccountID != "" {
			t.Alert.Values["account_id"] = i.AccountID
		}
	}
	if disc > auth.MaxPct {
		t := newAlert(RuleDiscountBeyondAuthority, i.EventID)
		evidence(t)
		t.Alert.Summary = "Quote by " + i.RepID + " carries a " + pct(disc) + "% discount; a " + roleName(subj.Role) + " may grant at most " + pct(auth.MaxPct) + "%."
		s.p.Emit(t, schemas.AlertFiring, i.OccurredAt)
	}
	if disc <= auth.ApprovalAbovePct {
		return
	}
	s.p.Touch(kindQuote, i.EventID)
	q := &quote{gen: s.p.NextGen(), at: i.OccurredAt, event: i.EventID, rep: i.RepID, team: team, disc: disc, auth: auth, subject: subj,
		match: matchKey(i.AccountID, i.RepID, disc)}
	q.without = newAlert(RuleDiscountWithoutApproval, i.EventID)
	evidence(q.without)
	q.without.Alert.Summary = "Quote by " + i.RepID + " carries a " + pct(disc) + "% discount above the " + pct(auth.ApprovalAbovePct) + "% that needs approval, without an approved approval."
	s.quotes[i.EventID] = q
	s.p.Emit(q.without, schemas.AlertPending, i.OccurredAt)
	if i.ApprovalID != "" {
		// The source links quote and approval itself (e.g. CPQ).
		q.approval = i.ApprovalID
		s.p.Touch(kindLink, i.ApprovalID)
		s.byApproval[i.ApprovalID] = i.EventID
		if a := s.approvals[i.ApprovalID]; a != nil && a.quote == "" {
			s.p.Touch(kindApproval, i.ApprovalID)
			a.quote = i.EventID
		}
	} else {
		s.p.Touch(kindMatch, q.match)
		s.byMatch[q.match] = append(s.byMatch[q.match], i.EventID)
	}
	s.q.Schedule(q.at.Add(s.cfg.Approvals.RequestWithin), dlQuote, q.gen, i.EventID)
}

func roleName(r string) string {
	if r == "" {
		return "rep of unknown role"
	}
	return r
}

// quoteDue: no approval was requested in time.
func (s *approvalsPart) quoteDue(dl detect.Deadline) {
	q := s.quotes[dl.Key]
	if q == nil || q.gen != dl.Gen || q.approval != "" {
		return
	}
	s.p.Touch(kindQuote, dl.Key)
	q.without.Alert.Values["reason"] = "no approval requested within " + dur(s.cfg.Approvals.RequestWithin)
	s.p.Emit(q.without, schemas.AlertFiring, dl.At)
}

func (s *approvalsPart) dropQuote(id string, q *quote) {
	s.p.Touch(kindQuote, id)
	delete(s.quotes, id)
	if x, ok := s.byApproval[q.approval]; ok && x == id {
		s.p.Touch(kindLink, q.approval)
		delete(s.byApproval, q.approval)
	}
	if ids := s.byMatch[q.match]; len(ids) > 0 {
		s.p.Touch(kindMatch, q.match)
		for k, x := range ids {
			if x == id {
				ids = append(ids[:k], ids[k+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(s.byMatch, q.match)
		} else {
			s.byMatch[q.match] = ids
		}
	}
}

func (s *approvalsPart) approvalRequested(i *schemas.Interaction) {
	if i.ApprovalID == "" {
		s.p.Skip("approval_without_id")
		return
	}
	if _, dup := s.approvals[i.ApprovalID]; dup {
		return
	}
	s.p.Touch(kindApproval, i.ApprovalID)
	a := &approval{gen: s.p.NextGen(), at: i.OccurredAt, event: i.EventID, rep: i.RepID, team: s.p.TeamOf(i)}
	a.disc, a.hasDisc = discountOf(i)
	s.approvals[i.ApprovalID] = a
	s.q.Schedule(a.at.Add(s.cfg.Approvals.Backlog), dlBacklog, a.gen, i.ApprovalID)
	// Link the quote that asked for it: named by the quote, else the
	// oldest unlinked quote of the same account, rep and discount.
	if qid, ok := s.byApproval[i.ApprovalID]; ok {
		a.quote = qid
		return
	}
	if a.hasDisc {
		k := matchKey(i.AccountID, i.RepID, a.disc)
		if ids := s.byMatch[k]; len(ids) > 0 {
			q := s.quotes[ids[0]]
			s.p.Touch(kindMatch, k)
			s.p.Touch(kindQuote, ids[0])
			s.p.Touch(kindLink, i.ApprovalID)
			s.byMatch[k] = ids[1:]
			if len(ids) == 1 {
				delete(s.byMatch, k)
			}
			q.approval, a.quote = i.ApprovalID, ids[0]
			s.byApproval[i.ApprovalID] = ids[0]
		}
	}
}

func (s *approvalsPart) backlogDue(dl detect.Deadline) {
	a := s.approvals[dl.Key]
	if a == nil || a.gen != dl.Gen {
		return
	}
	s.backlogFire(dl.Key, a, dl.At)
}

func (s *approvalsPart) backlogFire(id string, a *approval, at time.Time) {
	if a.backlog != nil {
		return
	}
	s.p.Touch(kindApproval, id)
	t := newAlert(RuleApprovalBacklog, id)
	s.p.Who(t, a.rep, a.team)
	t.Alert.EventIDs = []string{a.event}
	t.Alert.Values = map[string]string{"approval_id": id, "requested_at": ts(a.at), "limit": dur(s.cfg.Approvals.Backlog)}
	if a.hasDisc {
		t.Alert.Values["discount_pct"] = pct(a.disc)
	}
	t.Alert.Summary = "Approval " + id + " requested by " + a.rep + " is still undecided after " + dur(s.cfg.Approvals.Backlog) + "."
	a.backlog = t
	s.p.Emit(t, schemas.AlertFiring, at)
}

func (s *approvalsPart) approvalDecided(i *schemas.Interaction) {
	id := i.ApprovalID
	if id == "" {
		s.p.Skip("approval_without_id")
		return
	}
	a := s.approvals[id]
	d := i.OccurredAt
	if a != nil {
		s.p.Touch(kindApproval, id)
		if dl := a.at.Add(s.cfg.Approvals.Backlog); d.After(dl) {
			s.backlogFire(id, a, dl) // decided late, before the watermark passed
		}
		if a.backlog != nil {
			a.backlog.Alert.EventIDs = append(a.backlog.Alert.EventIDs, i.EventID)
			a.backlog.Alert.Values["decided_at"] = ts(d)
			s.p.Emit(a.backlog, schemas.AlertResolved, d)
		}
		delete(s.approvals, id)
	}
	if s.matrix == nil {
		return
	}
	var q *quote
	var qid string
	if a != nil && a.quote != "" {
		qid, q = a.quote, s.quotes[a.quote]
	} else if k, ok := s.byApproval[id]; ok {
		qid, q = k, s.quotes[k]
	}
	approved := i.Has&schemas.HasApproved != 0 && i.Approved
	if approved {
		s.checkApprover(i, a, q)
	}
	if q == nil {
		return
	}
	s.p.Touch(kindQuote, qid)
	if approved {
		q.without.Alert.EventIDs = append(q.without.Alert.EventIDs, i.EventID)
		q.without.Alert.Values["approval_id"] = id
		s.p.Emit(q.without, schemas.AlertResolved, d)
	} else {
		q.without.Alert.EventIDs = append(q.without.Alert.EventIDs, i.EventID)
		q.without.Alert.Values["approval_id"] = id
		q.without.Alert.Values["reason"] = "approval rejected"
		s.p.Emit(q.without, schemas.AlertFiring, d)
	}
	s.dropQuote(qid, q)
}

// checkApprover fires approval_beyond_authority when the approver's role
// may not approve the discount (or the approver is not in the org file).
func (s *approvalsPart) checkApprover(i *schemas.Interaction, a *approval, q *quote) {
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
	team := s.p.TeamOf(i)
	if a != nil {
		rep, team = a.rep, a.team
	}
	subj := s.subjectOf("", i, team)
	if q != nil {
		subj = q.subject
	}
	if i.ApproverID == "" {
		s.p.Skip("approval_without_approver")
		return
	}
	subj.Role = s.roleOf(i.ApproverID)
	auth, known := s.matrix.Lookup(subj)
	if known && disc <= auth.MaxPct {
		return
	}
	t := newAlert(RuleApprovalBeyondAuthority, i.ApprovalID)
	s.p.Who(t, rep, team)
	t.Alert.EventIDs = []string{i.EventID}
	t.Alert.Values = map[string]string{
		"approval_id": i.ApprovalID, "approver_id": i.ApproverID, "approver_role": subj.Role, "discount_pct": pct(disc),
	}
	if known {
		t.Alert.Values["max_pct"] = pct(auth.MaxPct)
		t.Alert.Summary = "Approval " + i.ApprovalID + " granted a " + pct(disc) + "% discount; approver " + i.ApproverID + " (" + roleName(subj.Role) + ") may approve at most " + pct(auth.MaxPct) + "%."
	} else {
		t.Alert.Summary = "Approval " + i.ApprovalID + " granted a " + pct(disc) + "% discount; approver " + i.ApproverID + " has no authority in the matrix."
	}
	if q != nil {
		t.Alert.EventIDs = append([]string{q.event}, t.Alert.EventIDs...)
		t.Alert.Values["quote_event_id"] = q.event
	}
	s.p.Emit(t, schemas.AlertFiring, i.OccurredAt)
}

func (s *approvalsPart) Forget(cut time.Time) {
	for id, q := range s.quotes {
		if q.at.Before(cut) {
			s.dropQuote(id, q)
			s.p.Forgot()
		}
	}
	for id, a := range s.approvals {
		if a.at.Before(cut) {
			s.p.Touch(kindApproval, id)
			delete(s.approvals, id)
			s.p.Forgot()
		}
	}
}

// Rebuild queues the restored quotes' and approvals' deadlines. A queued
// quote deadline only matters for an unlinked quote not firing yet; the
// others would be no-ops when popped.
func (s *approvalsPart) Rebuild() {
	for id, q := range s.quotes {
		if q.approval == "" && q.without.State() != schemas.AlertFiring {
			s.q.Schedule(q.at.Add(s.cfg.Approvals.RequestWithin), dlQuote, q.gen, id)
		}
	}
	for id, a := range s.approvals {
		if a.backlog == nil {
			s.q.Schedule(a.at.Add(s.cfg.Approvals.Backlog), dlBacklog, a.gen, id)
		}
	}
}

func (s *approvalsPart) Encode(b []byte, k detect.Key) ([]byte, bool) {
	switch k.Kind {
	case kindQuote:
		q := s.quotes[k.ID]
		if q == nil {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(q.gen))
		b = detect.AppendTime(b, q.at)
		b = detect.AppendStrs(b, q.event, q.rep, q.team, q.match)
		b = detect.AppendFloat(b, q.disc)
		b = detect.AppendFloat(b, q.auth.ApprovalAbovePct)
		b = detect.AppendFloat(b, q.auth.MaxPct)
		b = detect.AppendStrs(b, q.auth.Tier)
		b = binary.AppendVarint(b, int64(q.auth.Entry))
		b = detect.AppendStrs(b, q.subject.Role, q.subject.Team, q.subject.Region, q.subject.ProductLine)
		b = detect.AppendFloat(b, q.subject.Size)
		b = detect.AppendStrs(b, q.approval)
		return detect.AppendTracked(b, q.without), true
	case kindApproval:
		a := s.approvals[k.ID]
		if a == nil {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(a.gen))
		b = detect.AppendTime(b, a.at)
		b = detect.AppendStrs(b, a.event, a.rep, a.team)
		b = detect.AppendFloat(b, a.disc)
		b = detect.AppendBool(b, a.hasDisc)
		b = detect.AppendStrs(b, a.quote)
		return detect.AppendTracked(b, a.backlog), true
	case kindMatch:
		ids, ok := s.byMatch[k.ID]
		if !ok {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(len(ids)))
		return detect.AppendStrs(b, ids...), true
	case kindLink:
		q, ok := s.byApproval[k.ID]
		if !ok {
			return nil, false
		}
		return detect.AppendStrs(b, q), true
	}
	return nil, false
}

func (s *approvalsPart) Decode(k detect.Key, r *detect.Reader) error {
	switch k.Kind {
	case kindQuote:
		q := &quote{gen: uint32(r.Uvarint()), at: r.Time(), event: r.Str(), rep: r.Str(), team: r.Str(), match: r.Str(), disc: r.Float()}
		q.auth = matrix.Authority{ApprovalAbovePct: r.Float(), MaxPct: r.Float(), Tier: r.Str(), Entry: int(r.Varint())}
		q.subject = matrix.Subject{Role: r.Str(), Team: r.Str(), Region: r.Str(), ProductLine: r.Str(), Size: r.Float()}
		q.approval = r.Str()
		q.without = r.Tracked()
		if q.without == nil {
			r.Fail()
		}
		if err := r.Done(k); err != nil {
			return err
		}
		s.quotes[k.ID] = q
	case kindApproval:
		a := &approval{gen: uint32(r.Uvarint()), at: r.Time(), event: r.Str(), rep: r.Str(), team: r.Str(), disc: r.Float()}
		a.hasDisc = r.Byte() == 1
		a.quote = r.Str()
		a.backlog = r.Tracked()
		if err := r.Done(k); err != nil {
			return err
		}
		s.approvals[k.ID] = a
	case kindMatch:
		n := r.Count()
		ids := make([]string, 0, n)
		for range n {
			ids = append(ids, r.Str())
		}
		if err := r.Done(k); err != nil {
			return err
		}
		s.byMatch[k.ID] = ids
	case kindLink:
		q := r.Str()
		if err := r.Done(k); err != nil {
			return err
		}
		s.byApproval[k.ID] = q
	}
	return nil
}
