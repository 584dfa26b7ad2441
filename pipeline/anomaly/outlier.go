package anomaly

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/anomaly/internal/robust"
	"github.com/salespulse/salespulse/schemas"
)

// outliers scores a rep's recent values against their team's with a
// robust z-score: discounts (discount_outlier, from quotes) and response
// times (response_time_outlier, published by the SLA detector).
type outliers struct{ cfg *Config }

// State key kinds.
const (
	kindTeamRing = 'T' // team\x00rule: the team's trailing values
	kindRepRing  = 'R' // team\x00rule\x00rep: the rep's trailing values
)

func (d *outliers) Kinds() []byte { return []byte{kindTeamRing, kindRepRing} }

func (d *outliers) NewState(p *detect.Partition, _ detect.Queue) detect.State {
	return &outliersPart{outliers: d, p: p, teams: map[string]*teamStats{}}
}

// outliersPart is one partition's trailing values per team.
type outliersPart struct {
	*outliers
	p       *detect.Partition
	teams   map[string]*teamStats
	scratch []float64
}

func (s *outliersPart) Apply(i *schemas.Interaction) {
	if !s.cfg.Outliers.Disabled && i.Type == schemas.TypeQuoteCreated && i.RepID != "" {
		if d, ok := discountOf(i); ok {
			s.observe(RuleDiscountOutlier, i.RepID, s.p.TeamOf(i), d, i)
		}
	}
}

// Observe scores a measurement another detector published.
func (s *outliersPart) Observe(rule, rep, team string, x float64, i *schemas.Interaction) {
	if !s.cfg.Outliers.Disabled {
		s.observe(rule, rep, team, x, i)
	}
}

// ring is a bounded trailing window of values.
type ring struct {
	v    []float64
	next int
	size int
}

func (r *ring) push(x float64) {
	if len(r.v) < r.size {
		r.v = append(r.v, x)
		return
	}
	r.v[r.next] = x
	r.next = (r.next + 1) % r.size
}

// teamStats are one team's trailing values per metric, and its reps'.
type teamStats struct {
	team map[string]*ring            // metric -> team ring
	reps map[string]map[string]*ring // metric -> rep -> ring
}

