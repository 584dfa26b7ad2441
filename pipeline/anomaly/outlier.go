package anomaly

import (
	"math"
	"slices"
	"strconv"

	"github.com/salespulse/salespulse/schemas"
)

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

// episode is the current (or last resolved) outlier or activity alert of
// one rule and rep.
type episode struct{ t *tracked }

// robustZ scores x against sample: 0.6745·(x−median)/MAD, falling back to
// the mean absolute deviation (·1.2533) when more than half the sample is
// one value (MAD 0, e.g. many 0 % discounts). ok is false when the sample
// has no spread at all.
func robustZ(x float64, sample, scratch []float64) (z, med, spread float64, ok bool) {
	s := append(scratch[:0], sample...)
	slices.Sort(s)
	med = median(s)
	for k := range s {
		s[k] = math.Abs(s[k] - med)
	}
	slices.Sort(s)
	if mad := median(s); mad > 0 {
		return 0.6745 * (x - med) / mad, med, mad, true
	}
	var sum float64
	for _, d := range s {
		sum += d
	}
	if mean := sum / float64(len(s)); mean > 0 {
		return (x - med) / (1.2533 * mean), med, mean, true
	}
	return 0, med, 0, false
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// observe feeds one value of a rep (a discount, a response time in
// seconds) and scores the median of the rep's trailing values against the
// team's trailing distribution. Only high scores matter: large discounts,
// slow responses.
func (p *partState) observe(rule, rep, team string, x float64, i *schemas.Interaction) {
	o := &p.cfg.Outliers
	ts := p.teams[team]
	if ts == nil {
		ts = &teamStats{team: map[string]*ring{}, reps: map[string]map[string]*ring{}}
		p.teams[team] = ts
	}
	p.touch(kindTeamRing, teamRingID(team, rule))
	p.touch(kindRepRing, repRingID(team, rule, rep))
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
	p.scratch = append(p.scratch[:0], rr.v...)
	slices.Sort(p.scratch)
	repMed := median(p.scratch)
	z, med, spread, ok := robustZ(repMed, tr.v, p.scratch)
	if !ok {
		return
	}
	key := rule + "\x00" + rep
	ep := p.episodes[key]
	firing := ep != nil && ep.t.state() == schemas.AlertFiring
	if !firing && z > o.Threshold || firing && z < o.ClearBelow {
		p.touch(kindEpisode, key)
	}
	switch {
	case !firing && z > o.Threshold:
		if ep == nil || ep.t.state() != schemas.AlertResolved || i.OccurredAt.Sub(ep.t.a.EndsAt) > p.cfg.Cooldown {
			ep = &episode{t: newAlert(rule, rep, i.EventID)}
			p.episodes[key] = ep
			p.who(ep.t, rep, team)
		}
		unit, what := "%", "discounts"
		if rule == RuleResponseOutlier {
			unit, what = "s", "response times"
		}
		ep.t.a.EventIDs = []string{i.EventID}
		ep.t.a.Values = map[string]string{
			"rep_median": num(repMed) + unit, "team_median": num(med) + unit, "team_spread": num(spread) + unit,
			"robust_z": num(z), "threshold": num(o.Threshold), "rep_samples": strconv.Itoa(len(rr.v)), "team_samples": strconv.Itoa(len(tr.v)),
		}
		ep.t.a.Summary = "Recent " + what + " of " + rep + " (median " + num(repMed) + unit + ") are far above team " + team + "'s (median " + num(med) + unit + ", robust z " + num(z) + ")."
		p.emit(ep.t, schemas.AlertFiring, i.OccurredAt)
	case firing && z < o.ClearBelow:
		ep.t.a.Values["robust_z_at_resolve"] = num(z)
		p.emit(ep.t, schemas.AlertResolved, i.OccurredAt)
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
