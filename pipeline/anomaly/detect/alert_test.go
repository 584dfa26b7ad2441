package detect

import (
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func TestAlertStateMachine(t *testing.T) {
	tr := &Tracked{Alert: schemas.Alert{ID: "x", Rule: "r"}}
	if _, ok := tr.to(schemas.AlertResolved, t0); ok {
		t.Fatal("inactive cannot resolve")
	}
	if _, ok := tr.to(schemas.AlertPending, t0); !ok {
		t.Fatal("pending")
	}
	if _, ok := tr.to(schemas.AlertResolved, t0); ok || tr.State() != schemas.AlertInactive {
		t.Fatal("pending that clears goes inactive silently")
	}
	tr.to(schemas.AlertFiring, t0)
	if _, ok := tr.to(schemas.AlertFiring, t0.Add(time.Hour)); ok {
		t.Fatal("firing twice must be deduplicated")
	}
	if _, ok := tr.to(schemas.AlertPending, t0); ok {
		t.Fatal("firing does not go back to pending")
	}
	a, ok := tr.to(schemas.AlertResolved, t0.Add(time.Hour))
	if !ok || a.State.String() != "resolved" || !a.At.Equal(t0) || !a.EndsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("%+v", a)
	}
}
