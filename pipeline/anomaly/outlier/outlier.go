// Package outlier scores measurements of reps that other detectors publish
// (detect.Partition.Observe: a quote's discount, a lead's response time)
// against their team's trailing distribution with a robust z-score, and
// pages a rep whose recent median stands out (discount_outlier,
// response_time_outlier). Each measurement is its rule.
package outlier

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/anomaly/internal/robust"
	"github.com/salespulse/salespulse/schemas"
)

// Config tunes the detector (anomaly.outliers). Defaults are applied
// and checked by anomaly.Config.
type Config struct {
	Disabled bool `yaml:"disabled"`
	// Threshold is the robust z-score (0.6745·(x−median)/MAD) above which a
	// rep's recent median is an outlier. Default 3.5 (Iglewicz & Hoaglin).
	Threshold float64 `yaml:"threshold"`
	// ClearBelow: a firing outlier resolves when the score falls below
	// this. Default 0.8 × Threshold (hysteresis).
	ClearBelow float64 `yaml:"clear_below"`
	// TeamWindow is the number of trailing team values kept per metric.
	// Default 200.
	TeamWindow int `yaml:"team_window"`
	// RepWindow is the number of trailing values of a rep whose median is
	// scored. Default 10.
	RepWindow int `yaml:"rep_window"`
	// MinTeamSamples and MinRepSamples: below them nothing is scored, so a
	// new rep or team is not paged. Defaults 50 and 8: with 30 and 5 a
	// week of the generator's homogeneous reps, split over 4 partitions,
	// paged one rep by chance.
	MinTeamSamples int `yaml:"min_team_samples"`
	MinRepSamples  int `yaml:"min_rep_samples"`
}

// Measure describes a published measurement: the alert of its rule.
type Measure struct {
	Severity schemas.Severity
	Unit     string // appended to values in the alert: "%", "s"
	What     string // the values in the summary: "discounts"
}

// Detector is the outlier detector.
type Detector struct {
	cfg      *Config
	cooldown time.Duration
	measures map[string]Measure
}

// New returns the detector of the measurements named in measures (others
// are ignored). A condition that clears and comes back within cooldown of
// its resolution reopens the same alert.
func New(cfg *Config, cooldown time.Duration, measures map[string]Measure) *Detector {
	return &Detector{cfg: cfg, cooldown: cooldown, measures: measures}
}

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Observer = (*part)(nil)
)

// State key kinds.
const (
	kindTeamRing = 'T' // team\x00rule: the team's trailing values
	kindRepRing  = 'R' // team\x00rule\x00rep: the rep's trailing values
)

// Kinds are the detector's state key kinds.
func (d *Detector) Kinds() []byte { return []byte{kindTeamRing, kindRepRing} }

// NewState returns a partition's empty state.
func (d *Detector) NewState(p *detect.Partition, _ detect.Queue) detect.State {
	return &part{Detector: d, p: p, teams: map[string]*teamStats{}}
}

// part is one partition's trailing values per team.
type part struct {
	*Detector
	p       *detect.Partition
	teams   map[string]*teamStats
	scratch []float64
}

// Apply does nothing: measurements come through Observe.
func (s *part) Apply(*schemas.Interaction) {}

// Observe scores a measurement another detector published.
func (s *part) Observe(rule, rep, team string, x float64, i *schemas.Interaction) {
	if m, ok := s.measures[rule]; ok && !s.cfg.Disabled {
		s.observe(rule, m, rep, team, x, i)
	}
}

// ring is a bounded trailing window of values.
type ring struct {
	id   string // state key: teamRingID or repRingID
	v    []float64
	next int
	size int
	// sorted holds v's values in order: scoring against a window of 200
	// then needs no copy and no selection (robust.Sorted). It doubles a
	// ring's values in memory and is not checkpointed: Decode rebuilds it.
	sorted robust.Sorted
}

