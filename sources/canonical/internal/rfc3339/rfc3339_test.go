package rfc3339

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	f := func(in string, want time.Time, wantOK bool) {
		t.Helper()
		got, ok, _ := Parse([]byte(in))
		if ok != wantOK || !got.Equal(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", in, got, ok, want, wantOK)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("Parse(%q) location %v, want UTC", in, got.Location())
		}
	}
	f("2024-05-01T09:30:00Z", time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC), true)
	f("2024-05-01T09:30:00+02:00", time.Date(2024, 5, 1, 7, 30, 0, 0, time.UTC), true)
	f("2024-05-01T09:30:00-05:30", time.Date(2024, 5, 1, 15, 0, 0, 0, time.UTC), true)
	f("2024-02-29T23:59:59.123456789Z", time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC), true)
	f("2024-02-29T23:59:59.1234567891234Z", time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC), true)
	f("2024-02-29T23:59:59.5+00:00", time.Date(2024, 2, 29, 23, 59, 59, 500000000, time.UTC), true)
	f("0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), true)
	f("9999-12-31T23:59:59Z", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true)
	f("2023-02-29T00:00:00Z", time.Time{}, false) // not a leap year
	f("2024-05-01T24:00:00Z", time.Time{}, false)
	f("2024-05-01T23:59:60Z", time.Time{}, false) // time.Parse rejects leap seconds too
	f("2024-05-01 09:30:00Z", time.Time{}, false)
	f("2024-05-01t09:30:00Z", time.Time{}, false)
	f("2024-05-01T09:30:00z", time.Time{}, false)
	f("2024-05-01T09:30:00", time.Time{}, false)
	f("2024-05-01T09:30:00+0200", time.Time{}, false)
	f("2024-05-01T09:30:00+24:00", time.Time{}, false)
	f("2024-05-01T09:30:00.Z", time.Time{}, false)
	f("1714555800", time.Time{}, false)

	if _, ok, missing := Parse([]byte("2024-05-01T09:30:00.25")); ok || !missing {
		t.Errorf("missing offset not reported: ok=%v missing=%v", ok, missing)
	}
}

// FuzzRFC3339 holds the hand-rolled parser to time.Parse: whatever it
// accepts, time.Parse accepts as the same instant; whatever time.Parse
// accepts in the strict two-digit form, it accepts too.
func FuzzRFC3339(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T09:30:00Z", "2024-05-01T09:30:00.123+02:00", "2000-02-29T00:00:00-23:59",
		"2024-13-01T00:00:00Z", "2024-05-01T09:30:00", "2024-05-01T9:30:00Z", "0001-01-01T00:00:00Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok, _ := Parse([]byte(s))
		want, err := time.Parse(time.RFC3339, s)
		if ok {
			if err != nil {
				t.Fatalf("Parse(%q) accepted, time.Parse: %v", s, err)
			}
			if !got.Equal(want) {
				t.Fatalf("Parse(%q) = %v, time.Parse = %v", s, got, want)
			}
			return
		}
		if err == nil && strictShape(s) {
			t.Fatalf("Parse(%q) rejected what time.Parse accepts: %v", s, want)
		}
	})
}

// strictShape reports whether s has RFC 3339's fixed-width layout, the only
// form Parse promises to accept (time.Parse also takes one-digit
// hours and other leniencies through its slow path).
func strictShape(s string) bool {
	if len(s) < 20 {
		return false
	}
	for k, c := range []byte(s[:19]) {
		switch k {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if !isDigit(c) {
				return false
			}
		}
	}
	r := s[19:]
	if len(r) >= 2 && r[0] == '.' {
		n := 1
		for n < len(r) && isDigit(r[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		r = r[n:]
	}
	if r == "Z" {
		return true
	}
	// RFC 3339 offsets are 00–23 hours and 00–59 minutes; time.Parse's
	// slow path also takes "+00:60" (found by this fuzz test), which the
	// contract does not.
	return len(r) == 6 && (r[0] == '+' || r[0] == '-') && r[3] == ':' && d2(r[1], r[2]) >= 0 && d2(r[1], r[2]) <= 23 &&
		d2(r[4], r[5]) >= 0 && d2(r[4], r[5]) <= 59
}
