package schemas

import (
	"time"
)

// Forecast categories: the Stage of a forecast.submitted (Salesforce's
// standard forecast categories Commit, Best Case and Pipeline; Omitted and
// Closed are no forecast anyone submits).
const (
	ForecastCommit   = "commit"
	ForecastBestCase = "best_case"
	ForecastPipeline = "pipeline"
)

// IsForecastCategory reports whether s is one of the forecast categories.
func IsForecastCategory(s string) bool {
	return s == ForecastCommit || s == ForecastBestCase || s == ForecastPipeline
}

// PeriodKind is the length of a forecast period.
type PeriodKind uint8

// The period kinds. Their String values are the period_kind column's.
const (
	PeriodNone PeriodKind = iota
	PeriodMonth
	PeriodQuarter
)

// String is "month", "quarter" or "".
func (k PeriodKind) String() string {
	switch k {
	case PeriodMonth:
		return "month"
	case PeriodQuarter:
		return "quarter"
	}
	return ""
}

// Period is a calendar month or quarter, without a zone: where it starts
// depends on the team's time zone (Start).
type Period struct {
	Kind  PeriodKind
	Year  int
	Month time.Month // the first month of the period
}

// ParsePeriod reads "YYYY-MM" (a month, 01–12) or "YYYY-Qn" (a quarter,
// n 1–4, upper-case Q). Years are 2000–2099, like event times.
func ParsePeriod(s string) (Period, bool) {
	if len(s) != 7 || s[4] != '-' {
		return Period{}, false
	}
	y := 0
	for k := 0; k < 4; k++ {
		c := s[k]
		if c < '0' || c > '9' {
			return Period{}, false
		}
		y = y*10 + int(c-'0')
	}
	if y < 2000 || y > 2099 {
		return Period{}, false
	}
	if s[5] == 'Q' {
		q := s[6]
		if q < '1' || q > '4' {
			return Period{}, false
		}
		return Period{Kind: PeriodQuarter, Year: y, Month: time.Month(3*int(q-'1') + 1)}, true
	}
	if s[5] < '0' || s[5] > '1' || s[6] < '0' || s[6] > '9' {
		return Period{}, false
	}
	m := int(s[5]-'0')*10 + int(s[6]-'0')
	if m < 1 || m > 12 {
		return Period{}, false
	}
	return Period{Kind: PeriodMonth, Year: y, Month: time.Month(m)}, true
}

// String is the canonical form ParsePeriod reads.
func (p Period) String() string {
	b := make([]byte, 0, 7)
	b = append(b, byte('0'+p.Year/1000), byte('0'+p.Year/100%10), byte('0'+p.Year/10%10), byte('0'+p.Year%10), '-')
	if p.Kind == PeriodQuarter {
		return string(append(b, 'Q', byte('1'+(int(p.Month)-1)/3)))
	}
	return string(append(b, byte('0'+int(p.Month)/10), byte('0'+int(p.Month)%10)))
}

// FirstDay is the period's first date, as midnight UTC (a ClickHouse Date,
// like the KBI days): the date ClickHouse's toStartOfMonth or
// toStartOfQuarter gives for any local day of the period.
func (p Period) FirstDay() time.Time {
	return time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, time.UTC)
}

// Next is the following period of the same kind.
func (p Period) Next() Period {
	n := 1
	if p.Kind == PeriodQuarter {
		n = 3
	}
	t := time.Date(p.Year, p.Month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	return Period{Kind: p.Kind, Year: t.Year(), Month: t.Month()}
}

// PeriodOf is the period of kind k that contains the local date of t in loc.
func PeriodOf(k PeriodKind, t time.Time, loc *time.Location) Period {
	y, m, _ := t.In(loc).Date()
	if k == PeriodQuarter {
		m = (m-1)/3*3 + 1
	}
	return Period{Kind: k, Year: y, Month: m}
}

// Start is the instant the period begins in loc: the first instant whose
// local date is the period's first day. That is local midnight, except
// where a daylight-saving change skips midnight (the day then begins at
// the first local time after the gap, e.g. 01:00) or repeats it (the
// earlier midnight). A forecast's snapshot is the last submission strictly
// before Start.
func (p Period) Start(loc *time.Location) time.Time {
	first := p.FirstDay()
	c := time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, loc)
	before := func(t time.Time) bool { // local date of t before the first day
		y, m, d := t.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Before(first)
	}
	if !before(c) && before(c.Add(-time.Second)) {
		return c.UTC()
	}
	// A change of offset at or around midnight: search the boundary, to
	// the second (zone offsets are whole seconds), between two instants
	// a day away from it on each side.
	lo, hi := c.Add(-48*time.Hour).Unix(), c.Add(48*time.Hour).Unix()
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if before(time.Unix(mid, 0)) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return time.Unix(hi, 0).UTC()
}
