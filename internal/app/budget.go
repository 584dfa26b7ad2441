package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sinks/clickhouse"
)

// BudgetHooks are the hooks `salespulse alerts budget` simulates when the
// config has none: the setup docs/alerts.md recommends ("Alert budget"),
// which keeps a manager's pager at about three digests a working day while
// every lead past its SLA still reaches its rep, and every escalation its
// manager. Both are quiet outside each team's working hours (its calendar
// in cals, as Pick finds it; teams of org without one are never quiet).
// Type and URL are placeholders: nothing is sent.
func BudgetHooks(org *schemas.Org, cals map[string]window.Calendar) []alert.HookConfig {
	var quiet []alert.QuietHours
	if org != nil {
		for _, t := range org.Teams {
			if q, ok := quietOutside(cals, t); ok {
				quiet = append(quiet, q)
			}
		}
	}
	return []alert.HookConfig{
		{
			// The rep's reminder: one digest of their leads past the SLA,
			// updated at most every 15 minutes while new ones come.
			Name: "rep-reminders", Type: alert.HookSlack,
			Routes:  []alert.RouteConfig{{Rules: []string{"lead_response_sla"}, Recipient: alert.RecipientRep}},
			GroupBy: []string{"recipient"}, GroupWait: time.Minute, GroupInterval: 15 * time.Minute, RepeatInterval: 24 * time.Hour,
			QuietHours: quiet,
		},
		{
			// The manager's pager: escalations and the discount rules
			// (critical), one digest per manager, changes at most every
			// 4 hours: the morning's, the noon's and the afternoon's.
			Name: "manager-pages", Type: alert.HookSlack,
			Routes: []alert.RouteConfig{
				{Rules: []string{"lead_response_sla_escalated"}, Recipient: alert.RecipientManager},
				{Rules: []string{"discount_beyond_authority", "discount_without_approval", "approval_beyond_authority"}, Recipient: alert.RecipientManager},
			},
			GroupBy: []string{"recipient"}, GroupWait: 5 * time.Minute, GroupInterval: 4 * time.Hour, RepeatInterval: 24 * time.Hour,
			QuietHours: quiet,
		},
	}
}

