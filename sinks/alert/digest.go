package alert

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// Digest is one notification of an alert group: the webhook body of a hook
// with group_by, and what the Slack and PagerDuty hooks render.
type Digest struct {
	Kind        string            `json:"kind"`      // "digest"
	GroupKey    string            `json:"group_key"` // stable per group (hook-independent)
	GroupLabels map[string]string `json:"group_labels"`
	Recipient   *Recipient        `json:"recipient,omitempty"`
	// Title summarises the group, e.g. "Team team-03: 4 leads past SLA".
	Title    string    `json:"title"`
	Firing   []Message `json:"firing"`
	Resolved []Message `json:"resolved"` // only with send_resolved
	// Reason is "initial" (first notification, after group_wait), "update"
	// (alerts fired or resolved since the last one, after group_interval)
	// or "repeat" (unchanged, after repeat_interval).
	Reason string    `json:"reason"`
	At     time.Time `json:"at"` // wall time of the flush
}

// Digest reasons.
const (
	reasonInitial = "initial"
	reasonUpdate  = "update"
	reasonRepeat  = "repeat"
)

// grouper is one hook's aggregation groups, owned by that hook's runner
// goroutine (no locks). It follows Alertmanager's dispatcher and dedup
// stage (https://prometheus.io/docs/alerting/latest/configuration/#route:
// group_wait, group_interval, repeat_interval; notify.DedupStage in
// prometheus/alertmanager notify/notify.go): a new group flushes after
// group_wait, then is evaluated every group_interval, and a flush sends
// only if alerts fired that the last notification did not carry, alerts
// resolved (send_resolved), every alert resolved, or repeat_interval passed.
//
// The deliveries (consumed records) in a group are finished — and so their
// offsets committed — only when a flush delivered or parked a notification
// carrying them, or decided that none is needed: a crash before that
// redelivers them from Kafka.
type grouper struct {
	cfg    *HookConfig
	groups map[string]*aggGroup
	brk    schemas.Severity
	hasBrk bool

	held, nGroups           prometheus.Gauge
	sent                    map[string]prometheus.Counter
	quietHeld, breakThrough prometheus.Counter
	size                    prometheus.Observer
	finish                  func(delivery)
}

type aggGroup struct {
	key    string
	labels map[string]string
	rcpt   Recipient
	team   string
	alerts map[string]*entry
	next   time.Time // next evaluation
	quiet  bool      // next was moved to the end of quiet hours

	// The last notification (Alertmanager's notification log entry).
	notified     bool
	sentFiring   map[string]bool
	sentResolved map[string]bool
	lastSent     time.Time
}

type entry struct {
	msg   Message
	added time.Time // wall time the alert (re)entered the group
	dls   []delivery
}

// flush is a notification in the making: sent, it updates its group.
type flush struct {
	ag       *aggGroup
	dls      []delivery
	d        *Digest
	firing   map[string]bool
	resolved map[string]uint64 // id → version carried
}

func newGrouper(c *HookConfig, m *metrics, finish func(delivery)) *grouper {
	g := &grouper{
		cfg: c, groups: map[string]*aggGroup{}, finish: finish,
		held: m.held.WithLabelValues(c.Name), nGroups: m.groups.WithLabelValues(c.Name),
		quietHeld: m.quietHeld.WithLabelValues(c.Name), breakThrough: m.breakThrough.WithLabelValues(c.Name),
		size: m.digestSize.WithLabelValues(c.Name), sent: map[string]prometheus.Counter{},
	}
	for _, r := range []string{reasonInitial, reasonUpdate, reasonRepeat} {
		g.sent[r] = m.digests.WithLabelValues(c.Name, r)
	}
	if c.BreakThrough != "" {
		g.brk, g.hasBrk = parseSeverity(c.BreakThrough), true
	}
	return g
}

