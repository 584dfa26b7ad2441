package alert

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// checkJSON fails unless m.AppendJSON writes what json.Marshal writes
// (both errors or both the same bytes), also after a prefix in dst.
func checkJSON(t testing.TB, name string, m *Message) {
	t.Helper()
	want, wantErr := json.Marshal(m)
	got, err := m.AppendJSON(nil)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: AppendJSON error %v, json.Marshal error %v", name, err, wantErr)
	}
	if err != nil {
		if string(got) != "" {
			t.Fatalf("%s: AppendJSON wrote %q with its error", name, got)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", name, got, want)
	}
	pre := []byte("prefix")
	if got, _ := m.AppendJSON(pre); string(got) != "prefix"+string(want) {
		t.Fatalf("%s: after a prefix: %s", name, got)
	}
}

func TestAppendJSONCases(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 15, 2, 123456789, time.UTC)
	ends := at.Add(time.Hour)
	zone := time.FixedZone("x", -(5*3600 + 30*60))
	wholeSecond := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tooLate := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	farZone := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 24*3600))
	cases := map[string]Message{
		"the zero message":              {},
		"a detector's firing alert":     FromAlert(&schemas.Alert{ID: "3f2a", Rule: "lead_response_sla", State: schemas.AlertFiring, Severity: schemas.SeverityWarning, RepID: "rep-1", TeamID: "team-1", ManagerID: "mgr-1", Summary: "Lead L-1 had no response.", EventIDs: []string{"evt-1"}, Values: map[string]string{"sla": "5m0s", "lead_id": "L-1"}, At: at}),
		"a resolved alert":              FromAlert(&schemas.Alert{ID: "3f2a", Rule: "r", State: schemas.AlertResolved, At: at, EndsAt: ends}),
		"nil event ids and values":      {ID: "a", EventIDs: nil, Values: nil, At: at},
		"empty event ids and values":    {ID: "a", EventIDs: []string{}, Values: map[string]string{}, At: at},
		"HTML characters":               {Summary: `<b>deal & "quote"</b> \ 'x'`, Values: map[string]string{"<k>": "a&b"}},
		"control characters":            {Summary: "a\x00b\x01\x1f\b\f\n\r\t\x7fc"},
		"unicode":                       {Summary: "Zoë’s café — 営業 🚀", RepID: "ünï", Values: map[string]string{"é": "ß", "e": "€"}},
		"line and paragraph separators": {Summary: "a\u2028b\u2029c"},
		"invalid UTF-8":                 {Summary: "a\xffb\xc3(c\xe2\x82", EventIDs: []string{"\x80"}, Values: map[string]string{"\xfe": "\xed\xa0\x80"}},
		"escapes first":                 {ID: "\"leading quote", Rule: "<", State: "\n"},
		"a zone other than UTC":         {At: at.In(zone), EndsAt: &ends},
		"a whole second":                {At: wholeSecond},
		"the largest version":           {Version: 1<<64 - 1},
		"a recipient":                   {ID: "a", Recipient: &Recipient{Role: "manager", ID: "mgr-<1>"}},
		"an empty recipient":            {Recipient: &Recipient{}},
		"a year json cannot write":      {At: tooLate},
		"an ends_at json cannot write":  {EndsAt: &tooLate},
		"a zone json cannot write":      {At: farZone},
	}
	many := map[string]string{}
	for k := range 40 {
		many["k"+strconv.Itoa(39-k)] = strconv.Itoa(k)
	}
	cases["more values than the stack array"] = Message{Values: many}
	for name, m := range cases {
		checkJSON(t, name, &m)
	}
}

