package gen

import "slices"

// Hours are a team's working hours as the generator schedules its reps:
// its site's Open to Close on the WorkDays, in the team's time zone.
type Hours struct {
	TimeZone string
	Open     string // "HH:MM" local
	Close    string
	WorkDays []string // "mon", "tue", ...
}

// TeamHours returns the working hours of each team of the org, by team
// id: the business-hours calendars that match the generated activity
// (salespulse dev configures them as window.calendars).
func (g *Generator) TeamHours() map[string]Hours {
	out := make(map[string]Hours, len(g.org.Teams))
	for k, t := range g.org.Teams {
		s := g.cfg.Sites[k%len(g.cfg.Sites)] // New assigns sites round-robin
		out[t.ID] = Hours{TimeZone: s.TimeZone, Open: s.Open, Close: s.Close, WorkDays: slices.Clone(g.cfg.WorkDays)}
	}
	return out
}
