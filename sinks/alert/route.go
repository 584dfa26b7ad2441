package alert

import (
	"strings"

	"github.com/salespulse/salespulse/schemas"
)

// Recipient is whom a delivery is for: a role and the alert's id for it
// (rep id, manager id, team id). The zero Recipient is nobody in
// particular: the hook's own channel.
type Recipient struct {
	Role string `json:"role"`
	ID   string `json:"id"`
}

// String is "role:id", or "" for the zero Recipient (park header value).
func (r Recipient) String() string {
	if r.Role == "" {
		return ""
	}
	return r.Role + ":" + r.ID
}

func parseRecipient(s string) Recipient {
	role, id, _ := strings.Cut(s, ":")
	return Recipient{Role: role, ID: id}
}

// recipients returns whom hook c delivers m to: one entry per distinct
// recipient of the matching routes, none if the hook does not take m.
func recipients(c *HookConfig, m *Message) []Recipient {
	if !routes(c, m) {
		return nil
	}
	var out []Recipient
	for k := range c.Routes {
		r := &c.Routes[k]
		if !matches(r.MinSeverity, r.Teams, r.Rules, m) {
			continue
		}
		rc := Recipient{Role: r.Recipient}
		switch r.Recipient {
		case RecipientRep:
			rc.ID = m.RepID
		case RecipientManager:
			rc.ID = m.ManagerID
		case RecipientTeam:
			rc.ID = m.TeamID
		}
		if rc.Role != "" && rc.ID == "" {
			continue // the alert names nobody in this role
		}
		if !containsRecipient(out, rc) {
			out = append(out, rc)
		}
	}
	return out
}

func containsRecipient(l []Recipient, r Recipient) bool {
	for _, x := range l {
		if x == r {
			return true
		}
	}
	return false
}

// routes reports whether the hook's own filters take m (the routes
// filter further).
func routes(c *HookConfig, m *Message) bool {
	if m.State == schemas.AlertPending.String() && !c.Pending {
		return false
	}
	return matches(c.MinSeverity, c.Teams, c.Rules, m)
}

func matches(minSeverity string, teams, rules []string, m *Message) bool {
	if m.Sev() < parseSeverity(minSeverity) {
		return false
	}
	if len(teams) > 0 && !contains(teams, m.TeamID) {
		return false
	}
	if len(rules) > 0 && !contains(rules, m.Rule) {
		return false
	}
	return true
}

func contains(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}
