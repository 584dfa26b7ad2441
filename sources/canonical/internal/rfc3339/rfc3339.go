// Package rfc3339 parses the RFC 3339 timestamps of canonical events
// without allocating.
package rfc3339

import "time"

// Parse parses the strict RFC 3339 form that time.Parse(time.RFC3339,
// …) accepts on its fast path — "2006-01-02T15:04:05[.fraction](Z|±hh:mm)" —
// and returns the instant in UTC.
//
// It exists because time.Parse allocates a *time.Location for every non-Z
// offset and goes through time.Date; here the offset is folded into the
// seconds directly, so parsing costs no allocation. The result is always
// UTC, which is what schemas.Interaction.Normalize would produce anyway. FuzzRFC3339
// checks it against time.Parse.
//
// ok is false for anything else; missingOffset reports a timestamp that is
// well formed up to the seconds (or fraction) but carries no offset, so the
// caller can name that mistake precisely.
func Parse(s []byte) (t time.Time, ok, missingOffset bool) {
	if len(s) < len("2006-01-02T15:04:05") {
		return time.Time{}, false, false
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false, false
	}
	// Fields two digits at a time; d2 gives -1 for anything but two digits,
	// which every range check below rejects.
	century, yy := d2(s[0], s[1]), d2(s[2], s[3])
	year := century*100 + yy
	month, day := d2(s[5], s[6]), d2(s[8], s[9])
	hour, minute, sec := d2(s[11], s[12]), d2(s[14], s[15]), d2(s[17], s[18])
	if century < 0 || yy < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false, false
	}
	s = s[19:]

	// Fraction: any number of digits, truncated to nanoseconds like time.Parse.
	nsec := 0
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		n := 1
		for ; n < len(s) && isDigit(s[n]); n++ {
			if n <= 9 {
				nsec = nsec*10 + int(s[n]-'0')
			}
		}
		for k := n; k <= 9; k++ {
			nsec *= 10
		}
		s = s[n:]
	}

	offset := 0
	switch {
	case len(s) == 0:
		return time.Time{}, false, true
	case len(s) == 1 && s[0] == 'Z':
	case len(s) == len("-07:00") && (s[0] == '+' || s[0] == '-') && s[3] == ':':
		oh, om := d2(s[1], s[2]), d2(s[4], s[5])
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, false, false
		}
		offset = (oh*60 + om) * 60
		if s[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false, false
	}

	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	return time.Unix(unix, int64(nsec)).UTC(), true, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// d2 is the value of the two ASCII digits a and b, or -1.
func d2(a, b byte) int {
	a -= '0'
	b -= '0'
	if a > 9 || b > 9 {
		return -1
	}
	return int(a)*10 + int(b)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil), valid for
// every year 0000–9999 that RFC 3339 can express.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