// observe feeds one value of a rep (a discount, a response time in
// seconds) and scores the median of the rep's trailing values against the
// team's trailing distribution. Only high scores matter: large discounts,
// slow responses.
func (s *outliersPart) observe(rule, rep, team string, x float64, i *schemas.Interaction) {
	o := &s.cfg.Outliers
	ts := s.teams[team]
	if ts == nil {
		ts = &teamStats{team: map[string]*ring{}, reps: map[string]map[string]*ring{}}
		s.teams[team] = ts
	}
	s.p.Touch(kindTeamRing, teamRingID(team, rule))
	s.p.Touch(kindRepRing, repRingID(team, rule, rep))
	tr := ts.team[rule]
	if tr == nil {
		tr = &ring{size: o.TeamWindow}
		ts.team[rule] = tr
		ts.reps[rule] = map[string]*ring{}
	}
	rr := ts.reps[rule][rep]
	if rr == nil {
		rr = &ring{size: o.RepWindow}
		ts.reps[rule][rep] = rr
	}
	tr.push(x)
	rr.push(x)
	if len(rr.v) < o.MinRepSamples || len(tr.v) < o.MinTeamSamples {
		return
	}
	s.scratch = append(s.scratch[:0], rr.v...)
	repMed := robust.Median(s.scratch)
	z, med, spread, ok := robust.Z(repMed, tr.v, s.scratch)
	if !ok {
		return
	}
	key := rule + "\x00" + rep
	ep := s.p.Episode(key)
	firing := ep != nil && ep.State() == schemas.AlertFiring
	if !firing && z > o.Threshold || firing && z < o.ClearBelow {
		s.p.Touch(detect.KindEpisode, key)
	}
	switch {
	case !firing && z > o.Threshold:
		if ep == nil || ep.State() != schemas.AlertResolved || i.OccurredAt.Sub(ep.Alert.EndsAt) > s.cfg.Cooldown {
			ep = newAlert(rule, rep, i.EventID)
			s.p.SetEpisode(key, ep)
			s.p.Who(ep, rep, team)
		}
		unit, what := "%", "discounts"
		if rule == RuleResponseOutlier {
			unit, what = "s", "response times"
		}
		ep.Alert.EventIDs = []string{i.EventID}
		ep.Alert.Values = map[string]string{
			"rep_median": num(repMed) + unit, "team_median": num(med) + unit, "team_spread": num(spread) + unit,
			"robust_z": num(z), "threshold": num(o.Threshold), "rep_samples": strconv.Itoa(len(rr.v)), "team_samples": strconv.Itoa(len(tr.v)),
		}
		ep.Alert.Summary = "Recent " + what + " of " + rep + " (median " + num(repMed) + unit + ") are far above team " + team + "'s (median " + num(med) + unit + ", robust z " + num(z) + ")."
		s.p.Emit(ep, schemas.AlertFiring, i.OccurredAt)
	case firing && z < o.ClearBelow:
		ep.Alert.Values["robust_z_at_resolve"] = num(z)
		s.p.Emit(ep, schemas.AlertResolved, i.OccurredAt)
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func (s *outliersPart) Encode(b []byte, k detect.Key) ([]byte, bool) {
	r := s.ring(k)
	if r == nil {
		return nil, false
	}
	b = binary.AppendUvarint(b, uint64(r.size))
	b = binary.AppendUvarint(b, uint64(r.next))
	b = binary.AppendUvarint(b, uint64(len(r.v)))
	for _, x := range r.v {
		b = detect.AppendFloat(b, x)
	}
	return b, true
}

func (s *outliersPart) Decode(k detect.Key, r *detect.Reader) error {
	rg := &ring{size: int(r.Uvarint()), next: int(r.Uvarint())}
	n := r.Count()
	rg.v = make([]float64, 0, n)
	for range n {
		rg.v = append(rg.v, r.Float())
	}
	if rg.size < 1 || len(rg.v) > rg.size || rg.next >= rg.size {
		r.Fail()
	}
	if err := r.Done(k); err != nil {
		return err
	}
	if !s.setRing(k, rg) {
		return fmt.Errorf("decode ring key %q: %w", k.ID, detect.ErrCorrupt)
	}
	return nil
}

// ring returns the ring of a kindTeamRing or kindRepRing key.
func (s *outliersPart) ring(k detect.Key) *ring {
	parts := strings.Split(k.ID, "\x00")
	ts := s.teams[parts[0]]
	if ts == nil || len(parts) < 2 {
		return nil
	}
	if k.Kind == kindTeamRing && len(parts) == 2 {
		return ts.team[parts[1]]
	}
	if k.Kind == kindRepRing && len(parts) == 3 {
		return ts.reps[parts[1]][parts[2]]
	}
	return nil
}

func (s *outliersPart) setRing(k detect.Key, r *ring) bool {
	parts := strings.Split(k.ID, "\x00")
	if len(parts) < 2 || k.Kind == kindTeamRing && len(parts) != 2 || k.Kind == kindRepRing && len(parts) != 3 {
		return false
	}
	ts := s.teams[parts[0]]
	if ts == nil {
		ts = &teamStats{team: map[string]*ring{}, reps: map[string]map[string]*ring{}}
		s.teams[parts[0]] = ts
	}
	rule := parts[1]
	if ts.reps[rule] == nil {
		ts.reps[rule] = map[string]*ring{}
	}
	if k.Kind == kindTeamRing {
		ts.team[rule] = r
	} else {
		ts.reps[rule][parts[2]] = r
	}
	return true
}

func teamRingID(team, rule string) string     { return team + "\x00" + rule }
func repRingID(team, rule, rep string) string { return team + "\x00" + rule + "\x00" + rep }
