package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// idPattern is what a team, rep, lead or alert id may look like in a
// request. Anything else is refused before any query runs.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// maxRangeDays bounds from..to: a year of days per query.
const maxRangeDays = 366

// defaultRangeDays is the range without from and to: four weeks ending
// with the newest day in the data.
const defaultRangeDays = 28

// filter is the common query parameters, checked.
type filter struct {
	from, to  time.Time // days, UTC midnight, inclusive
	team, rep string    // "" = all
}

// params renders f as query parameters: from, to (Date), team, rep
// (String, "" = all).
func (f filter) params() map[string]string {
	return map[string]string{
		"from": f.from.Format(time.DateOnly), "to": f.to.Format(time.DateOnly),
		"team": f.team, "rep": f.rep,
	}
}

// parseFilter reads from, to, team and rep. A missing bound is filled
// from the newest day in the data (lastDay, called only then).
func (s *Server) parseFilter(r *http.Request) (filter, error) {
	q := r.URL.Query()
	var f filter
	var err error
	if f.team, err = optionalID(q, "team"); err != nil {
		return f, err
	}
	if f.rep, err = optionalID(q, "rep"); err != nil {
		return f, err
	}
	from, hasFrom, err := day(q, "from")
	if err != nil {
		return f, err
	}
	to, hasTo, err := day(q, "to")
	if err != nil {
		return f, err
	}
	switch {
	case hasFrom && hasTo:
	case hasTo:
		from = to.AddDate(0, 0, 1-defaultRangeDays)
	case hasFrom:
		to = from.AddDate(0, 0, defaultRangeDays-1)
	default:
		if to, err = s.lastDay(r.Context()); err != nil {
			return f, err
		}
		from = to.AddDate(0, 0, 1-defaultRangeDays)
	}
	if to.Before(from) {
		return f, badf("from (%s) is after to (%s)", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	if days := int(to.Sub(from).Hours()/24) + 1; days > maxRangeDays {
		return f, badf("from..to spans %d days; at most %d", days, maxRangeDays)
	}
	f.from, f.to = from, to
	return f, nil
}

// day parses a YYYY-MM-DD parameter.
func day(q url.Values, name string) (time.Time, bool, error) {
	if !q.Has(name) {
		return time.Time{}, false, nil
	}
	v := q.Get(name)
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, false, badf("%s: %q is not a date (YYYY-MM-DD)", name, truncate(v))
	}
	if t.Year() < 2000 || t.Year() > 2199 {
		return time.Time{}, false, badf("%s: %s is out of range (years 2000 to 2199)", name, v)
	}
	return t, true, nil
}

// optionalID reads an id parameter; absent or empty means all.
func optionalID(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return "", nil
	}
	if !idPattern.MatchString(v) {
		return "", badf("%s: %q is not an id (1 to 128 of A-Z a-z 0-9 . _ : -)", name, truncate(v))
	}
	return v, nil
}

// pathID reads an id path segment.
func pathID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if !idPattern.MatchString(v) {
		return "", badf("%s: %q is not an id (1 to 128 of A-Z a-z 0-9 . _ : -)", name, truncate(v))
	}
	return v, nil
}

// intParam reads an integer parameter in [lo, hi], def when absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n < lo || n > hi {
		return 0, badf("%s: %q is not an integer from %d to %d", name, truncate(q.Get(name)), lo, hi)
	}
	return n, nil
}

// truncate keeps a reason short when the parameter is huge.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// lastDay is the newest day with activity, else today (UTC) by the clock.
func (s *Server) lastDay(ctx context.Context) (time.Time, error) {
	var rows []struct {
		N    uint64 `ch:"n"`
		Last string `ch:"last"`
	}
	if err := s.deps.Store.Select(ctx, &rows, s.q.lastDay, nil); err != nil {
		return time.Time{}, err
	}
	if len(rows) == 0 || rows[0].N == 0 {
		now := s.deps.Now().UTC()
		return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	return time.Parse(time.DateOnly, rows[0].Last)
}
