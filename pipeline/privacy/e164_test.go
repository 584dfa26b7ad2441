package privacy

import (
	"bufio"
	"flag"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// e164Case is a number and the region Apply would read it in.
type e164Case struct{ s, region string }

// checkE164 fails t when the short path and libphonenumber disagree on c,
// and reports whether the short path answered by itself.
func checkE164(t *testing.T, c e164Case) (fast bool) {
	t.Helper()
	want, wantOK := e164Lib(c.s, c.region)
	got, ok := appendE164(nil, c.s, c.region)
	if string(got) != want || ok != wantOK {
		t.Errorf("e164(%q, %q) = %q, %v; libphonenumber says %q, %v", c.s, c.region, got, ok, want, wantOK)
	}
	_, _, sure := fastE164(nil, c.s, c.region)
	return sure
}

// readPhones returns testdata/phones.txt's numbers.
func readPhones(t testing.TB) []string {
	f, err := os.Open("testdata/phones.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// someRegions are the regions every corpus number is also read in: none,
// the generator's, neighbours sharing a country code, and regions whose
// national prefixes are rewritten (AR, MX, BR) or kept (IT).
var someRegions = []string{"", "US", "GB", "DE", "CA", "FR", "AT", "AR", "MX", "BR", "IT", "RU", "AU", "JP", "XX", "us", "001"}

// generatorCases are the numbers of the synthetic generator (the drains'
// input) with the regions Apply reads them in: the contact's country, and
// none for the international forms of calls.
func generatorCases(t *testing.T) []e164Case {
	cfg := gen.DefaultConfig()
	cfg.Teams, cfg.Days = 12, 10
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[e164Case]bool{}
	var out []e164Case
	var it schemas.Interaction
	for range 400_000 {
		if _, ok := g.Next(&it); !ok {
			break
		}
		for _, s := range []string{it.Contact.Phone, it.Contact.Mobile} {
			if s == "" {
				continue
			}
			for _, r := range []string{it.Contact.Country, ""} {
				c := e164Case{strings.TrimSpace(s), r}
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	if len(out) < 1000 {
		t.Fatalf("the generator gave %d numbers", len(out))
	}
	return out
}

// randomCases is a seeded corpus over every country calling code: national
// numbers of every length up to 19 digits, in international form ('+' and
// "00", grouped or not, with and without the national prefix) and in
// national form read in the code's regions and others, plus every region's
// example numbers of every type in every format.
func randomCases(n int) []e164Case {
	rng := rand.New(rand.NewPCG(17, 2026))
	var regions []string
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	var codes []int
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		codes = append(codes, cc)
	}
	slices.Sort(codes)
	const seps = " -()./"
	group := func(d string) string {
		var b strings.Builder
		for k := range len(d) {
			if k > 0 && rng.IntN(3) == 0 {
				b.WriteByte(seps[rng.IntN(len(seps))])
				if rng.IntN(8) == 0 {
					b.WriteByte(' ')
				}
			}
			b.WriteByte(d[k])
		}
		return b.String()
	}
	digits := func(l int) string {
		b := make([]byte, l)
		for k := range b {
			b[k] = byte('0' + rng.IntN(10))
		}
		if l > 0 && rng.IntN(2) == 0 {
			b[0] = byte('1' + rng.IntN(9)) // national numbers rarely start with 0
		}
		return string(b)
	}
	var out []e164Case
	for _, cc := range codes {
		ccs := strconv.Itoa(cc)
		own := phonenumbers.GetRegionCodesForCountryCode(cc)
		ndd := ""
		if own[0] != "001" {
			ndd = phonenumbers.GetNddPrefixForRegion(own[0], true)
		}
		for l := 0; l <= 19; l++ {
			for range n {
				nsn := digits(l)
				region := regions[rng.IntN(len(regions))]
				if rng.IntN(2) == 0 {
					region = own[rng.IntN(len(own))]
				}
				out = append(out,
					e164Case{"+" + ccs + nsn, ""},
					e164Case{"+" + ccs + " " + group(nsn), region},
					e164Case{"00" + ccs + group(nsn), ""},
					e164Case{"+" + ccs + " " + group(ndd+nsn), region},
					e164Case{group(nsn), region},
					e164Case{group(ndd + nsn), region},
					e164Case{group(ccs + nsn), region},
				)
			}
		}
	}
	types := []phonenumbers.PhoneNumberType{
		phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE,
		phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER,
		phonenumbers.UAN, phonenumbers.VOICEMAIL,
	}
	formats := []phonenumbers.PhoneNumberFormat{phonenumbers.E164, phonenumbers.INTERNATIONAL, phonenumbers.NATIONAL, phonenumbers.RFC3966}
	for _, r := range regions {
		for _, typ := range types {
			num := phonenumbers.GetExampleNumberForType(r, typ)
			if num == nil {
				continue
			}
			for _, f := range formats {
				s := phonenumbers.Format(num, f)
				out = append(out, e164Case{s, r}, e164Case{s, ""}, e164Case{s, regions[rng.IntN(len(regions))]})
			}
		}
	}
	return out
}

var e164PerLength = flag.Int("e164.per", 3, "TestE164MatchesLibphonenumber: random numbers per country code, national length and form")

func TestE164MatchesLibphonenumber(t *testing.T) {
	t.Run("generator", func(t *testing.T) {
		cases := generatorCases(t)
		fast := 0
		for _, c := range cases {
			if checkE164(t, c) {
				fast++
			}
		}
		// The drains' numbers must all take the short path, or the
		// benchmark gain is gone.
		if fast != len(cases) {
			t.Errorf("%d of %d generated numbers took the short path", fast, len(cases))
		}
		t.Logf("%d numbers, %d on the short path", len(cases), fast)
	})
	t.Run("fixtures and corners", func(t *testing.T) {
		fast, n := 0, 0
		for _, s := range readPhones(t) {
			for _, r := range someRegions {
				n++
				if checkE164(t, e164Case{s, r}) {
					fast++
				}
			}
		}
		t.Logf("%d cases, %d on the short path", n, fast)
	})
	t.Run("random over every country code", func(t *testing.T) {
		per := *e164PerLength
		if testing.Short() {
			per = 1
		}
		cases := randomCases(per)
		fast := 0
		for _, c := range cases {
			if checkE164(t, c) {
				fast++
			}
		}
		t.Logf("%d cases, %d on the short path", len(cases), fast)
	})
}

// The short path compiles a region's regular expressions on first use,
// from whichever worker meets the region first (run with -race).
func TestE164Concurrent(t *testing.T) {
	var cases []e164Case
	for _, s := range readPhones(t) {
		for _, r := range someRegions {
			cases = append(cases, e164Case{s, r})
		}
	}
	want := make([]string, len(cases))
	for k, c := range cases {
		want[k], _ = e164Lib(c.s, c.region)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for k := range cases {
				c := cases[(k+w*len(cases)/4)%len(cases)]
				if got, _ := appendE164(nil, c.s, c.region); string(got) != want[(k+w*len(cases)/4)%len(cases)] {
					t.Errorf("e164(%q, %q) = %q", c.s, c.region, got)
				}
			}
		})
	}
	wg.Wait()
}

// FuzzE164 holds the short path to libphonenumber on any string and
// region; `go test` runs the seed corpus (testdata/phones.txt in several
// regions), `go test -fuzz E164 ./pipeline/privacy` searches further.
func FuzzE164(f *testing.F) {
	for _, s := range readPhones(f) {
		for _, r := range someRegions {
			f.Add(s, r)
		}
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		checkE164(t, e164Case{s, region})
	})
}

// BenchmarkE164 reads numbers the cache has not seen, in the shapes the
// generator sends: national numbers in the contact's country and E.164
// numbers, through the short path and through libphonenumber alone.
//
//	go test ./pipeline/privacy -run '^$' -bench E164 -count 8 | benchstat -col /path -
func BenchmarkE164(b *testing.B) {
	shapes := []struct {
		name string
		e164Case
	}{
		{"national-DE", e164Case{"030 23125123", "DE"}},
		{"national-US", e164Case{"(201) 555-0123", "US"}},
		{"national-GB", e164Case{"0113 496 0123", "GB"}},
		{"plus-US", e164Case{"+12015550123", ""}},
		{"plus-DE", e164Case{"+493023125123", "DE"}},
	}
	for _, sh := range shapes {
		b.Run(sh.name+"/path=fast", func(b *testing.B) {
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = appendE164(dst[:0], sh.s, sh.region)
			}
		})
		b.Run(sh.name+"/path=lib", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e164Lib(sh.s, sh.region)
			}
		})
	}
}

// BenchmarkApplyGeneratorContacts pseudonymises the contacts of the
// drains' input in order (gen with the bench's 40 teams): e-mails, and
// phone numbers that recur with their lead's touches, most of them cached.
// One op is one event.
//
//	go test ./pipeline/privacy -run '^$' -bench ApplyGeneratorContacts -count 8 | tee new.txt
func BenchmarkApplyGeneratorContacts(b *testing.B) {
	cfg := gen.DefaultConfig()
	cfg.Teams, cfg.Days = 40, 0
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	events := make([]schemas.Interaction, 200_000)
	for k := range events {
		var it schemas.Interaction
		g.Next(&it)
		events[k] = schemas.Interaction{RepID: it.RepID, TeamID: it.TeamID, Contact: it.Contact}
	}
	p, err := New(Config{Key: DevKey()}, WithOrg(schemas.NewIndex(g.Org())))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		it := events[k]
		p.Apply(&it)
		if k++; k == len(events) {
			k = 0
		}
	}
}