// randomAlphabet are the characters that need care in JSON strings.
var randomAlphabet = []string{"a", "Z", "0", " ", "-", "_", ".", ":", "\"", "\\", "/", "<", ">", "&", "'", "\x00", "\x1f", "\n", "\t", "\x7f",
	"é", "ß", "€", "営", "🚀", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\U0010ffff"}

// randomMessage is a message of random strings over randomAlphabet, nil or
// filled slices and maps, times in random zones, random optional fields.
func randomMessage(rng *rand.Rand) Message {
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(randomAlphabet[rng.IntN(len(randomAlphabet))])
		}
		return b.String()
	}
	m := Message{ID: str(), Rule: str(), State: str(), Severity: str(), RepID: str(), TeamID: str(), ManagerID: str(), Summary: str(),
		At: time.Unix(rng.Int64N(1<<36)-1<<34, rng.Int64N(1e9)*int64(rng.IntN(2))), Version: rng.Uint64()}
	if rng.IntN(4) > 0 {
		m.EventIDs = make([]string, rng.IntN(4))
		for k := range m.EventIDs {
			m.EventIDs[k] = str()
		}
	}
	if rng.IntN(4) > 0 {
		m.Values = map[string]string{}
		for range rng.IntN(20) {
			m.Values[str()] = str()
		}
	}
	if rng.IntN(2) == 0 {
		e := m.At.Add(time.Duration(rng.Int64N(1 << 40))).In(time.FixedZone("z", (rng.IntN(48)-24)*1800))
		m.EndsAt = &e
	}
	if rng.IntN(3) == 0 {
		m.Recipient = &Recipient{Role: str(), ID: str()}
	}
	return m
}

// TestAppendJSONRandom compares AppendJSON with json.Marshal on random
// messages.
func TestAppendJSONRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 2))
	for n := range 5000 {
		m := randomMessage(rng)
		checkJSON(t, "random message "+strconv.Itoa(n), &m)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("3f2a", "lead_response_sla", "Lead L-1 had no response.", "sla", "5m0s", int64(1793610000123), uint64(7))
	f.Add("\"", "<&>", "a\u2028\xff\x00", "é", "\t", int64(-1), uint64(0))
	f.Fuzz(func(t *testing.T, id, rule, summary, key, val string, ms int64, version uint64) {
		at := time.UnixMilli(ms)
		m := Message{ID: id, Rule: rule, Summary: summary, EventIDs: []string{key, val}, Values: map[string]string{key: val, val: key}, At: at, EndsAt: &at, Version: version}
		checkJSON(t, "fuzz", &m)
	})
}

// BenchmarkAppendJSON encodes the message of a typical detector alert.
//
//	go test ./sinks/alert -run '^$' -bench AppendJSON -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkAppendJSON(b *testing.B) {
	at := time.Date(2026, 11, 2, 9, 15, 2, 123000000, time.UTC)
	m := FromAlert(&schemas.Alert{ID: "3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3", Rule: "lead_response_sla", State: schemas.AlertFiring, Severity: schemas.SeverityWarning,
		RepID: "rep-17", TeamID: "team-3", ManagerID: "mgr-3", Summary: "Lead L-1042 assigned to rep-17 had no response within 5m0s of 2026-11-02T09:10:02Z.",
		EventIDs: []string{"evt-1042"}, Values: map[string]string{"lead_id": "L-1042", "sla": "5m0s", "created_at": "2026-11-02T09:10:02.123Z", "deadline": "2026-11-02T09:15:02.123Z", "channel": "crm"}, At: at})
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = m.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// TestAppendAlert: AppendAlert writes what AppendJSON writes of FromAlert,
// for firing and resolved alerts, with nil and filled slices and maps.
func TestAppendAlert(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 15, 2, 123456789, time.FixedZone("x", 3600))
	for name, a := range map[string]schemas.Alert{
		"firing":               {ID: "a", Rule: "r", State: schemas.AlertFiring, Severity: schemas.SeverityCritical, Summary: "<s>", EventIDs: []string{"e"}, Values: map[string]string{"k": "v", "a": "b"}, At: at},
		"resolved":             {ID: "a", Rule: "r", State: schemas.AlertResolved, At: at, EndsAt: at.Add(time.Minute)},
		"ends before it began": {ID: "a", Rule: "r", State: schemas.AlertResolved, At: at, EndsAt: at.Add(-time.Minute)},
		"before 1970":          {ID: "a", At: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		m := FromAlert(&a)
		want, err := json.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendAlert(nil, &a)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %s, %v\nwant %s", name, got, err, want)
		}
	}
}
