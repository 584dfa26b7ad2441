package gen

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestPhonePlansValid checks every reserved number the generator can hand
// out with libphonenumber (the port the pipeline normalises with): valid
// for its country, its national form parses back to its E.164 form, and
// that E.164 form is what libphonenumber formats.
func TestPhonePlansValid(t *testing.T) {
	for cc, p := range phonePlans {
		check := func(n number) {
			t.Helper()
			got, err := phonenumbers.Parse(n.national, cc)
			if err != nil {
				t.Fatalf("%s %q: %v", cc, n.national, err)
			}
			if !phonenumbers.IsValidNumberForRegion(got, cc) {
				t.Errorf("%s %q (%s) is not a valid number of %s", cc, n.national, n.e164, cc)
			}
			if e := phonenumbers.Format(got, phonenumbers.E164); e != n.e164 {
				t.Errorf("%s %q is %s, want %s", cc, n.national, e, n.e164)
			}
			if nat := phonenumbers.Format(got, phonenumbers.NATIONAL); nat != n.national {
				t.Logf("%s %q: libphonenumber writes %q", cc, n.national, nat)
			}
		}
		for k := 0; k < p.size; k++ {
			check(p.landline(k, 0))
		}
	}
}

// TestContactsNeverHaveRepNumbers: no number a contact can get (any
// block of any plan) is in a range reps' numbers come from, so the
// telephony decoders never take a call to a contact for an internal call
// between reps, however many reps and leads the org has. Contacts' e-mail
// addresses are at account domains, never at MailDomain.
func TestContactsNeverHaveRepNumbers(t *testing.T) {
	var repRanges []string
	for _, p := range ukDramaPrefixes {
		repRanges = append(repRanges, p) // 1000 numbers each: the prefix is the range
	}
	for _, a := range naRepAreaCodes {
		repRanges = append(repRanges, "+1"+a+"55501")
	}
	for cc, p := range phonePlans {
		for _, b := range p.blocks {
			block := "+" + p.cc + b.nsn
			for _, r := range repRanges {
				// Two ranges overlap when one's prefix starts the other's.
				if len(r) <= len(block) && block[:len(r)] == r || len(block) <= len(r) && r[:len(block)] == block {
					t.Errorf("%s contact block %s overlaps the reps' range %s", cc, block, r)
				}
			}
		}
	}
	// And on a generated org: every rep number against every account
	// contact and the first leads of each rep.
	cfg := DefaultConfig()
	cfg.Days = 1
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reps := map[string]bool{}
	for _, r := range g.Org().Reps {
		for _, n := range r.PhoneNumbers {
			reps[n] = true
		}
		for _, m := range r.Mailboxes {
			reps[m] = true
		}
	}
	check := func(c *contact) {
		for _, v := range []string{c.phone.e164, c.mobile.e164, c.email} {
			if reps[v] {
				t.Fatalf("contact %s has the rep's %s", c.name, v)
			}
		}
	}
	for k := range g.contacts {
		check(&g.contacts[k])
	}
	for k := range g.reps {
		r := &g.reps[k]
		for num := uint64(1); num < 2000; num++ {
			c := g.leadContact(num, r, r.acct0)
			check(&c)
		}
	}
}
