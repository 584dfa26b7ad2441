package window

import (
	"math/rand/v2"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the host has
)

// TestDayOfMatchesLocalDay: the cached local day is the zone's date for
// every instant, across DST changes (Berlin, Lord Howe's 30 minutes, São
// Paulo's former midnight changes) and Apia's skipped 30 December 2011.
func TestDayOfMatchesLocalDay(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Pacific/Apia", "Asia/Kolkata"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		z := &zone{name: name, loc: loc}
		check := func(ms int64) {
			t.Helper()
			if got, want := z.dayOf(ms), localDay(time.UnixMilli(ms), loc); !got.Equal(want) || got.Location() != want.Location() {
				t.Fatalf("%s at %s: day %s, want %s", name, time.UnixMilli(ms).In(loc), got, want)
			}
		}
		// Walk 2011..2025 in uneven steps (cache hits and misses), then
		// around every transition.
		for ms := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(); ms < time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(); ms += rng.Int64N(7 * 3600 * 1000) {
			check(ms)
			_, end := time.UnixMilli(ms).In(loc).ZoneBounds()
			if e := end.UnixMilli(); !end.IsZero() && e-ms < 7*3600*1000 {
				for _, d := range []int64{-3600001, -1, 0, 1, 3599999, 3600000} {
					check(e + d)
				}
			}
		}
		check(-1)
		check(-msPerDay - 1)
	}
}
