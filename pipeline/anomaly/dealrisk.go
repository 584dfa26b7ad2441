package anomaly

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/dealscore"
	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

// dealRisk computes every open opportunity's engagement features in event
// time (dealscore), writes them to deal_features, and with a model scores
// them into deal_scores and fires deal_at_risk when a score drops by
// deal_risk.drop below its peak (docs/scores.md). An opportunity is an
// account's open deal, so its state lives in the account's partition of
// the lead topics (account events route by account id, docs/leads.md).
type dealRisk struct {
	cfg     *Config
	model   *dealscore.Model // nil: features only
	modelID string
}

// eventNames are the deal_features event column's values.
var eventNames = [...]string{dealscore.Opened: "opened", dealscore.Moved: "moved", dealscore.Won: "won", dealscore.Lost: "lost"}

// State key kind: account id -> the account's features and score state.
const kindDeal = 'D'

// Deadline kind.
const dlRescore = 0

func newDealRisk(cfg *Config, m *dealscore.Model) *dealRisk {
	d := &dealRisk{cfg: cfg, model: m}
	if m != nil {
		d.modelID = m.ID()
	}
	return d
}

func (d *dealRisk) Kinds() []byte { return []byte{kindDeal} }

func (d *dealRisk) NewState(p *detect.Partition, q detect.Queue) detect.State {
	return &dealPart{dealRisk: d, p: p, q: q, accts: map[string]*dealAcct{}}
}

type dealPart struct {
	*dealRisk
	p     *detect.Partition
	q     detect.Queue
	accts map[string]*dealAcct
}

// dealAcct is one account: its features and its open opportunity's score
// history.
type dealAcct struct {
	dealscore.Account
	gen  uint32  // rescore deadline generation (derived, not checkpointed)
	peak float64 // highest score since opening or the last resolution; -1 none
}

func (s *dealPart) Apply(i *schemas.Interaction) {
	if s.cfg.DealRisk.Disabled || !dealscore.Relevant(i) {
		return
	}
	s.p.Touch(kindDeal, i.AccountID)
	a := s.accts[i.AccountID]
	if a == nil {
		a = &dealAcct{peak: -1}
		s.accts[i.AccountID] = a
	}
	ev := a.Apply(i)
	if ev == dealscore.None {
		return
	}
	o := a.Opp
	if o.TeamID == "" && o.RepID != "" {
		o.TeamID = s.p.TeamOf(i)
	}
	at := i.OccurredAt
	if ev == dealscore.Opened {
		a.peak = -1
		s.schedule(a, i.AccountID, o.Open)
	}
	name := eventNames[ev]
	// A touch changes the score but writes no row: rows are written at
	// the deal's own events and rescores, which bounds their volume by
	// the deals', not the touches'.
	s.score(i.AccountID, a, at, name, i.EventID, !dealscore.Touch(i) || ev != dealscore.Moved)
	if ev == dealscore.Won || ev == dealscore.Lost {
		s.closed(a, at, name, i.EventID)
		a.Opp, a.peak = nil, -1
	}
}

// schedule queues a's next rescore: the first multiple of Rescore after
// the opening that is not before the watermark, so a restore queues what
// an uninterrupted run has queued.
func (s *dealPart) schedule(a *dealAcct, acct string, open int64) {
	a.gen = s.p.NextGen()
	r := s.cfg.DealRisk.Rescore.Milliseconds()
	w := s.p.Watermark().UnixMilli()
	next := open + r
	if next < w {
		next += (w - next + r - 1) / r * r
	}
	s.q.Schedule(time.UnixMilli(next).UTC(), dlRescore, a.gen, acct)
}

func (s *dealPart) Due(dl detect.Deadline) {
	a := s.accts[dl.Key]
	if a == nil || a.Opp == nil || a.gen != dl.Gen || s.cfg.DealRisk.Disabled {
		return
	}
	s.p.Touch(kindDeal, dl.Key)
	s.score(dl.Key, a, dl.At, "rescored", "", true)
	a.gen = s.p.NextGen()
	s.q.Schedule(dl.At.Add(s.cfg.DealRisk.Rescore), dlRescore, a.gen, dl.Key)
}

