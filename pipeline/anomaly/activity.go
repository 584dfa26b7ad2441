package anomaly

import (
	"slices"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// activityState counts each rep's own actions per tumbling event-time
// window and team, and remembers each rep's trailing share of their team's
// activity. Comparing a rep with their share of the team in the same window
// keeps nights, weekends and holidays from looking like drops: the whole
// team is quiet then.
type activityState struct {
	windows map[int64]map[string]*winCounts // window start (unix ms) -> team -> counts
	shares  map[string]map[string]*repShare // team -> rep -> share
	order   []int64
}

type winCounts struct {
	total int
	reps  map[string]int
	last  map[string]string // rep -> last event id, evidence
}

type repShare struct {
	share   float64 // EWMA of the rep's share of the team's events
	windows int     // scored windows seen
}

// activityOf reports whether i is the rep's own work.
func activityOf(i *schemas.Interaction) bool {
	if i.RepID == "" {
		return false
	}
	switch i.Type {
	case schemas.TypeQuoteCreated, schemas.TypeOpportunityStageChanged, schemas.TypeDealWon, schemas.TypeDealLost,
		schemas.TypeLeadCreated, schemas.TypeApprovalRequested:
		return true
	}
	return i.Type.Outbound()
}

func (p *partState) countActivity(i *schemas.Interaction) {
	if !activityOf(i) {
		return
	}
	w := p.cfg.Activity.Window.Milliseconds()
	start := i.OccurredAt.UnixMilli() / w * w
	if start+w <= p.watermark().UnixMilli() && p.activity.closed(start) {
		p.d.m.late.Inc()
		return
	}
	a := &p.activity
	team := p.teamOf(i)
	p.touch(kindWindow, windowID(start, team))
	teams := a.windows[start]
	if teams == nil {
		teams = map[string]*winCounts{}
		a.windows[start] = teams
		a.order = append(a.order, start)
		slices.Sort(a.order)
	}
	c := teams[team]
	if c == nil {
		c = &winCounts{reps: map[string]int{}, last: map[string]string{}}
		teams[team] = c
	}
	c.total++
	c.reps[i.RepID]++
	c.last[i.RepID] = i.EventID
}

// closed reports whether window start was already scored.
func (a *activityState) closed(start int64) bool { return a.windows[start] == nil }

// closeWindows scores every window that ended at or before the watermark.
func (p *partState) closeWindows(wm time.Time) {
	a := &p.activity
	w := p.cfg.Activity.Window.Milliseconds()
	for len(a.order) > 0 && a.order[0]+w <= wm.UnixMilli() {
		start := a.order[0]
		a.order = a.order[1:]
		teams := a.windows[start]
		for t := range teams {
			p.touch(kindWindow, windowID(start, t))
		}
		delete(a.windows, start)
		names := make([]string, 0, len(teams))
		for t := range teams {
			names = append(names, t)
		}
		slices.Sort(names) // deterministic emission order
		for _, t := range names {
			p.scoreWindow(t, teams[t], time.UnixMilli(start+w).UTC())
		}
	}
}

func (p *partState) scoreWindow(team string, c *winCounts, end time.Time) {
	cfg := &p.cfg.Activity
	p.touch(kindShares, team)
	shares := p.activity.shares[team]
	if shares == nil {
		shares = map[string]*repShare{}
		p.activity.shares[team] = shares
	}
	for rep := range c.reps {
		if shares[rep] == nil {
			shares[rep] = &repShare{}
		}
	}
	reps := make([]string, 0, len(shares))
	for r := range shares {
		reps = append(reps, r)
	}
	slices.Sort(reps)
	for _, rep := range reps {
		s := shares[rep]
		n := c.reps[rep]
		expected := s.share * float64(c.total)
		key := RuleActivityDrop + "\x00" + rep
		ep := p.episodes[key]
		firing := ep != nil && ep.t.state() == schemas.AlertFiring
		if s.windows >= cfg.MinWindows && expected >= cfg.MinExpected {
			if !firing && float64(n) <= cfg.DropRatio*expected || firing && float64(n) >= 0.5*expected {
				p.touch(kindEpisode, key)
			}
			switch {
			case !firing && float64(n) <= cfg.DropRatio*expected:
				if ep == nil || ep.t.state() != schemas.AlertResolved || end.Sub(ep.t.a.EndsAt) > p.cfg.Cooldown {
					ep = &episode{t: newAlert(RuleActivityDrop, rep, strconv.FormatInt(end.UnixMilli(), 10))}
					p.episodes[key] = ep
					p.who(ep.t, rep, team)
				}
				ep.t.a.EventIDs = nil
				if id := c.last[rep]; id != "" {
					ep.t.a.EventIDs = []string{id}
				}
				ep.t.a.Values = map[string]string{
					"window_end": ts(end), "window": dur(cfg.Window), "events": strconv.Itoa(n),
					"expected": num(expected), "team_events": strconv.Itoa(c.total), "drop_ratio": num(cfg.DropRatio),
				}
				ep.t.a.Summary = rep + " did " + strconv.Itoa(n) + " actions in the " + dur(cfg.Window) + " before " + ts(end) + " where their share of team " + team + "'s activity predicts " + num(expected) + "."
				p.emit(ep.t, schemas.AlertFiring, end)
			case firing && float64(n) >= 0.5*expected:
				ep.t.a.Values["events_at_resolve"] = strconv.Itoa(n)
				p.emit(ep.t, schemas.AlertResolved, end)
			}
		}
		if c.total >= int(cfg.MinExpected) {
			x := float64(n) / float64(c.total)
			if s.windows == 0 {
				s.share = x
			} else {
				s.share = 0.7*s.share + 0.3*x
			}
			s.windows++
		}
	}
}
