package alert

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Page is one notification a hook would send: one alert transition to a
// hook without group_by, or one digest.
type Page struct {
	Hook      string
	Recipient Recipient // zero: the hook's own channel
	// Team is the team of the page's alerts (of the digest group's first).
	Team string
	At   time.Time // virtual wall time of the delivery
	// Firing and Resolved are the alert ids the page carries.
	Firing, Resolved []string
	// Severity is the highest severity among the firing alerts, else
	// among the resolved ones.
	Severity string
	Digest   bool
	Reason   string // digests: initial, update, repeat
}

// Simulate replays msgs through the Dispatcher's routing (recipients per
// hook route) and digest grouping (the same grouper, quiet hours and
// break-through included) in virtual time, and returns every notification
// the hooks of cfg would send, in time order per hook.
//
// The clock is each message's transition time (Message.Version: the later
// of at and ends_at), which is about when a live pipeline delivers it:
// deadlines fire within seconds of their wall-clock time on a caught-up
// stream (docs/leads.md). Delivery itself is assumed to succeed at once —
// no retries, parking, rate limits or restarts, which only delay pages or
// (after a restart) repeat a digest. Hook endpoints and secrets are not
// needed: nothing is sent. An alertmanager hook is counted as one page per
// alert transition, an upper bound: Alertmanager groups itself.
func Simulate(cfg Config, msgs []Message) ([]Page, error) {
	cfg.Hooks = slices.Clone(cfg.Hooks)
	for k := range cfg.Hooks {
		h := &cfg.Hooks[k]
		// Placeholders so Validate judges only routing and grouping.
		if h.URL == "" || h.Type == HookPagerDuty {
			h.URL = "http://simulated.invalid/"
		}
		if h.Secret == "" {
			h.Secret = "simulated"
		}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ordered := slices.Clone(msgs)
	slices.SortStableFunc(ordered, func(a, b Message) int {
		return cmp.Or(cmp.Compare(a.Version>>2, b.Version>>2), cmp.Compare(a.Version&3, b.Version&3))
	})

	m := newMetrics(nil)
	type simHook struct {
		cfg   *HookConfig
		g     *grouper
		clock time.Time
	}
	hooks := make([]*simHook, len(cfg.Hooks))
	for k := range cfg.Hooks {
		h := &cfg.Hooks[k]
		s := &simHook{cfg: h}
		if len(h.GroupBy) > 0 {
			s.g = newGrouper(h, m, func(delivery) {})
		}
		hooks[k] = s
	}
	var pages []Page
	// advance runs s's groups up to until, flushing each at its own
	// instant, as the runner's timer would.
	advance := func(s *simHook, until time.Time) {
		if s.g == nil {
			return
		}
		if s.clock.IsZero() {
			s.clock = until
		}
		for {
			f, wait := s.g.due(s.clock)
			if f != nil {
				pages = append(pages, digestPage(s.cfg.Name, f.d, f.ag.team))
				s.g.delivered(f, s.clock)
				continue
			}
			next := s.clock.Add(wait)
			if len(s.g.groups) == 0 || next.After(until) {
				s.clock = until
				return
			}
			s.clock = next
		}
	}
	for k := range ordered {
		msg := &ordered[k]
		if msg.ID == "" || msg.Rule == "" || msg.State == "" {
			return nil, fmt.Errorf("simulate: message %d: id, rule and state are required", k)
		}
		now := time.UnixMilli(int64(msg.Version >> 2)).UTC()
		if msg.Version == 0 {
			now = msg.At
		}
		j := &job{msg: *msg}
		for _, s := range hooks {
			advance(s, now)
			for _, rc := range recipients(s.cfg, msg) {
				if s.g != nil {
					s.g.insert(delivery{j: j, rcpt: rc}, now)
					continue
				}
				p := Page{Hook: s.cfg.Name, Recipient: rc, Team: msg.TeamID, At: now, Severity: msg.Severity}
				if msg.Resolved() {
					p.Resolved = []string{msg.ID}
				} else {
					p.Firing = []string{msg.ID}
				}
				pages = append(pages, p)
			}
		}
	}
	// Let every group run out: held alerts flush, repeats go on until
	// their alerts resolve or reach resolve_after.
	for _, s := range hooks {
		if s.g != nil {
			advance(s, s.clock.Add(s.cfg.ResolveAfter+s.cfg.RepeatInterval+s.cfg.GroupInterval+s.cfg.GroupWait+8*24*time.Hour))
		}
	}
	slices.SortStableFunc(pages, func(a, b Page) int { return a.At.Compare(b.At) })
	return pages, nil
}

func digestPage(hook string, d *Digest, team string) Page {
	p := Page{Hook: hook, Team: team, At: d.At, Digest: true, Reason: d.Reason}
	if d.Recipient != nil {
		p.Recipient = *d.Recipient
	}
	sev := func(ms []Message) string {
		best := ""
		for k := range ms {
			if best == "" || ms[k].Sev() > parseSeverity(best) {
				best = ms[k].Severity
			}
		}
		return best
	}
	for _, m := range d.Firing {
		p.Firing = append(p.Firing, m.ID)
	}
	for _, m := range d.Resolved {
		p.Resolved = append(p.Resolved, m.ID)
	}
	if p.Severity = sev(d.Firing); p.Severity == "" {
		p.Severity = sev(d.Resolved)
	}
	return p
}