func (r *ring) push(x float64) {
	if len(r.v) < r.size {
		r.v = append(r.v, x)
		r.sorted.Add(x)
		return
	}
	r.sorted.Replace(r.v[r.next], x)
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
func (s *part) observe(rule string, m Measure, rep, team string, x float64, i *schemas.Interaction) {
	o := s.cfg
	ts := s.teams[team]
	if ts == nil {
		ts = &teamStats{team: map[string]*ring{}, reps: map[string]map[string]*ring{}}
		s.teams[team] = ts
	}
	// The rings' state keys are made once, when a ring is, not per value.
	tr := ts.team[rule]
	if tr == nil {
		tr = &ring{id: teamRingID(team, rule), size: o.TeamWindow}
		s.p.Touch(kindTeamRing, tr.id)
		ts.team[rule] = tr
		ts.reps[rule] = map[string]*ring{}
	} else {
		s.p.Touch(kindTeamRing, tr.id)
	}
	rr := ts.reps[rule][rep]
	if rr == nil {
		rr = &ring{id: repRingID(team, rule, rep), size: o.RepWindow}
		s.p.Touch(kindRepRing, rr.id)
		ts.reps[rule][rep] = rr
	} else {
		s.p.Touch(kindRepRing, rr.id)
	}
	tr.push(x)
	rr.push(x)
	if len(rr.v) < o.MinRepSamples || len(tr.v) < o.MinTeamSamples {
		return
	}
	if n := max(len(rr.v), len(tr.v)); cap(s.scratch) < n {
		// A window holding a NaN or a −0 is scored on a copy in scratch:
		// room for it here, or it grows a new array per value.
		s.scratch = make([]float64, 0, n)
	}
	repMed := rr.sorted.Median(rr.v, s.scratch)
	z, med, spread, ok := tr.sorted.Z(repMed, tr.v, s.scratch)
	if !ok {
		return
	}
	ep := s.p.EpisodeOf(rule, rep)
	firing := ep != nil && ep.State() == schemas.AlertFiring
	if !(!firing && z > o.Threshold || firing && z < o.ClearBelow) {
		return // no transition: no key to make
	}
	key := rule + "\x00" + rep
	s.p.Touch(detect.KindEpisode, key)
	switch {
	case !firing && z > o.Threshold:
		if ep == nil || ep.State() != schemas.AlertResolved || i.OccurredAt.Sub(ep.Alert.EndsAt) > s.cooldown {
			ep = &detect.Tracked{Alert: schemas.Alert{ID: detect.AlertID(rule, rep, i.EventID), Rule: rule, Severity: m.Severity}}
			s.p.SetEpisode(key, ep)
			s.p.Who(ep, rep, team)
		}
		unit, what := m.Unit, m.What
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

func (s *part) Encode(b []byte, k detect.Key) ([]byte, bool) {
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

func (s *part) Decode(k detect.Key, r *detect.Reader) error {
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
	rg.id = k.ID
	rg.sorted.Reset(rg.v)
	if !s.setRing(k, rg) {
		return fmt.Errorf("decode ring key %q: %w", k.ID, detect.ErrCorrupt)
	}
	return nil
}

// ring returns the ring of a kindTeamRing or kindRepRing key.
func (s *part) ring(k detect.Key) *ring {
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

func (s *part) setRing(k detect.Key, r *ring) bool {
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

// Keys lists every key the state holds: for tests and tools.
func (s *part) Keys() []detect.Key {
	var ks []detect.Key
	for _, team := range detect.SortedKeys(s.teams) {
		ts := s.teams[team]
		for _, rule := range detect.SortedKeys(ts.team) {
			ks = append(ks, detect.Key{Kind: kindTeamRing, ID: teamRingID(team, rule)})
		}
		for _, rule := range detect.SortedKeys(ts.reps) {
			for _, rep := range detect.SortedKeys(ts.reps[rule]) {
				ks = append(ks, detect.Key{Kind: kindRepRing, ID: repRingID(team, rule, rep)})
			}
		}
	}
	return ks
}
