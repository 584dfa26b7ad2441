package anomaly

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

// activity pages when a rep's activity collapses against their usual
// share of their team's (activity_drop).
type activity struct{ cfg *Config }

// State key kinds.
const (
	kindWindow = 'W' // window start (unix ms)\x00team: activity counts
	kindShares = 'S' // team: reps' activity shares
)

func (d *activity) Kinds() []byte { return []byte{kindWindow, kindShares} }

func (d *activity) NewState(p *detect.Partition, _ detect.Queue) detect.State {
	return &activityPart{activity: d, p: p,
		windows: map[int64]map[string]*winCounts{}, shares: map[string]map[string]*repShare{}}
}

// activityPart counts each rep's own actions per tumbling event-time
// window and team, and remembers each rep's trailing share of their team's
// activity. Comparing a rep with their share of the team in the same window
// keeps nights, weekends and holidays from looking like drops: the whole
// team is quiet then.
type activityPart struct {
	*activity
	p       *detect.Partition
	windows map[int64]map[string]*winCounts // window start (unix ms) -> team -> counts
	shares  map[string]map[string]*repShare // team -> rep -> share
	order   []int64
}

type winCounts struct {
	id    string // state key: windowID(start, team)
	total int
	// reps are the window's reps in name order: the state's order, so a
	// checkpoint encodes them without sorting (a few per team, so a
	// search of the slice beats hashing the name).
	reps []repCount
}

type repCount struct {
	rep  string
	n    int
	last string // the rep's last event id, evidence
}

// find is rep's index in c.reps, or where it would go.
func (c *winCounts) find(rep string) (int, bool) {
	return slices.BinarySearchFunc(c.reps, rep, func(r repCount, rep string) int { return strings.Compare(r.rep, rep) })
}

// add counts an event of rep's.
func (c *winCounts) add(rep, event string) {
	c.total++
	k, ok := c.find(rep)
	if !ok {
		c.reps = slices.Insert(c.reps, k, repCount{rep: rep})
	}
	c.reps[k].n++
	c.reps[k].last = event
}

type repShare struct {
	share   float64 // EWMA of the rep's share of the team's events
	windows int     // scored windows seen
}

// activityOf reports whether i is the rep's own work.
func activityOf(i *schemas.Interaction) bool {
	if i.RepID == "" || i.PairOnly { // a PairOnly copy was counted as the original
		return false
	}
	switch i.Type {
	case schemas.TypeQuoteCreated, schemas.TypeOpportunityStageChanged, schemas.TypeDealWon, schemas.TypeDealLost,
		schemas.TypeLeadCreated, schemas.TypeLeadConverted, schemas.TypeApprovalRequested:
		return true
	}
	// A contact joining a meeting is a touch of the meeting the rep
	// held (meeting.held), not more work.
	return i.Type.Outbound() && i.Type != schemas.TypeMeetingJoined
}

func (a *activityPart) Apply(i *schemas.Interaction) {
	if a.cfg.Activity.Disabled || !activityOf(i) {
		return
	}
	w := a.cfg.Activity.Window.Milliseconds()
	start := i.OccurredAt.UnixMilli() / w * w
	if start+w <= a.p.Watermark().UnixMilli() && a.closed(start) {
		a.p.Late()
		return
	}
	team := a.p.TeamOf(i)
	teams := a.windows[start]
	c := teams[team]
	if c == nil {
		// The window's state key is made once here, not per event.
		c = &winCounts{id: windowID(start, team)}
		a.p.Touch(kindWindow, c.id)
		if teams == nil {
			teams = map[string]*winCounts{}
			a.windows[start] = teams
			a.order = append(a.order, start)
			slices.Sort(a.order)
		}
		teams[team] = c
	} else {
		a.p.Touch(kindWindow, c.id)
	}
	c.add(i.RepID, i.EventID)
}

// closed reports whether window start was already scored.
func (a *activityPart) closed(start int64) bool { return a.windows[start] == nil }

// Advance scores every window that ended at or before the watermark.
func (a *activityPart) Advance(wm time.Time) {
	if a.cfg.Activity.Disabled {
		return
	}
	w := a.cfg.Activity.Window.Milliseconds()
	for len(a.order) > 0 && a.order[0]+w <= wm.UnixMilli() {
		start := a.order[0]
		a.order = a.order[1:]
		teams := a.windows[start]
		for _, c := range teams {
			a.p.Touch(kindWindow, c.id)
		}
		delete(a.windows, start)
		names := make([]string, 0, len(teams))
		for t := range teams {
			names = append(names, t)
		}
		slices.Sort(names) // deterministic emission order
		for _, t := range names {
			a.scoreWindow(t, teams[t], time.UnixMilli(start+w).UTC())
		}
	}
}

