package ingress

import (
	"slices"
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var opened []bool
	b := &breaker{onOpen: func(open bool) { opened = append(opened, open) }}
	admit := func(wantOK, wantProbe bool) {
		t.Helper()
		if ok, probe := b.admit(); ok != wantOK || probe != wantProbe {
			t.Fatalf("admit = %v, %v; want %v, %v", ok, probe, wantOK, wantProbe)
		}
	}

	// Closed: everyone produces, acknowledgements change nothing.
	admit(true, false)
	admit(true, false)
	b.acked(at(0), false)
	// A stall opens it; from then on one probe at a time.
	b.failed(at(1), false)
	admit(true, true)
	admit(false, false)
	admit(false, false)
	// A second stall of a request admitted before does not add a probe.
	b.failed(at(1.5), false)
	admit(false, false)
	// An old record acknowledged (sent before the outage) does not close it.
	b.acked(at(0.5), false)
	admit(false, false)
	// The probe stalls: the next request probes.
	b.failed(at(2), true)
	admit(true, true)
	admit(false, false)
	// The probe's acknowledgement closes it.
	b.acked(at(2.5), true)
	admit(true, false)
	admit(true, false)
	// A refused record opens it again, and a stalled probe acknowledged
	// late still closes it: Kafka took a record after the breaker opened.
	b.failed(at(3), false)
	admit(true, true)
	b.failed(at(4), true)
	admit(true, true)
	b.acked(at(3.5), true)
	admit(true, false)

	if want := []bool{true, false, true, false}; !slices.Equal(opened, want) {
		t.Errorf("transitions %v, want %v", opened, want)
	}
}
