package watermark

import (
	"testing"
	"time"
)

func TestMinOverActiveUpstreams(t *testing.T) {
	now := time.Unix(1000, 0)
	u := New(time.Minute)
	if _, ok := u.Min(now); ok {
		t.Fatal("progress before any mark")
	}
	u.Observe("a/0", 100, true, now)
	u.Observe("b/0", 50, true, now)
	u.Observe("a/0", 90, true, now) // marks do not go back
	if m, _ := u.Min(now); m != 50 {
		t.Fatalf("min = %d, want 50", m)
	}
	u.Observe("a/0", 200, true, now.Add(2*time.Minute))
	if m, _ := u.Min(now.Add(2 * time.Minute)); m != 200 {
		t.Fatalf("min with b idle = %d, want 200", m)
	}
	// Silent behind its input (a crashed instance's partition): it holds.
	u.Observe("c/0", 60, false, now)
	if m, _ := u.Min(now.Add(2 * time.Minute)); m != 60 {
		t.Fatalf("min with c lagging = %d, want 60", m)
	}
	var changed []string
	u.Changed(func(id string, v []byte) {
		changed = append(changed, id)
		r := New(0)
		if !r.Restore(id, v, now) {
			t.Fatal("restore")
		}
	})
	if len(changed) != 3 {
		t.Fatalf("changed %v", changed)
	}
}

func TestDormantTopicsWakeTogether(t *testing.T) {
	now := time.Unix(1000, 0)
	u := New(time.Minute)
	u.Expect([]string{"crm/0"}, now, 0)
	u.Dormant([][]string{{"calls/0", "calls/1"}, {"zoom/0"}}, 10*time.Second)
	u.Observe("crm/0", 100, false, now)
	if m, ok := u.Min(now); !ok || m != 100 {
		t.Fatalf("min = %d %v, want 100: dormant topics hold nothing", m, ok)
	}
	// calls/0 reports: calls/1 is now waited for (its data is arriving).
	u.Observe("calls/0", 200, false, now)
	if _, ok := u.Min(now.Add(time.Second)); ok {
		t.Fatal("calls/1 must hold progress back once calls woke")
	}
	if m, _ := u.Min(now.Add(11 * time.Second)); m != 100 {
		t.Fatalf("after the grace calls/1 is left out: min = %d, want 100", m)
	}
}
