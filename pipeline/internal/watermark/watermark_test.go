package watermark

import (
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func TestMinOverActiveUpstreams(t *testing.T) {
	u := New(time.Minute)
	if _, ok := u.Min(); ok {
		t.Fatal("progress before any mark")
	}
	u.Observe("a/0", 100, true, t0)
	u.Observe("b/0", 50, true, t0)
	u.Observe("a/0", 90, true, t0) // marks do not go back
	if m, _ := u.Min(); m != 50 {
		t.Fatalf("min = %d, want 50", m)
	}
	// a keeps sending for two minutes of its clock: b is idle.
	u.Observe("a/0", 200, true, t0.Add(2*time.Minute))
	if m, _ := u.Min(); m != 200 {
		t.Fatalf("min with b idle = %d, want 200", m)
	}
	// Silent behind its input (a crashed instance's partition): it holds.
	u.Observe("c/0", 60, false, t0)
	if m, _ := u.Min(); m != 60 {
		t.Fatalf("min with c lagging = %d, want 60", m)
	}
	var changed []string
	u.Changed(func(id string, v []byte) {
		changed = append(changed, id)
		if !New(0).Restore(id, v) {
			t.Fatal("restore")
		}
	})
	if len(changed) != 3 {
		t.Fatalf("changed %v", changed)
	}
}

// Idleness is judged on send times, not on when marks are read: a view
// that reads a backlog late leaves nobody out.
func TestIdlenessFollowsSendTimes(t *testing.T) {
	u := New(time.Minute)
	u.Observe("a/0", 100, true, t0)
	u.Observe("b/0", 50, true, t0.Add(time.Second))
	// Read ten minutes later, the marks were still sent a second apart.
	if m, _ := u.Min(); m != 50 {
		t.Fatalf("min = %d, want 50", m)
	}
}

func TestExpectedAndDormant(t *testing.T) {
	u := New(time.Minute)
	u.Expect([]string{"crm/0", "crm/1"}, 0)
	u.Dormant([][]string{{"calls/0", "calls/1"}, {"zoom/0"}}, 10*time.Second)
	u.Observe("crm/0", 100, false, t0)
	if _, ok := u.Min(); ok {
		t.Fatal("crm/1 has not reported: no progress")
	}
	u.Observe("crm/1", 120, false, t0.Add(time.Second))
	if m, ok := u.Min(); !ok || m != 100 {
		t.Fatalf("min = %d %v, want 100: dormant topics hold nothing", m, ok)
	}
	// calls/0 reports: calls/1 is now waited for (its data is arriving).
	u.Observe("calls/0", 200, false, t0.Add(2*time.Second))
	if _, ok := u.Min(); ok {
		t.Fatal("calls/1 must hold progress back once calls woke")
	}
	// Marks sent more than the grace later leave calls/1 out.
	u.Observe("crm/0", 130, false, t0.Add(13*time.Second))
	if m, _ := u.Min(); m != 120 {
		t.Fatalf("after the grace calls/1 is left out: min = %d, want 120", m)
	}
}

func TestTicksAreAFloor(t *testing.T) {
	u := New(time.Minute)
	u.Expect([]string{"crm/0"}, 0)
	u.Observe(TickID, 500, true, t0)
	if m, ok := u.Min(); !ok || m != 500 {
		t.Fatalf("a tick moves a quiet view: %d %v", m, ok)
	}
	u.Observe("crm/0", 100, false, t0)
	if m, _ := u.Min(); m != 500 {
		t.Fatalf("progress never goes below the latest tick: %d", m)
	}
	u.Observe("crm/0", 900, false, t0)
	if m, _ := u.Min(); m != 900 {
		t.Fatalf("upstreams past the tick lead: %d", m)
	}
	r := New(time.Minute)
	u.Changed(func(id string, v []byte) { r.Restore(id, v) })
	if m, _ := r.Min(); m != 900 {
		t.Fatalf("restored view: %d, want 900 (crm/0) over the 500 tick", m)
	}
}
