package privacy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// testOrg has a German team, a US team, and a team without a country.
func testOrg() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{{ID: "berlin", Country: "DE"}, {ID: "nyc", Country: "us"}, {ID: "nowhere"}},
		Reps:  []schemas.Rep{{ID: "rep-de", TeamID: "berlin"}, {ID: "rep-us", TeamID: "nyc"}},
	})
}

func TestPhonesBecomeE164(t *testing.T) {
	p := newGolden(t).With(WithOrg(testOrg()))
	f := func(name string, it schemas.Interaction, want string) {
		t.Helper()
		p.Apply(&it)
		if w := p.Pseudonym(want); it.Keys.Phone != w {
			t.Errorf("%s: Keys.Phone = %q, want the pseudonym of %s, %q", name, it.Keys.Phone, want, w)
		}
	}
	f("a national US number in the contact's country",
		schemas.Interaction{Contact: schemas.Contact{Phone: "(201) 555-0123", Country: "US"}}, "+12015550123")
	f("an international number needs no region",
		schemas.Interaction{Contact: schemas.Contact{Phone: "+44 20 7946 0958"}}, "+442079460958")
	f("the 00 international prefix needs no region",
		schemas.Interaction{Contact: schemas.Contact{Phone: "0044 20 7946 0958"}}, "+442079460958")
	f("a national German number in the team's country",
		schemas.Interaction{TeamID: "berlin", Contact: schemas.Contact{Phone: "030 1234567"}}, "+49301234567")
	f("the rep's team when the event names no team",
		schemas.Interaction{RepID: "rep-de", Contact: schemas.Contact{Phone: "030 1234567"}}, "+49301234567")
	f("the contact's country wins over the team's",
		schemas.Interaction{TeamID: "berlin", Contact: schemas.Contact{Phone: "(201) 555-0123", Country: "us"}}, "+12015550123")
	f("an unknown contact country gives way to the team's",
		schemas.Interaction{TeamID: "nyc", Contact: schemas.Contact{Phone: "(201) 555-0123", Country: "XX"}}, "+12015550123")
}

func TestDefaultCountryIsTheLastResort(t *testing.T) {
	p, err := New(Config{Key: KeyRef{ID: "k2", File: keyFile(t, goldenKey)}, DefaultCountry: "de"}, WithOrg(testOrg()))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []schemas.Interaction{
		{TeamID: "nowhere", Contact: schemas.Contact{Phone: "030 1234567"}},
		{Contact: schemas.Contact{Phone: "030-123 45 67"}},
	} {
		p.Apply(&it)
		if want := p.Pseudonym("+49301234567"); it.Keys.Phone != want {
			t.Errorf("Keys.Phone = %q, want %q", it.Keys.Phone, want)
		}
	}
	if got := p.SubjectKeys("030 1234567")[0]; got != p.Pseudonym("+49 30 1234567") {
		t.Errorf("SubjectKeys reads national numbers in the default country: %q", got)
	}
}