// quietOutside is team t's quiet period: from its calendar's end to its
// start, and weekends when it works Monday to Friday. Holidays are not
// quiet hours (quiet_hours has no dates).
func quietOutside(cals map[string]window.Calendar, t schemas.Team) (alert.QuietHours, bool) {
	c, ok := cals[t.ID]
	if !ok {
		c, ok = cals["*"]
	}
	if !ok {
		return alert.QuietHours{}, false
	}
	tz := cmp.Or(c.TimeZone, t.TimeZone, "UTC")
	days := c.Weekdays
	if days == nil {
		days = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	weekdays := slices.Equal(lower(days), []string{"mon", "tue", "wed", "thu", "fri"})
	return alert.QuietHours{Teams: []string{t.ID}, From: cmp.Or(c.End, "17:00"), To: cmp.Or(c.Start, "09:00"), Weekends: weekdays, TimeZone: tz}, true
}

func lower(l []string) []string {
	out := make([]string, len(l))
	for k, s := range l {
		out[k] = strings.ToLower(s)
	}
	return out
}

// ReadAlerts reads the alerts of [from, to) (zero: open) from the
// configured ClickHouse and returns their transitions (AlertMessages).
func ReadAlerts(ctx context.Context, c clickhouse.Config, from, to time.Time) ([]alert.Message, error) {
	no := false
	c.Migrate = &no
	sink, err := clickhouse.NewSink(ctx, c, nil, nil)
	if err != nil {
		return nil, err
	}
	defer sink.Close()
	rows, err := sink.Alerts(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return AlertMessages(rows), nil
}

// AlertMessages turns alerts-table rows into the transitions the
// Dispatcher consumed from sales.alerts, one per (id, state), in version
// order. A resolved row whose firing row a merge removed gives the firing
// transition back: it fired at At.
func AlertMessages(rows []schemas.Alert) []alert.Message {
	seen := map[string]bool{}
	var out []alert.Message
	add := func(a *schemas.Alert) {
		k := a.ID + " " + a.State.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, alert.FromAlert(a))
		}
	}
	for k := range rows {
		a := rows[k]
		add(&a)
		if a.State == schemas.AlertResolved {
			f := a
			f.State, f.EndsAt = schemas.AlertFiring, time.Time{}
			add(&f)
		}
	}
	slices.SortStableFunc(out, func(a, b alert.Message) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// AlertBudget is what the simulated hooks would have sent.
type AlertBudget struct {
	From, To time.Time // the range measured
	Alerts   int       // alert transitions simulated
	Hooks    []string  // the hooks simulated
	Pages    []alert.Page
	Digests  int // pages that are digests
	// OffDays are pages to a rep or manager on a day off of their team's
	// calendar (in the range); Outside those after To (held alerts and
	// repeats running out).
	OffDays, Outside int
	Managers, Reps   Spread
}

// Spread is the distribution of pages per recipient per working day:
// one sample per recipient and working day of their team's calendar in
// the range, days without pages included.
type Spread struct {
	Recipients int
	Samples    []int // sorted
}

// Median is the middle sample (the mean of the two middle ones).
func (s Spread) Median() float64 {
	n := len(s.Samples)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return float64(s.Samples[n/2])
	}
	return float64(s.Samples[n/2-1]+s.Samples[n/2]) / 2
}

// Quantile is the nearest-rank q-quantile (0 < q <= 1).
func (s Spread) Quantile(q float64) int {
	if len(s.Samples) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(s.Samples)))) - 1
	return s.Samples[max(k, 0)]
}

// Max is the largest sample.
func (s Spread) Max() int {
	if len(s.Samples) == 0 {
		return 0
	}
	return s.Samples[len(s.Samples)-1]
}

