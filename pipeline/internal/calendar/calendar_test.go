package calendar

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func mustCompile(t testing.TB, c Config) *Calendar {
	t.Helper()
	cal, err := c.Compile("")
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAdd is the golden table of business-time deadlines. The default
// calendar is Mon–Fri 09:00–17:00 UTC; times are RFC 3339 with the zone's
// offset where it matters, so the expected value reads as the wall clock.
func TestAdd(t *testing.T) {
	berlin := Config{TimeZone: "Europe/Berlin"}
	for name, c := range map[string]struct {
		cal  Config
		from string
		d    time.Duration
		want string
	}{
		"in hours: wall time":                            {Config{}, "2025-01-08T10:00:00Z", 30 * time.Minute, "2025-01-08T10:30:00Z"},
		"before opening: the clock starts at 09:00":      {Config{}, "2025-01-08T07:00:00Z", 30 * time.Minute, "2025-01-08T09:30:00Z"},
		"Friday evening: Monday at opening plus the SLA": {Config{}, "2025-01-03T18:30:00Z", 30 * time.Minute, "2025-01-06T09:30:00Z"},
		"Saturday: Monday":                               {Config{}, "2025-01-04T11:00:00Z", 30 * time.Minute, "2025-01-06T09:30:00Z"},
		"at the close: the next opening":                 {Config{}, "2025-01-08T17:00:00Z", 30 * time.Minute, "2025-01-09T09:30:00Z"},
		"spanning the close: the rest the next morning":  {Config{}, "2025-01-08T16:45:00Z", 30 * time.Minute, "2025-01-09T09:15:00Z"},
		"spanning Friday's close: Monday morning":        {Config{}, "2025-01-03T16:50:00Z", 30 * time.Minute, "2025-01-06T09:20:00Z"},
		"used up exactly at the close: due at the close": {Config{}, "2025-01-08T16:30:00Z", 30 * time.Minute, "2025-01-08T17:00:00Z"},
		"holidays are skipped": {Config{Holidays: []string{"2025-12-24", "2025-12-25", "2025-12-26"}},
			"2025-12-23T16:50:00Z", 30 * time.Minute, "2025-12-29T09:20:00Z"},
		"a holiday on the lead's own day": {Config{Holidays: []string{"2025-01-08"}},
			"2025-01-08T10:00:00Z", time.Hour, "2025-01-09T10:00:00Z"},
		"longer than a working day":           {Config{}, "2025-01-06T09:00:00Z", 10 * time.Hour, "2025-01-07T11:00:00Z"},
		"longer than a day, over the weekend": {Config{}, "2025-01-09T12:00:00Z", 20 * time.Hour, "2025-01-13T16:00:00Z"},
		"a whole working week":                {Config{}, "2025-01-06T09:00:00Z", 40 * time.Hour, "2025-01-10T17:00:00Z"},
		"custom hours and weekdays (Sun–Thu 08:00–16:00, Dubai)": {
			Config{TimeZone: "Asia/Dubai", Start: "08:00", End: "16:00", Weekdays: []string{"sun", "mon", "tue", "wed", "thu"}},
			"2025-01-09T15:45:00+04:00", 30 * time.Minute, "2025-01-12T08:15:00+04:00"},
		"New York: Friday 17:00 local is Monday 09:30 EST": {Config{TimeZone: "America/New_York"},
			"2025-01-03T22:00:00Z", 30 * time.Minute, "2025-01-06T09:30:00-05:00"},
		"Tokyo: Monday 09:30 JST is Sunday night UTC": {Config{TimeZone: "Asia/Tokyo"},
			"2025-01-06T00:30:00Z", 30 * time.Minute, "2025-01-06T10:00:00+09:00"},
		"Tokyo: a lead on Sunday afternoon UTC is already Monday morning there": {Config{TimeZone: "Asia/Tokyo"},
			"2025-01-05T23:00:00Z", 30 * time.Minute, "2025-01-06T09:30:00+09:00"},
		"Berlin, spring forward over the weekend: Monday 09:15 CEST": {berlin,
			"2025-03-28T16:45:00+01:00", 30 * time.Minute, "2025-03-31T09:15:00+02:00"},
		"Berlin, fall back over the weekend: Monday 09:15 CET": {berlin,
			"2025-10-24T16:45:00+02:00", 30 * time.Minute, "2025-10-27T09:15:00+01:00"},
		"Berlin, round the clock: the spring-forward night has an hour less on the wall": {
			Config{TimeZone: "Europe/Berlin", Start: "00:00", End: "24:00", Weekdays: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
			"2025-03-29T23:00:00+01:00", 3 * time.Hour, "2025-03-30T03:00:00+02:00"},
		"Berlin, round the clock: the fall-back night has an hour more": {
			Config{TimeZone: "Europe/Berlin", Start: "00:00", End: "24:00", Weekdays: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
			"2025-10-26T01:00:00+02:00", 3 * time.Hour, "2025-10-26T03:00:00+01:00"},
		"no time: from itself": {Config{}, "2025-01-04T11:00:00Z", 0, "2025-01-04T11:00:00Z"},
	} {
		t.Run(name, func(t *testing.T) {
			cal := mustCompile(t, c.cal)
			from, want := at(t, c.from), at(t, c.want)
			got := cal.Add(from, c.d)
			if !got.Equal(want) {
				t.Fatalf("Add(%s, %s) = %s, want %s", c.from, c.d, got.In(cal.Location()), want.In(cal.Location()))
			}
			if c.d > 0 {
				if s := cal.BusinessSeconds(from, got); s != c.d.Seconds() {
					t.Fatalf("BusinessSeconds(from, Add(from, %s)) = %vs", c.d, s)
				}
			}
		})
	}
}

// TestAddInvertsBusinessSeconds: on random calendars, instants and
// durations, Add's result has exactly d of working time behind it, and
// is the earliest such instant (a millisecond earlier has less).
func TestAddInvertsBusinessSeconds(t *testing.T) {
	cals := []Config{
		{},
		{TimeZone: "Europe/Berlin", Holidays: []string{"2025-03-31", "2025-10-27", "2025-12-25"}},
		{TimeZone: "America/New_York", Start: "07:30", End: "19:15", Weekdays: []string{"mon", "wed", "sat"}},
		{TimeZone: "Europe/Berlin", Start: "00:00", End: "24:00", Weekdays: []string{"sun"}},
		{TimeZone: "Australia/Lord_Howe", Start: "01:00", End: "03:00"}, // half-hour DST
	}
	r := rand.New(rand.NewPCG(13, 3))
	base := at(t, "2025-01-01T00:00:00Z")
	for k := range 5000 {
		c := cals[k%len(cals)]
		cal := mustCompile(t, c)
		from := base.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
		d := time.Duration(1+r.Int64N(int64(30*time.Hour/time.Millisecond))) * time.Millisecond
		due := cal.Add(from, d)
		if s := cal.BusinessSeconds(from, due); s != d.Seconds() {
			t.Fatalf("%+v: BusinessSeconds(%s, Add(%s)) = %vs, want %vs", c, from, d, s, d.Seconds())
		}
		if s := cal.BusinessSeconds(from, due.Add(-time.Millisecond)); s >= d.Seconds() {
			t.Fatalf("%+v: Add(%s, %s) = %s is not the earliest", c, from, d, due)
		}
	}
}

func TestBusinessSeconds(t *testing.T) {
	cal := mustCompile(t, Config{TimeZone: "Europe/Berlin"})
	for name, c := range map[string]struct {
		from, to string
		want     float64
	}{
		"within hours":               {"2025-01-08T10:00:00+01:00", "2025-01-08T10:30:00+01:00", 1800},
		"overnight":                  {"2025-01-08T16:30:00+01:00", "2025-01-09T09:30:00+01:00", 3600},
		"over the weekend":           {"2025-01-10T18:00:00+01:00", "2025-01-13T09:15:00+01:00", 900},
		"off hours only":             {"2025-01-11T10:00:00+01:00", "2025-01-12T16:00:00+01:00", 0},
		"over the spring DST change": {"2025-03-28T16:45:00+01:00", "2025-03-31T09:15:00+02:00", 1800},
		"backwards":                  {"2025-01-08T11:00:00+01:00", "2025-01-08T10:00:00+01:00", 0},
	} {
		if got := cal.BusinessSeconds(at(t, c.from), at(t, c.to)); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

func TestCompile(t *testing.T) {
	for name, c := range map[string]struct {
		cal  Config
		org  string
		want error
	}{
		"defaults":         {Config{}, "", nil},
		"the org's zone":   {Config{}, "Europe/Berlin", nil},
		"unknown zone":     {Config{TimeZone: "Mars/Olympus"}, "", ErrTimeZone},
		"unknown org zone": {Config{}, "Mars/Olympus", ErrTimeZone},
		"bad clock":        {Config{Start: "9:5"}, "", ErrClock},
		"past midnight":    {Config{End: "24:01"}, "", ErrClock},
		"end before start": {Config{Start: "18:00"}, "", ErrHours},
		"unknown weekday":  {Config{Weekdays: []string{"mon", "fr"}}, "", ErrWeekday},
		"no working day":   {Config{Weekdays: []string{}}, "", ErrNoWorkday},
		"bad holiday":      {Config{Holidays: []string{"25-12-2025"}}, "", ErrHoliday},
	} {
		_, err := c.cal.Compile(c.org)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	cal, err := Config{}.Compile("Europe/Berlin")
	if err != nil || cal.Location().String() != "Europe/Berlin" {
		t.Fatalf("the org's zone is not used: %v %v", cal, err)
	}
}

func TestPick(t *testing.T) {
	cals := map[string]Config{"*": {Start: "08:00"}, "team-01": {Start: "10:00"}}
	if c, ok := Pick(cals, "team-01"); !ok || c.Start != "10:00" {
		t.Errorf("own calendar: %+v %v", c, ok)
	}
	if c, ok := Pick(cals, "team-02"); !ok || c.Start != "08:00" {
		t.Errorf("default calendar: %+v %v", c, ok)
	}
	if _, ok := Pick(map[string]Config{"team-01": {}}, "team-02"); ok {
		t.Error("a team without a calendar and no default has one")
	}
}
