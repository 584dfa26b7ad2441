package schemas

import (
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	f := func(s string, want Period, ok bool) {
		t.Helper()
		got, gotOK := ParsePeriod(s)
		if gotOK != ok || got != want {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want %+v, %v", s, got, gotOK, want, ok)
		}
		if ok && got.String() != s {
			t.Errorf("%q: String() = %q", s, got.String())
		}
	}
	f("2026-03", Period{PeriodMonth, 2026, time.March}, true)
	f("2026-12", Period{PeriodMonth, 2026, time.December}, true)
	f("2026-Q1", Period{PeriodQuarter, 2026, time.January}, true)
	f("2026-Q4", Period{PeriodQuarter, 2026, time.October}, true)
	for _, bad := range []string{"", "2026-00", "2026-13", "2026-Q0", "2026-Q5", "2026-q1", "1999-01", "2100-01", "2026-3", "2026/03", "26-Q1x", "2026-1a"} {
		f(bad, Period{}, false)
	}
	if n := (Period{PeriodQuarter, 2026, time.October}).Next(); n.String() != "2027-Q1" {
		t.Errorf("after 2026-Q4: %s", n)
	}
	if n := (Period{PeriodMonth, 2026, time.December}).Next(); n.String() != "2027-01" {
		t.Errorf("after 2026-12: %s", n)
	}
}

// TestPeriodStart: a period begins at the first instant of its first local
// day in the team's zone, across daylight-saving changes, including zones
// where the change skips midnight itself (Go's time.Date then even lands
// on the previous day).
func TestPeriodStart(t *testing.T) {
	f := func(zone, period, want string) {
		t.Helper()
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Skipf("zone %s: %v", zone, err)
		}
		p, ok := ParsePeriod(period)
		if !ok {
			t.Fatal(period)
		}
		if got := p.Start(loc).Format(time.RFC3339); got != want {
			t.Errorf("%s in %s starts %s, want %s", period, zone, got, want)
		}
	}
	f("UTC", "2026-Q1", "2026-01-01T00:00:00Z")
	f("Europe/Berlin", "2026-Q1", "2025-12-31T23:00:00Z") // CET, +01:00
	f("Europe/Berlin", "2026-04", "2026-03-31T22:00:00Z") // CEST since 29 March, +02:00
	f("Europe/Berlin", "2026-11", "2026-10-31T23:00:00Z") // CET again since 25 October
	f("Europe/London", "2026-Q2", "2026-03-31T23:00:00Z") // BST
	f("America/New_York", "2026-Q2", "2026-04-01T04:00:00Z")
	f("America/New_York", "2026-Q4", "2026-10-01T04:00:00Z")
	f("America/Chicago", "2027-Q1", "2027-01-01T06:00:00Z")
	f("Australia/Sydney", "2026-Q4", "2026-09-30T14:00:00Z") // AEST: summer time starts 4 October
	f("Australia/Sydney", "2027-Q1", "2026-12-31T13:00:00Z") // AEDT
	f("Asia/Kolkata", "2026-07", "2026-06-30T18:30:00Z")
	// Midnight skipped: 1 April 2012 began at 01:00 CDT in Havana.
	f("America/Havana", "2012-04", "2012-04-01T05:00:00Z")
	// Midnight skipped in Cairo on 1 August 2014 (EET → EEST at 00:00).
	f("Africa/Cairo", "2014-08", "2014-07-31T22:00:00Z") // 01:00 EEST
}

// TestPeriodOf: the period of an instant is that of its local date, so
// the evening of 31 March in New York is Q1 while it is already Q2 in UTC.
func TestPeriodOf(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	at := time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)
	if p := PeriodOf(PeriodQuarter, at, ny); p.String() != "2026-Q1" {
		t.Errorf("in New York: %s", p)
	}
	if p := PeriodOf(PeriodQuarter, at, time.UTC); p.String() != "2026-Q2" {
		t.Errorf("in UTC: %s", p)
	}
	if p := PeriodOf(PeriodMonth, at, ny); p.String() != "2026-03" {
		t.Errorf("month in New York: %s", p)
	}
	// Every instant of a period lies in [Start, Next().Start).
	for _, z := range []string{"Europe/Berlin", "America/Havana", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(z)
		if err != nil {
			continue
		}
		for h := 0; h < 24*800; h += 7 {
			at := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
			for _, k := range []PeriodKind{PeriodMonth, PeriodQuarter} {
				p := PeriodOf(k, at, loc)
				if at.Before(p.Start(loc)) || !at.Before(p.Next().Start(loc)) {
					t.Fatalf("%s %s: %s not in [%s, %s)", z, at, p, p.Start(loc), p.Next().Start(loc))
				}
			}
		}
	}
}
