package hubspot

import "testing"

// FuzzDecode: no input panics, every appended event passes Validate, every
// error is a FieldError, and decoding is deterministic (kittest.Suite.Fuzz).
//
//	go test ./sources/hubspot -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) { suite(f).Fuzz(f) }