// key returns dl's group key and labels. The recipient is always part of
// the key: a digest goes to one recipient.
func (g *grouper) key(dl delivery) (string, map[string]string) {
	m := &dl.j.msg
	labels := map[string]string{}
	var b strings.Builder
	if dl.rcpt.Role != "" {
		labels["recipient"] = dl.rcpt.String()
	}
	for _, l := range g.cfg.GroupBy {
		var v string
		switch l {
		case "recipient":
			v = dl.rcpt.String()
		case "rule":
			v = m.Rule
		case "team":
			v = m.TeamID
		case "severity":
			v = m.Severity
		case "rep":
			v = m.RepID
		case "manager":
			v = m.ManagerID
		case "alert_id":
			v = m.ID
		}
		labels[l] = v
	}
	for _, l := range groupLabels {
		if v, ok := labels[l]; ok {
			fmt.Fprintf(&b, "%s=%q,", l, v)
		}
	}
	return b.String(), labels
}

// insert puts a consumed delivery into its group.
func (g *grouper) insert(dl delivery, now time.Time) {
	key, labels := g.key(dl)
	ag := g.groups[key]
	if ag == nil {
		ag = &aggGroup{key: key, labels: labels, rcpt: dl.rcpt, team: dl.j.msg.TeamID, alerts: map[string]*entry{}, next: now.Add(g.cfg.GroupWait)}
		g.groups[key] = ag
		g.nGroups.Inc()
	}
	m := &dl.j.msg
	e := ag.alerts[m.ID]
	switch {
	case e == nil:
		e = &entry{msg: *m, added: now}
		ag.alerts[m.ID] = e
	case m.Version >= e.msg.Version: // a parked older transition never overwrites a newer one
		if e.msg.Resolved() && !m.Resolved() {
			e.added = now
		}
		e.msg = *m
	}
	e.dls = append(e.dls, dl)
	dl.j.held.Add(1)
	g.held.Inc()
	if ag.quiet && g.breaks(m) && !ag.sentFiring[m.ID] {
		ag.next = now // wake the recipient now
	}
}

func (g *grouper) breaks(m *Message) bool {
	return g.hasBrk && !m.Resolved() && m.Sev() >= g.brk
}

// due returns the next notification to send, or how long until a group is
// due. Flushes that need no notification are completed here.
func (g *grouper) due(now time.Time) (*flush, time.Duration) {
	for {
		var ag *aggGroup
		wait := time.Hour
		for _, x := range g.groups {
			if d := x.next.Sub(now); d > 0 {
				wait = min(wait, d)
			} else if ag == nil || x.next.Before(ag.next) {
				ag = x
			}
		}
		if ag == nil {
			return nil, wait
		}
		if f := g.flush(ag, now); f != nil {
			return f, 0
		}
	}
}

