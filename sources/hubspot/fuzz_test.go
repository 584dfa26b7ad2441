package hubspot

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit/kittest"
)

// FuzzDecode: no input panics, every appended event passes Validate, every
// error is a FieldError, and decoding is deterministic.
//
//	go test ./sources/hubspot -run '^$' -fuzz FuzzDecode -fuzztime 20s
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
			if !strings.HasPrefix(got[k].EventID, "hs:") {
				t.Fatalf("event %d: id %q", k, got[k].EventID)
			}
		}
		again, err2 := d.Decode(nil, value)
		if len(again) != len(got) || (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic")
		}
	})
}