func TestUnparsedPhonesFallBackToDigits(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newGolden(t).With(WithRegisterer(reg))
	f := func(c schemas.Contact, wantNorm string) {
		t.Helper()
		it := schemas.Interaction{Contact: c}
		p.Apply(&it)
		if w := p.Pseudonym(wantNorm); it.Keys.Phone != w || it.ContactKey != w {
			t.Errorf("%+v: Keys.Phone %q, ContactKey %q, want the pseudonym of %q", c, it.Keys.Phone, it.ContactKey, wantNorm)
		}
	}
	f(schemas.Contact{Phone: "(201) 555-0123"}, "2015550123") // no region anywhere
	f(schemas.Contact{Phone: "+1 555"}, "+1555")              // too short for any line
	f(schemas.Contact{Phone: "555-0100", Country: "US"}, "5550100")
	f(schemas.Contact{Phone: "555-0100", Country: "US"}, "5550100") // cached, counted again
	// A second pseudonymiser on the same registry shares the counter.
	newGolden(t).With(WithRegisterer(reg)).Apply(&schemas.Interaction{Contact: schemas.Contact{Mobile: "12345"}})
	want := `
# HELP salespulse_privacy_phone_unparsed_total Phone numbers that could not be read as a full E.164 number (no country code and no known region, or too short or long) and were pseudonymised from their digits only, so they match only the same digits.
# TYPE salespulse_privacy_phone_unparsed_total counter
salespulse_privacy_phone_unparsed_total 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// The cache of phone pseudonyms is keyed by the region too: the same
// national digits are different lines in different countries.
func TestPhoneCacheKeepsRegionsApart(t *testing.T) {
	p := newGolden(t)
	for range 2 {
		de := schemas.Interaction{Contact: schemas.Contact{Phone: "030 1234567", Country: "DE"}}
		at := schemas.Interaction{Contact: schemas.Contact{Phone: "030 1234567", Country: "AT"}}
		p.Apply(&de)
		p.Apply(&at)
		if de.Keys.Phone != p.Pseudonym("+49301234567") || at.Keys.Phone == de.Keys.Phone {
			t.Fatalf("DE %q, AT %q", de.Keys.Phone, at.Keys.Phone)
		}
	}
}

func TestEmailsAreTrimmedAndLowerCased(t *testing.T) {
	p := newGolden(t)
	a := schemas.Interaction{Contact: schemas.Contact{Email: "  Jane.Doe@Example.COM "}}
	b := schemas.Interaction{Contact: schemas.Contact{Email: "jane.doe@example.com"}}
	p.Apply(&a)
	p.Apply(&b)
	if a.Keys.Email == "" || a.Keys != b.Keys || a.ContactKey != b.ContactKey {
		t.Errorf("keys differ: %+v %q vs %+v %q", a.Keys, a.ContactKey, b.Keys, b.ContactKey)
	}
}

// A call logged as "+1 201-555-0123" by one system and as "(201) 555-0123"
// of a US contact by another is one phone: one key.
func TestOneNumberInTwoFormatsIsOneKey(t *testing.T) {
	p := newGolden(t).With(WithOrg(testOrg()))
	a := schemas.Interaction{Contact: schemas.Contact{Phone: "+1 201-555-0123"}}
	b := schemas.Interaction{RepID: "rep-us", Contact: schemas.Contact{Phone: "(201) 555-0123"}}
	c := schemas.Interaction{Contact: schemas.Contact{Mobile: "001 201 555 0123"}}
	p.Apply(&a)
	p.Apply(&b)
	p.Apply(&c)
	if a.Keys.Phone == "" || a.Keys.Phone != b.Keys.Phone || a.Keys.Phone != c.Keys.Mobile {
		t.Errorf("keys differ: %q, %q, mobile %q", a.Keys.Phone, b.Keys.Phone, c.Keys.Mobile)
	}
}

func TestAKeyPerIdentity(t *testing.T) {
	p := newGolden(t)
	it := schemas.Interaction{Contact: schemas.Contact{
		Email: "Anna.Schmidt@example.com", Phone: "+49 170 1234567", Mobile: "+49 171 7654321", Name: "Anna", Country: "DE"}}
	p.Apply(&it)
	want := schemas.ContactKeys{
		Email:  "k2:Nrhd3MdXGa3iDFf15zajSA", // the golden e-mail key: unchanged by E.164
		Phone:  "k2:dwX6ocbcJOBeUwVWXsvnVg", // the golden phone key: +491701234567 either way
		Mobile: p.Pseudonym("+491717654321"),
	}
	if it.Keys != want || it.ContactKey != want.Email {
		t.Errorf("Keys = %+v, ContactKey %q; want %+v and the e-mail's key", it.Keys, it.ContactKey, want)
	}
	if !it.Contact.IsZero() || it.Contact.Country != "" {
		t.Errorf("contact not cleared: %+v", it.Contact)
	}

	// Without e-mail the phone is the contact key, then the mobile.
	it = schemas.Interaction{Contact: schemas.Contact{Mobile: "+49 171 7654321", Name: "Anna"}}
	p.Apply(&it)
	if it.Keys != (schemas.ContactKeys{Mobile: want.Mobile}) || it.ContactKey != want.Mobile {
		t.Errorf("mobile only: Keys = %+v, ContactKey %q", it.Keys, it.ContactKey)
	}

	// A name alone has no identity key; re-applying to a cleared contact
	// keeps the keys.
	it = schemas.Interaction{Contact: schemas.Contact{Name: "Anna"}}
	p.Apply(&it)
	if !it.Keys.IsZero() || it.ContactKey == "" {
		t.Errorf("name only: Keys = %+v, ContactKey %q", it.Keys, it.ContactKey)
	}
	it = schemas.Interaction{Keys: want, ContactKey: want.Email}
	p.Apply(&it)
	if it.Keys != want || it.ContactKey != want.Email {
		t.Errorf("Apply on an already pseudonymised event changed it: %+v", it.Keys)
	}
}

func TestSubjectKeysFindBothPhoneForms(t *testing.T) {
	p := newGolden(t)
	// A '+' number: its E.164 and digits forms are equal.
	if got := p.SubjectKeys("+1 (201) 555-0123"); !slices.Equal(got, p.SubjectKeys("+12015550123")) || len(got) != 2 {
		t.Errorf("SubjectKeys(+1…) = %q", got)
	}
	// A 00 number: E.164 first, then its digits, each under both keys.
	if got := p.SubjectKeys("0049 170 1234567"); len(got) != 4 || !slices.Equal(got[:2], p.SubjectKeys("+491701234567")) {
		t.Errorf("SubjectKeys(0049…) = %q", got)
	}
	// A national number without a default country: only its digits, the
	// form Apply used for it.
	nat := p.SubjectKeys("(201) 555-0123")
	it := schemas.Interaction{Contact: schemas.Contact{Phone: "(201) 555-0123"}}
	p.Apply(&it)
	if len(nat) != 2 || nat[0] != it.Keys.Phone {
		t.Errorf("SubjectKeys(national) = %q, want [%q, previous key]", nat, it.Keys.Phone)
	}
}

// BenchmarkApplyPhones: a contact with e-mail, a national phone read in the
// team's country and an international mobile (three keys).
//
//	go test ./pipeline/privacy -run '^$' -bench ApplyPhones -count 10 | benchstat -
//
// Numbers repeat (a lead's number comes back with each touch), so this
// mostly measures the cache; BenchmarkApplyNewPhones measures the parser.
func BenchmarkApplyPhones(b *testing.B) {
	p, err := New(Config{Key: DevKey()}, WithOrg(testOrg()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		it := schemas.Interaction{TeamID: "berlin", Contact: schemas.Contact{
			Email: "Anna.Schmidt@example.com", Phone: "030 1234567", Mobile: "+49 171 7654321"}}
		p.Apply(&it)
	}
}

// BenchmarkApplyNewPhones: every number is new to the cache.
func BenchmarkApplyNewPhones(b *testing.B) {
	p, err := New(Config{Key: DevKey()}, WithOrg(testOrg()))
	if err != nil {
		b.Fatal(err)
	}
	nums := make([]string, 1<<12)
	for k := range nums {
		nums[k] = fmt.Sprintf("030 %07d", 1000000+k)
	}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		if k%len(nums) == 0 {
			clear(p.phones.entries)
		}
		it := schemas.Interaction{TeamID: "berlin", Contact: schemas.Contact{Phone: nums[k%len(nums)]}}
		p.Apply(&it)
		k++
	}
}