// score writes the opportunity's features (and score, with a model) as of
// at when rows, and judges the score for deal_at_risk.
func (s *dealPart) score(acct string, a *dealAcct, at time.Time, event, eventID string, rows bool) {
	o := a.Opp
	x, _ := a.Features(at)
	if rows {
		s.p.Rows(schemas.TableDealFeatures, func(r schemas.Rows) schemas.Rows {
			fr, _ := r.(schemas.DealFeatureRows)
			return append(fr, schemas.DealFeatureRow{At: at, OpportunityID: o.ID, AccountID: acct, RepID: o.RepID,
				TeamID: o.TeamID, Event: event, EventID: eventID, Features: x})
		})
	}
	if s.model == nil {
		return
	}
	p, reasons := s.model.Explain(&x, s.cfg.DealRisk.Reasons)
	if rows {
		texts := make([]string, len(reasons))
		for k, r := range reasons {
			texts[k] = r.Text
		}
		s.p.Rows(schemas.TableDealScores, func(r schemas.Rows) schemas.Rows {
			sr, _ := r.(schemas.DealScoreRows)
			return append(sr, schemas.DealScoreRow{At: at, OpportunityID: o.ID, AccountID: acct, RepID: o.RepID,
				TeamID: o.TeamID, Event: event, EventID: eventID, Probability: p, Reasons: texts, ModelID: s.modelID})
		})
	}
	if event == "won" || event == "lost" {
		return // the close is no drop: closed() resolves
	}
	s.judge(acct, a, at, eventID, p, &x)
}

// judge fires deal_at_risk when p is Drop below the peak, and resolves it
// once p is back within half of Drop of it.
func (s *dealPart) judge(acct string, a *dealAcct, at time.Time, eventID string, p float64, x *dealscore.Vector) {
	drop := s.cfg.DealRisk.Drop
	o := a.Opp
	ep := s.p.EpisodeOf(RuleDealAtRisk, o.ID)
	firing := ep != nil && ep.State() == schemas.AlertFiring
	key := func() string { return RuleDealAtRisk + "\x00" + o.ID } // for a transition only
	switch {
	case firing && p >= a.peak-drop/2:
		s.p.Touch(detect.KindEpisode, key())
		ep.Alert.Values["probability_at_resolve"] = num(p)
		s.p.Emit(ep, schemas.AlertResolved, at)
		a.peak = p
	case firing:
	case a.peak >= 0 && a.peak-p >= drop:
		k := key()
		s.p.Touch(detect.KindEpisode, k)
		ep = newAlert(RuleDealAtRisk, o.ID, strconv.FormatInt(at.UnixMilli(), 10))
		s.p.SetEpisode(k, ep)
		s.p.Who(ep, o.RepID, o.TeamID)
		// The reasons are the features that pull the score down most,
		// all of them negative: why it is at risk, not why it is not.
		_, all := s.model.Explain(x, len(schemas.DealFeatureNames))
		neg := dealscore.Negative(all)
		neg = neg[:min(len(neg), s.cfg.DealRisk.Reasons)]
		texts := make([]string, len(neg))
		for k, r := range neg {
			texts[k] = r.Text
		}
		ep.Alert.EventIDs = nil
		if eventID != "" {
			ep.Alert.EventIDs = []string{eventID}
		}
		ep.Alert.Values = map[string]string{
			"opportunity_id": o.ID, "account_id": acct, "probability": num(p), "peak": num(a.peak),
			"drop": num(a.peak - p), "drop_limit": num(drop), "reasons": strings.Join(texts, "; "), "model_id": s.modelID,
		}
		ep.Alert.Summary = "Deal at account " + acct + " dropped to a " + num(p) + " win probability from " + num(a.peak) + ": " + strings.Join(texts, "; ") + "."
		s.p.Emit(ep, schemas.AlertFiring, at)
	case p > a.peak:
		a.peak = p
	}
}