// flush evaluates a due group.
func (g *grouper) flush(ag *aggGroup, now time.Time) *flush {
	// A firing alert that never resolves (discount_beyond_authority is a
	// fact) leaves its group after resolve_after, as it would leave
	// Alertmanager at its endsAt; otherwise it would repeat forever. Only
	// once a notification carried it: one held longer than that (a
	// Friday evening's alert in weekend quiet hours) would otherwise
	// reach nobody.
	for id, e := range ag.alerts {
		if !e.msg.Resolved() && ag.sentFiring[id] && now.Sub(e.added) >= g.cfg.ResolveAfter {
			g.done(e)
			delete(ag.alerts, id)
		}
	}
	if len(ag.alerts) == 0 {
		g.drop(ag)
		return nil
	}
	if g.quietAt(ag, now) {
		brk := false
		for _, e := range ag.alerts {
			if len(e.dls) > 0 && g.breaks(&e.msg) && !ag.sentFiring[e.msg.ID] {
				brk = true
			}
		}
		if !brk {
			ag.next, ag.quiet = g.quietEnd(ag, now), true
			g.quietHeld.Inc()
			return nil
		}
		g.breakThrough.Inc()
	}
	ag.quiet = false
	ag.next = now.Add(g.cfg.GroupInterval)

	firing, resolved := map[string]bool{}, map[string]bool{}
	for id, e := range ag.alerts {
		if e.msg.Resolved() {
			resolved[id] = true
		} else {
			firing[id] = true
		}
	}
	reason := g.needsUpdate(ag, firing, resolved, now)
	send := reason != ""
	if send && len(firing) == 0 && !*g.cfg.SendResolved {
		send = false // Alertmanager logs it as notified but sends nothing
		g.sentTo(ag, firing, resolved, now)
	}
	if !send {
		for id, e := range ag.alerts {
			g.done(e)
			if e.msg.Resolved() {
				delete(ag.alerts, id)
			}
		}
		if len(ag.alerts) == 0 {
			g.drop(ag)
		}
		return nil
	}
	f := &flush{ag: ag, firing: firing, resolved: map[string]uint64{}}
	d := &Digest{Kind: "digest", GroupKey: groupID(ag.key), GroupLabels: ag.labels, Reason: reason, At: now, Firing: []Message{}, Resolved: []Message{}}
	if ag.rcpt.Role != "" {
		r := ag.rcpt
		d.Recipient = &r
	}
	for id, e := range ag.alerts {
		f.dls = append(f.dls, e.dls...)
		g.release(e)
		if e.msg.Resolved() {
			f.resolved[id] = e.msg.Version
			if *g.cfg.SendResolved {
				d.Resolved = append(d.Resolved, e.msg)
			}
		} else {
			d.Firing = append(d.Firing, e.msg)
		}
	}
	byTime := func(a, b Message) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(d.Firing, byTime)
	slices.SortFunc(d.Resolved, byTime)
	d.Title = title(ag, d)
	f.d = d
	return f
}

// needsUpdate is Alertmanager's DedupStage.needsUpdate on this group's
// last notification; it returns the reason to send or "".
func (g *grouper) needsUpdate(ag *aggGroup, firing, resolved map[string]bool, now time.Time) string {
	// One deviation from Alertmanager: with send_resolved, alerts that
	// fired and resolved between two flushes are sent even when nothing
	// fires any more. Alertmanager drops them (the receiver never heard
	// of them), but a lead answered a minute after its SLA is still a
	// breach its rep must hear of (issue 13: every breach reaches
	// someone); without it, a group_wait longer than that minute would
	// hide it.
	unseen := *g.cfg.SendResolved && !subset(resolved, ag.sentResolved)
	if !ag.notified {
		if len(firing) > 0 || unseen {
			return reasonInitial
		}
		return ""
	}
	if !subset(firing, ag.sentFiring) {
		return reasonUpdate
	}
	if len(firing) == 0 {
		if len(ag.sentFiring) > 0 || unseen {
			return reasonUpdate // all resolved, or new ones fired and resolved
		}
		return ""
	}
	if *g.cfg.SendResolved && !subset(resolved, ag.sentResolved) {
		return reasonUpdate
	}
	// Alertmanager compares strictly (entry.Timestamp.Before(now - repeat)),
	// and evaluates only at group_interval ticks: an unchanged group is
	// re-sent at the first tick after repeat_interval.
	if ag.lastSent.Before(now.Add(-g.cfg.RepeatInterval)) {
		return reasonRepeat
	}
	return ""
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// delivered records that f's notification reached the hook: it becomes
// the group's last notification and the resolved alerts it carried leave.
func (g *grouper) delivered(f *flush, now time.Time) {
	ag := f.ag
	g.sent[f.d.Reason].Inc()
	g.size.Observe(float64(len(f.d.Firing) + len(f.d.Resolved)))
	res := map[string]bool{}
	for id := range f.resolved {
		res[id] = true
	}
	g.sentTo(ag, f.firing, res, now)
	for id, v := range f.resolved {
		if e := ag.alerts[id]; e != nil && e.msg.Version == v && len(e.dls) == 0 {
			delete(ag.alerts, id)
		}
	}
	if len(ag.alerts) == 0 && g.groups[ag.key] == ag {
		g.drop(ag)
	}
}

func (g *grouper) sentTo(ag *aggGroup, firing, resolved map[string]bool, now time.Time) {
	ag.notified, ag.sentFiring, ag.sentResolved, ag.lastSent = true, firing, resolved, now
}

func (g *grouper) done(e *entry) {
	dls := e.dls
	g.release(e)
	for _, dl := range dls {
		g.finish(dl)
	}
}

// release takes e's deliveries out of the group (into a flush, or done).
func (g *grouper) release(e *entry) {
	g.held.Sub(float64(len(e.dls)))
	for _, dl := range e.dls {
		dl.j.held.Add(-1)
	}
	e.dls = nil
}

func (g *grouper) drop(ag *aggGroup) {
	delete(g.groups, ag.key)
	g.nGroups.Dec()
}

// groupID is a short stable id of a group key (PagerDuty dedup_key,
// webhook group_key).
func groupID(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:16])
}

