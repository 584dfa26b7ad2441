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

// BenchmarkEmitPending is a condition that turns pending and clears
// before it fires (a quote awaiting its approval request), with pending
// transitions not emitted (the default): nothing reaches the batch, so
// nothing should be copied.
//
//	go test ./pipeline/anomaly/detect -run '^$' -bench EmitPending -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkEmitPending(b *testing.B) {
	r, err := New(Options{}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := r.NewPartition(schemas.Origin{Topic: "in"})
	p.out = schemas.NewBatch(schemas.Origin{Topic: "in"}, nil)
	tr := &Tracked{Alert: schemas.Alert{ID: "a", Rule: "discount_without_approval", EventIDs: []string{"evt-1"},
		Values: map[string]string{"discount_pct": "25", "max_pct": "15", "account_id": "A-1", "tier": "2", "product_line": "core"}}}
	b.ReportAllocs()
	for b.Loop() {
		p.Emit(tr, schemas.AlertPending, t0)
		p.Emit(tr, schemas.AlertResolved, t0) // clears: back to inactive, silently
	}
	if len(p.out.Alerts) != 0 {
		b.Fatalf("%d alerts emitted", len(p.out.Alerts))
	}
}
