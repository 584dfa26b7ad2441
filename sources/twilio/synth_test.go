package twilio

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// TestSynthDecodesToExpected: every call the encoder renders, through the
// shared line's <Dial> or straight to the rep, decodes to exactly what the
// encoder expects, and each call is one interaction.
func TestSynthDecodesToExpected(t *testing.T) {
	d := newTestDecoder(t, nil)
	org := testIndex()
	rep := vendorkit.NewSynthRep(&schemas.Rep{ID: "rep-bob", TeamID: "team-emea", PhoneNumbers: []string{"+14155550100"}}, "", nil)
	e := &vendorkit.Synth{Rand: rand.New(rand.NewPCG(1, 2)), Expect: true, Vendor: Name}
	var got []schemas.Interaction
	legs := map[bool]int{} // by whether the call came through a <Dial>
	for k := range 200 {
		in := schemas.Interaction{
			EventID: "gen-1", OccurredAt: time.Date(2025, 3, 4, 9, 0, k, 0, time.UTC), RepID: "rep-bob", TeamID: org.TeamOf("rep-bob"),
			Type: []schemas.Type{schemas.TypeCallInbound, schemas.TypeCallOutbound}[k%2], DurationS: float64(30 + k),
			Contact: schemas.Contact{Phone: "+12015550123"},
		}
		if k%5 == 0 {
			in.Attributes = map[string]string{"outcome": "no_answer"}
		}
		if c := (synth{}).Carries(&in, rep); c != vendorkit.CarryNative {
			t.Fatalf("%s not carried natively", in.Type)
		}
		e.Begin()
		(synth{}).Encode(e, &in, []byte("k"), rep)
		n := 0
		for _, r := range e.Records() {
			var err error
			if got, err = d.Decode(got[:0], r.Value); err != nil {
				t.Fatalf("%s: %v", r.Value, err)
			}
			if len(got) != len(r.Expected) {
				t.Fatalf("decoded %d interactions, want %d:\n%s", len(got), len(r.Expected), r.Value)
			}
			for j := range got {
				if diff := vendorkit.Diff(&r.Expected[j], &got[j]); diff != "" {
					t.Fatalf("%s\n%s", diff, r.Value)
				}
				_, dial := got[j].Attributes["call_sid"]
				legs[dial]++
			}
			n += len(got)
		}
		if n != 1 {
			t.Fatalf("%s rendered as %d interactions, want 1", in.Type, n)
		}
	}
	if legs[true] == 0 || legs[false] == 0 {
		t.Errorf("calls through <Dial> and direct: %v, want both", legs)
	}
}