// quietAt reports whether one of the hook's quiet periods covering ag
// holds at t.
func (g *grouper) quietAt(ag *aggGroup, t time.Time) bool {
	for k := range g.cfg.QuietHours {
		q := &g.cfg.QuietHours[k]
		if q.covers(ag) && q.quiet(t) {
			return true
		}
	}
	return false
}

// quietEnd is the first minute after t outside every quiet period of ag
// (at most 8 days on).
func (g *grouper) quietEnd(ag *aggGroup, t time.Time) time.Time {
	u := t.Truncate(time.Minute)
	for i := 0; i < 8*24*60 && (u.Before(t) || g.quietAt(ag, u)); i++ {
		u = u.Add(time.Minute)
	}
	return u
}

func (q *QuietHours) covers(ag *aggGroup) bool {
	return (len(q.Teams) == 0 || contains(q.Teams, ag.team)) && (len(q.Recipients) == 0 || contains(q.Recipients, ag.rcpt.ID))
}

func (q *QuietHours) quiet(t time.Time) bool {
	lt := t.In(q.loc)
	if q.Weekends && (lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday) {
		return true
	}
	if q.from < 0 || q.from == q.to {
		return false
	}
	m := lt.Hour()*60 + lt.Minute()
	if q.from < q.to {
		return m >= q.from && m < q.to
	}
	return m >= q.from || m < q.to
}

// ruleNouns name what a firing alert of a rule means to its reader.
var ruleNouns = map[string]string{
	"lead_response_sla":           "leads past SLA",
	"lead_response_sla_escalated": "leads past escalation",
	"approval_backlog":            "approvals waiting",
	"discount_beyond_authority":   "discounts beyond authority",
	"discount_without_approval":   "discounts without approval",
	"approval_beyond_authority":   "approvals beyond authority",
	"activity_drop":               "activity drops",
	"discount_outlier":            "discount outliers",
	"response_time_outlier":       "response-time outliers",
}

// title is e.g. "Team team-03: 4 leads past SLA, 1 resolved".
func title(ag *aggGroup, d *Digest) string {
	var who string
	switch {
	case ag.labels["team"] != "":
		who = "Team " + ag.labels["team"]
	case ag.rcpt.Role != "":
		who = strings.ToUpper(ag.rcpt.Role[:1]) + ag.rcpt.Role[1:] + " " + ag.rcpt.ID
	default:
		who = "SalesPulse"
	}
	counts := map[string]int{}
	for _, m := range d.Firing {
		counts[m.Rule]++
	}
	rules := make([]string, 0, len(counts))
	for r := range counts {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	parts := []string{}
	for _, r := range rules {
		n := ruleNouns[r]
		if n == "" {
			n = r + " alerts"
		}
		parts = append(parts, fmt.Sprintf("%d %s", counts[r], n))
	}
	if len(d.Resolved) > 0 {
		parts = append(parts, fmt.Sprintf("%d resolved", len(d.Resolved)))
	}
	if len(parts) == 0 {
		parts = append(parts, "all resolved")
	}
	return who + ": " + strings.Join(parts, ", ")
}
