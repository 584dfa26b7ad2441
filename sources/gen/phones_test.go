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