func (a *activityPart) scoreWindow(team string, c *winCounts, end time.Time) {
	cfg := &a.cfg.Activity
	a.p.Touch(kindShares, team)
	shares := a.shares[team]
	if shares == nil {
		shares = map[string]*repShare{}
		a.shares[team] = shares
	}
	for _, r := range c.reps {
		if shares[r.rep] == nil {
			shares[r.rep] = &repShare{}
		}
	}
	reps := make([]string, 0, len(shares))
	for r := range shares {
		reps = append(reps, r)
	}
	slices.Sort(reps)
	for _, rep := range reps {
		sh := shares[rep]
		k, ok := c.find(rep)
		n, last := 0, ""
		if ok {
			n, last = c.reps[k].n, c.reps[k].last
		}
		expected := sh.share * float64(c.total)
		ep := a.p.EpisodeOf(RuleActivityDrop, rep)
		firing := ep != nil && ep.State() == schemas.AlertFiring
		if sh.windows >= cfg.MinWindows && expected >= cfg.MinExpected {
			var key string // made only for a transition
			if !firing && float64(n) <= cfg.DropRatio*expected || firing && float64(n) >= 0.5*expected {
				key = RuleActivityDrop + "\x00" + rep
				a.p.Touch(detect.KindEpisode, key)
			}
			switch {
			case !firing && float64(n) <= cfg.DropRatio*expected:
				if ep == nil || ep.State() != schemas.AlertResolved || end.Sub(ep.Alert.EndsAt) > a.cfg.Cooldown {
					ep = newAlert(RuleActivityDrop, rep, strconv.FormatInt(end.UnixMilli(), 10))
					a.p.SetEpisode(key, ep)
					a.p.Who(ep, rep, team)
				}
				ep.Alert.EventIDs = nil
				if last != "" {
					ep.Alert.EventIDs = []string{last}
				}
				ep.Alert.Values = map[string]string{
					"window_end": ts(end), "window": dur(cfg.Window), "events": strconv.Itoa(n),
					"expected": num(expected), "team_events": strconv.Itoa(c.total), "drop_ratio": num(cfg.DropRatio),
				}
				ep.Alert.Summary = rep + " did " + strconv.Itoa(n) + " actions in the " + dur(cfg.Window) + " before " + ts(end) + " where their share of team " + team + "'s activity predicts " + num(expected) + "."
				a.p.Emit(ep, schemas.AlertFiring, end)
			case firing && float64(n) >= 0.5*expected:
				ep.Alert.Values["events_at_resolve"] = strconv.Itoa(n)
				a.p.Emit(ep, schemas.AlertResolved, end)
			}
		}
		if c.total >= int(cfg.MinExpected) {
			x := float64(n) / float64(c.total)
			if sh.windows == 0 {
				sh.share = x
			} else {
				sh.share = 0.7*sh.share + 0.3*x
			}
			sh.windows++
		}
	}
}

// Rebuild restores the order of the open windows.
func (a *activityPart) Rebuild() {
	a.order = a.order[:0]
	for start := range a.windows {
		a.order = append(a.order, start)
	}
	slices.Sort(a.order)
}

func (a *activityPart) Encode(b []byte, k detect.Key) ([]byte, bool) {
	switch k.Kind {
	case kindWindow:
		start, team, ok := windowKey(k.ID)
		if !ok {
			return nil, false
		}
		c := a.windows[start][team]
		if c == nil {
			return nil, false
		}
		// Each rep's count, then each rep's last event, in name order.
		b = binary.AppendUvarint(b, uint64(c.total))
		b = binary.AppendUvarint(b, uint64(len(c.reps)))
		for _, r := range c.reps {
			b = detect.AppendStrs(b, r.rep)
			b = binary.AppendUvarint(b, uint64(r.n))
		}
		b = binary.AppendUvarint(b, uint64(len(c.reps)))
		for _, r := range c.reps {
			b = detect.AppendStrs(b, r.rep, r.last)
		}
		return b, true
	case kindShares:
		sh, ok := a.shares[k.ID]
		if !ok {
			return nil, false
		}
		reps := detect.SortedKeys(sh)
		b = binary.AppendUvarint(b, uint64(len(reps)))
		for _, rep := range reps {
			s := sh[rep]
			b = detect.AppendStrs(b, rep)
			b = detect.AppendFloat(b, s.share)
			b = binary.AppendUvarint(b, uint64(s.windows))
		}
		return b, true
	}
	return nil, false
}

func (a *activityPart) Decode(k detect.Key, r *detect.Reader) error {
	switch k.Kind {
	case kindWindow:
		start, team, ok := windowKey(k.ID)
		if !ok {
			return fmt.Errorf("decode window key %q: %w", k.ID, detect.ErrCorrupt)
		}
		c := &winCounts{id: k.ID, total: int(r.Uvarint())}
		for n := r.Count(); n > 0; n-- {
			rep := r.Str()
			cnt := int(r.Uvarint())
			k, ok := c.find(rep)
			if !ok {
				c.reps = slices.Insert(c.reps, k, repCount{rep: rep})
			}
			c.reps[k].n = cnt
		}
		for n := r.Count(); n > 0; n-- {
			rep, last := r.Str(), r.Str()
			k, ok := c.find(rep)
			if !ok {
				c.reps = slices.Insert(c.reps, k, repCount{rep: rep})
			}
			c.reps[k].last = last
		}
		if err := r.Done(k); err != nil {
			return err
		}
		teams := a.windows[start]
		if teams == nil {
			teams = map[string]*winCounts{}
			a.windows[start] = teams
		}
		teams[team] = c
	case kindShares:
		sh := map[string]*repShare{}
		for n := r.Count(); n > 0; n-- {
			rep := r.Str()
			sh[rep] = &repShare{share: r.Float(), windows: int(r.Uvarint())}
		}
		if err := r.Done(k); err != nil {
			return err
		}
		a.shares[k.ID] = sh
	}
	return nil
}

func windowID(start int64, team string) string {
	return strconv.FormatInt(start, 10) + "\x00" + team
}

func windowKey(id string) (start int64, team string, ok bool) {
	s, team, ok := strings.Cut(id, "\x00")
	if !ok {
		return 0, "", false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	return start, team, err == nil
}
