package zoom

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/vendorkit"
)

// TestSynthDecodesToExpected: the meetings and joins the encoder renders
// decode to exactly what it expects: one meeting.held per meeting, with no
// contact, and one meeting.joined per join, with the e-mail as the guest
// typed it.
func TestSynthDecodesToExpected(t *testing.T) {
	d := newTestDecoder(t, nil)
	rep := vendorkit.NewSynthRep(&schemas.Rep{ID: "rep-ada", TeamID: "team-emea", Name: "Ada", ZoomUserIDs: []string{"uLoRgfbbTayCX6r2Q_qQsQ"}, Mailboxes: []string{"host@salespulse-demo.com"}}, "", nil)
	e := &vendorkit.Synth{Rand: rand.New(rand.NewPCG(3, 4)), Expect: true, Vendor: Name}
	var got []schemas.Interaction
	recased := 0
	for k := range 60 {
		in := schemas.Interaction{
			EventID: "gen-1", OccurredAt: time.Date(2025, 3, 4, 9, k, 0, 0, time.UTC), RepID: "rep-ada", TeamID: "team-emea",
			Type: []schemas.Type{schemas.TypeMeetingHeld, schemas.TypeMeetingJoined}[k%2], DurationS: 1800,
			Contact: schemas.Contact{Email: "dana.reyes@example.com", Name: "Dana Reyes"},
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
				if got[j].Type != in.Type {
					t.Fatalf("decoded %s, want %s", got[j].Type, in.Type)
				}
				if got[j].Contact.Email != in.Contact.Email && strings.EqualFold(got[j].Contact.Email, in.Contact.Email) {
					recased++
				}
			}
			n += len(got)
		}
		if n != 1 {
			t.Fatalf("%s rendered as %d interactions, want 1", in.Type, n)
		}
	}
	if recased == 0 {
		t.Error("no guest typed the e-mail in another case")
	}
	none := schemas.Interaction{Type: schemas.TypeMeetingJoined}
	if (synth{}).Carries(&none, rep) != vendorkit.CarryNo {
		t.Error("a join without e-mail is carried, but decodes to nothing")
	}
}
