package salesforce

import (
	"errors"
	"os"
	"testing"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
)

// FuzzDecode: no input panics, every appended event passes Validate, every
// error is a FieldError, and decoding is deterministic.
//
//	go test ./sources/salesforce -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) {
	for _, p := range kittest.Inputs(f, "testdata") {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	d := newTestDecoder(f, Config{})
	f.Fuzz(func(t *testing.T, value []byte) {
		got, err := d.Decode(nil, value)
		if err != nil && !errors.Is(err, schemas.ErrInvalid) {
			t.Fatalf("error is not ErrInvalid: %v", err)
		}
		for k := range got {
			if verr := got[k].Validate(); verr != nil {
				t.Fatalf("event %d invalid: %v", k, verr)
			}
			if got[k].Source != Source || len(got[k].EventID) < 4 || got[k].EventID[:3] != "sf:" {
				t.Fatalf("event %d: bad source or id %q", k, got[k].EventID)
			}
		}
		again, err2 := d.Decode(nil, value)
		if len(again) != len(got) || (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic")
		}
		for k := range got {
			if again[k].EventID != got[k].EventID {
				t.Fatalf("event id not deterministic: %q vs %q", got[k].EventID, again[k].EventID)
			}
		}
	})
}