// closed resolves a firing deal_at_risk of the opportunity that closed,
// and forgets its episode: the deal will not come back.
func (s *dealPart) closed(a *dealAcct, at time.Time, outcome, eventID string) {
	ep := s.p.EpisodeOf(RuleDealAtRisk, a.Opp.ID)
	if ep == nil {
		return
	}
	key := RuleDealAtRisk + "\x00" + a.Opp.ID
	s.p.Touch(detect.KindEpisode, key)
	if ep.State() == schemas.AlertFiring {
		ep.Alert.Values["closed"] = outcome
		ep.Alert.Values["close_event_id"] = eventID
		s.p.Emit(ep, schemas.AlertResolved, at)
	}
	s.p.DeleteEpisode(key)
}

// Forget drops accounts quiet for deal_risk.forget_after (cut is the
// watermark minus anomaly.forget_after).
func (s *dealPart) Forget(cut time.Time) {
	c := cut.Add(s.cfg.ForgetAfter - s.cfg.DealRisk.ForgetAfter).UnixMilli()
	for id, a := range s.accts {
		if a.Last < c {
			s.p.Touch(kindDeal, id)
			if a.Opp != nil {
				// A firing alert stays firing in salespulse.alerts, as
				// the other detectors' forgotten subjects do.
				key := RuleDealAtRisk + "\x00" + a.Opp.ID
				s.p.Touch(detect.KindEpisode, key)
				s.p.DeleteEpisode(key)
			}
			delete(s.accts, id)
			s.p.Forgot()
		}
	}
}

// Rebuild queues the rescore of every open opportunity.
func (s *dealPart) Rebuild() {
	for _, id := range detect.SortedKeys(s.accts) {
		if a := s.accts[id]; a.Opp != nil {
			s.schedule(a, id, a.Opp.Open)
		}
	}
}

func (s *dealPart) Encode(b []byte, k detect.Key) ([]byte, bool) {
	a := s.accts[k.ID]
	if k.Kind != kindDeal || a == nil {
		return nil, false
	}
	b = binary.AppendVarint(b, a.Last)
	b = detect.AppendFloat(b, a.peak)
	for _, ts := range a.Touches {
		b = binary.AppendUvarint(b, uint64(len(ts)))
		for _, t := range ts {
			b = binary.AppendVarint(b, t)
		}
	}
	o := a.Opp
	if o == nil {
		return append(b, 0), true
	}
	b = append(b, 1)
	b = detect.AppendStrs(b, o.ID, o.RepID, o.TeamID)
	for _, v := range [...]int64{o.Open, o.StageAt, o.FirstOut, int64(o.Stage), int64(o.Meetings), int64(o.Approvals), int64(o.Rejected)} {
		b = binary.AppendVarint(b, v)
	}
	return detect.AppendFloat(b, o.Discount), true
}

func (s *dealPart) Decode(k detect.Key, r *detect.Reader) error {
	a := &dealAcct{}
	a.Last = r.Varint()
	a.peak = r.Float()
	for c := range a.Touches {
		n := r.Count()
		if n > 0 {
			a.Touches[c] = make([]int64, n)
		}
		for x := range n {
			a.Touches[c][x] = r.Varint()
		}
	}
	if r.Byte() == 1 {
		o := &dealscore.Opp{ID: r.Str(), RepID: r.Str(), TeamID: r.Str()}
		o.Open, o.StageAt, o.FirstOut = r.Varint(), r.Varint(), r.Varint()
		o.Stage, o.Meetings, o.Approvals, o.Rejected = int(r.Varint()), int(r.Varint()), int(r.Varint()), int(r.Varint())
		o.Discount = r.Float()
		a.Opp = o
	}
	if err := r.Done(k); err != nil {
		return err
	}
	s.accts[k.ID] = a
	return nil
}