// MeasureAlertBudget simulates the hooks of cfg.Alerts (BudgetHooks when
// there are none) on msgs and counts the pages per manager and per rep on
// each working day in [from, to). Working days are those of the team's
// calendar (window.calendars: the team's, else "*"; without either Monday
// to Friday), in its zone (the calendar's, else the team's in org).
func MeasureAlertBudget(cfg *Config, org *schemas.Org, msgs []alert.Message, from, to time.Time) (*AlertBudget, error) {
	ac := cfg.Alerts
	if len(ac.Hooks) == 0 {
		ac.Hooks = BudgetHooks(org, cfg.Window.Calendars)
	}
	pages, err := alert.Simulate(ac, msgs)
	if err != nil {
		return nil, fmt.Errorf("simulate hooks: %w", err)
	}
	b := &AlertBudget{From: from, To: to, Alerts: len(msgs), Pages: pages}
	for _, h := range ac.Hooks {
		b.Hooks = append(b.Hooks, h.Name)
	}
	if org == nil {
		org = &schemas.Org{}
	}

	// Whom to count, and the team whose calendar they keep.
	teamOf := map[alert.Recipient]string{}
	tz := map[string]string{}
	for _, t := range org.Teams {
		tz[t.ID] = t.TimeZone
		if t.ManagerID != "" {
			teamOf[alert.Recipient{Role: alert.RecipientManager, ID: t.ManagerID}] = t.ID
		}
	}
	for _, r := range org.Reps {
		if r.Role != "manager" && teamOf[alert.Recipient{Role: alert.RecipientManager, ID: r.ID}] == "" {
			teamOf[alert.Recipient{Role: alert.RecipientRep, ID: r.ID}] = r.TeamID
		}
	}
	for _, p := range pages {
		if (p.Recipient.Role == alert.RecipientManager || p.Recipient.Role == alert.RecipientRep) && teamOf[p.Recipient] == "" {
			teamOf[p.Recipient] = p.Team
		}
	}

	type teamDays struct {
		loc  *time.Location
		days map[string]bool
	}
	cals := map[string]*teamDays{}
	daysOf := func(team string) (*teamDays, error) {
		if d := cals[team]; d != nil {
			return d, nil
		}
		c, ok := cfg.Window.Calendars[team]
		if !ok {
			c = cfg.Window.Calendars["*"]
		}
		cal, err := window.Calendar(c).Compile(tz[team])
		if err != nil {
			return nil, fmt.Errorf("calendar of team %q: %w", team, err)
		}
		d := &teamDays{loc: cal.Location(), days: map[string]bool{}}
		f := from.In(d.loc)
		for day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, d.loc); day.Before(to); {
			next := day.AddDate(0, 0, 1)
			// Working time inside the range: a day the range only
			// touches at night (the zone's midnight is not UTC's) is out.
			if cal.BusinessSeconds(maxTime(day, from), minTime(next, to)) > 0 {
				d.days[day.Format(time.DateOnly)] = true
			}
			day = next
		}
		cals[team] = d
		return d, nil
	}

	counts := map[alert.Recipient]map[string]int{}
	for _, p := range pages {
		if p.Digest {
			b.Digests++
		}
		team, ok := teamOf[p.Recipient]
		if !ok {
			continue
		}
		if !p.At.Before(to) {
			b.Outside++
			continue
		}
		d, err := daysOf(team)
		if err != nil {
			return nil, err
		}
		day := p.At.In(d.loc).Format(time.DateOnly)
		if !d.days[day] {
			b.OffDays++
			continue
		}
		if counts[p.Recipient] == nil {
			counts[p.Recipient] = map[string]int{}
		}
		counts[p.Recipient][day]++
	}
	for r, team := range teamOf {
		d, err := daysOf(team)
		if err != nil {
			return nil, err
		}
		s := &b.Reps
		if r.Role == alert.RecipientManager {
			s = &b.Managers
		}
		s.Recipients++
		for day := range d.days {
			s.Samples = append(s.Samples, counts[r][day])
		}
	}
	slices.Sort(b.Managers.Samples)
	slices.Sort(b.Reps.Samples)
	return b, nil
}

// Print writes the report for people.
func (b *AlertBudget) Print(w io.Writer) {
	fmt.Fprintf(w, "Alert budget from %s to %s: %d alert transitions through hooks %s\n",
		b.From.UTC().Format(time.DateOnly), b.To.UTC().Format(time.DateOnly), b.Alerts, strings.Join(b.Hooks, ", "))
	share := 0.0
	if len(b.Pages) > 0 {
		share = 100 * float64(b.Digests) / float64(len(b.Pages))
	}
	fmt.Fprintf(w, "pages: %d, of them digests %d (%.0f%%); on days off %d; after the range %d\n",
		len(b.Pages), b.Digests, share, b.OffDays, b.Outside)
	for _, x := range []struct {
		who string
		s   Spread
	}{{"manager", b.Managers}, {"rep", b.Reps}} {
		fmt.Fprintf(w, "\npages per %s per working day (%d %ss, %d %s-days): median %g, p90 %d, max %d\n",
			x.who, x.s.Recipients, x.who, len(x.s.Samples), x.who, x.s.Median(), x.s.Quantile(0.9), x.s.Max())
		if len(x.s.Samples) == 0 {
			continue
		}
		hist := map[int]int{}
		most := 0
		for _, v := range x.s.Samples {
			hist[v]++
			most = max(most, hist[v])
		}
		for v := 0; v <= x.s.Max(); v++ {
			if hist[v] == 0 {
				continue
			}
			bar := strings.Repeat("#", max(1, hist[v]*40/most))
			fmt.Fprintf(w, "  %4d pages  %5d  %s\n", v, hist[v], bar)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
