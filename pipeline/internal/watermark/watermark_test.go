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
	u.Observe("a/0", 100, now)
	u.Observe("b/0", 50, now)
	u.Observe("a/0", 90, now) // marks do not go back
	if m, _ := u.Min(now); m != 50 {
		t.Fatalf("min = %d, want 50", m)
	}
	u.Observe("a/0", 200, now.Add(2*time.Minute))
	if m, _ := u.Min(now.Add(2 * time.Minute)); m != 200 {
		t.Fatalf("min with b idle = %d, want 200", m)
	}
	var changed []string
	u.Changed(func(id string, v []byte) {
		changed = append(changed, id)
		r := New(0)
		if !r.Restore(id, v, now) {
			t.Fatal("restore")
		}
	})
	if len(changed) != 2 {
		t.Fatalf("changed %v", changed)
	}
}
