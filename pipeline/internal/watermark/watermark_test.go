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
