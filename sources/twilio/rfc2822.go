package twilio

import (
	"time"

	"github.com/salespulse/salespulse/sources/vendorkit"
)

// parseRFC2822 parses Twilio's dates, "Tue, 31 Aug 2010 20:36:28 +0000".
//
// The fixed 31-byte form Twilio sends is parsed by hand (time.Parse spends
// most of a Twilio record's decode time on its generic layout walk); anything
// else falls back to time.Parse with RFC 1123 layouts, so the result is always
// what time.Parse would say (FuzzParseRFC2822 checks this).
func parseRFC2822(b []byte) (time.Time, bool) {
	if t, ok := fast2822(b); ok {
		return t, true
	}
	s := vendorkit.View(b)
	for _, layout := range [...]string{time.RFC1123Z, time.RFC1123, "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func fast2822(b []byte) (time.Time, bool) {
	// 0         1         2         3
	// 0123456789012345678901234567890
	// Tue, 31 Aug 2010 20:36:28 +0000
	if len(b) != 31 || b[3] != ',' || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' ||
		b[19] != ':' || b[22] != ':' || b[25] != ' ' || (b[26] != '+' && b[26] != '-') {
		return time.Time{}, false
	}
	switch string(b[:3]) {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
	default:
		return time.Time{}, false
	}
	month := 0
	for k, m := range months {
		if string(b[8:11]) == m {
			month = k + 1
			break
		}
	}
	day, ok1 := dig2(b[5:7])
	y1, ok2 := dig2(b[12:14])
	y2, ok3 := dig2(b[14:16])
	hh, ok4 := dig2(b[17:19])
	mm, ok5 := dig2(b[20:22])
	ss, ok6 := dig2(b[23:25])
	oh, ok7 := dig2(b[27:29])
	om, ok8 := dig2(b[29:31])
	year := y1*100 + y2
	if month == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) ||
		day < 1 || day > daysIn(month, year) || hh > 23 || mm > 59 || ss > 59 || oh > 23 || om > 59 {
		return time.Time{}, false
	}
	off := (oh*60 + om) * 60
	if b[26] == '-' {
		off = -off
	}
	return time.Date(year, time.Month(month), day, hh, mm, ss, 0, time.UTC).Add(-time.Duration(off) * time.Second), true
}

func dig2(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
