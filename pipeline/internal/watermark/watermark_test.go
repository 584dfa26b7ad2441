package watermark

import (
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
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

// MinIdle leaves a caught-up upstream out after its shorter timeout (the
// lead resolver's leads.resolve_idle), while Min still waits for it; an
// upstream behind its input is waited for by both; an expected upstream
// that never reported is left out after the shorter of its grace and the
// timeout.
func TestMinIdle(t *testing.T) {
	u := New(time.Minute)
	u.Observe("crm/0", 50, true, t0)
	u.Observe("tel/0", 100, true, t0)
	if m, _ := u.MinIdle(2 * time.Second); m != 50 {
		t.Fatalf("MinIdle before any silence = %d, want 50", m)
	}
	u.Observe("tel/0", 300, true, t0.Add(3*time.Second))
	if m, _ := u.MinIdle(2 * time.Second); m != 300 {
		t.Fatalf("MinIdle with crm/0 quiet for 3s = %d, want 300", m)
	}
	if m, _ := u.Min(); m != 50 {
		t.Fatalf("Min with crm/0 quiet for 3s = %d, want 50 (idle timeout 1m)", m)
	}
	u.Observe("crm/1", 70, false, t0) // behind its input
	if m, _ := u.MinIdle(2 * time.Second); m != 70 {
		t.Fatalf("MinIdle with crm/1 lagging = %d, want 70", m)
	}
	// Expected and never heard, or restored after a restart (it may have
	// been lagging): MinIdle waits for it as long as Min does.
	v := New(time.Minute)
	v.Expect([]string{"crm/0"}, 0)
	v.Restore("crm/1", binary.BigEndian.AppendUint64(nil, 40))
	v.Observe("tel/0", 100, true, t0)
	v.Observe("tel/0", 200, true, t0.Add(3*time.Second))
	if m, ok := v.MinIdle(2 * time.Second); ok && m != None {
		t.Fatalf("MinIdle with crm/0 expected, never reported = %d, want none yet", m)
	}
	v.Observe("crm/0", 150, true, t0.Add(3*time.Second))
	if m, _ := v.MinIdle(2 * time.Second); m != 40 {
		t.Fatalf("MinIdle with crm/1 restored = %d, want 40", m)
	}
	v.Observe("tel/0", 300, true, t0.Add(time.Minute+4*time.Second))
	if m, _ := v.MinIdle(2 * time.Second); m != 300 {
		t.Fatalf("MinIdle a minute after the restore = %d, want 300", m)
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

// A relay (the leads topic's resolvers) gets the ticks itself and passes
// them on in its marks after what it releases at them: the floor lifts the
// other upstreams, never a relay, so progress waits for every relay.
func TestTicksWaitForRelays(t *testing.T) {
	u := New(time.Minute)
	u.Expect([]string{"crm/0", "contacts/0", "contacts/1"}, 0)
	u.Relays([]string{"contacts/0", "contacts/1"})
	u.Observe(TickID, 500, true, t0)
	if m, ok := u.Min(); ok {
		t.Fatalf("a tick moved progress past relays that had not reported: %d", m)
	}
	u.Observe("crm/0", 100, true, t0)
	u.Observe("contacts/0", 100, false, t0)
	u.Observe("contacts/1", 100, false, t0)
	if m, _ := u.Min(); m != 100 {
		t.Fatalf("progress %d, want 100: the relays are at 100 whatever the tick says", m)
	}
	u.Observe("contacts/0", 500, false, t0)
	if m, _ := u.Min(); m != 100 {
		t.Fatalf("progress %d, want 100: contacts/1 has not relayed the tick", m)
	}
	u.Observe("contacts/1", 500, false, t0)
	if m, _ := u.Min(); m != 500 {
		t.Fatalf("progress %d, want the tick's 500: crm/0 is lifted, both relays passed it on", m)
	}
	u.Observe("contacts/1", 400, false, t0) // marks only move forward
	if m, _ := u.Min(); m != 500 {
		t.Fatalf("progress %d after a stale relay mark", m)
	}
}

// Idleness under virtual time: upstreams send marks from their own
// goroutines on their own clocks; b goes quiet having consumed all its
// input, c goes quiet behind its input (a crashed instance). A reader
// that keeps up and one that stalls for ten minutes and then reads the
// backlog see the same progress after every mark: idleness follows the
// marks' send times, not reading times, so a replay decides the same.
func TestIdlenessInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 30 * time.Second
		type mark struct {
			id   string
			t    int64
			end  bool
			sent time.Time
		}
		marks := make(chan mark, 1024)
		start := time.Now()
		send := func(id string, every, stopAfter time.Duration, end bool) {
			for at := start; at.Sub(start) <= stopAfter; at = at.Add(every) {
				time.Sleep(time.Until(at))
				// An upstream's event time trails its wall clock by a minute.
				marks <- mark{id, at.Add(-time.Minute).UnixMilli(), end, time.Now()}
			}
		}
		var wg sync.WaitGroup
		for _, s := range []struct {
			id               string
			every, stopAfter time.Duration
			end              bool
		}{
			{"a/0", time.Second, 3 * time.Minute, true},
			{"b/0", time.Second, 20 * time.Second, true},   // quiet, all consumed: left out
			{"c/0", time.Second, 100 * time.Second, false}, // silent behind its input: holds
		} {
			wg.Go(func() { send(s.id, s.every, s.stopAfter, s.end) })
		}
		wg.Wait()
		close(marks)

		var got []mark
		for m := range marks {
			got = append(got, m)
		}
		mins := func(stall time.Duration) []int64 {
			time.Sleep(stall)
			u := New(idle)
			u.Expect([]string{"a/0", "b/0", "c/0"}, 0)
			out := make([]int64, len(got))
			for k, m := range got {
				u.Observe(m.id, m.t, m.end, m.sent)
				out[k], _ = u.Min()
			}
			return out
		}
		live, stalled := mins(0), mins(10*time.Minute)
		if !slices.Equal(live, stalled) {
			t.Fatal("a reader that stalled decided otherwise than a live one")
		}
		at := func(d time.Duration) int64 { return start.Add(d - time.Minute).UnixMilli() }
		final := live[len(live)-1]
		if final != at(100*time.Second) {
			t.Errorf("final progress %s, want c's last mark (%s): c went silent behind its input",
				time.UnixMilli(final).Sub(start), 100*time.Second-time.Minute)
		}
		// b's last mark (20 s) is left out once a's marks are sent more
		// than idle after it: progress passes 20 s at a's 51 s mark.
		for k, m := range got {
			if m.id == "a/0" && m.sent.Sub(start) == 51*time.Second {
				if live[k] <= at(20*time.Second) {
					t.Errorf("progress at a's 51 s mark %s: b, quiet for 31 s with all consumed, still holds it",
						time.UnixMilli(live[k]).Sub(start))
				}
			}
			if m.id == "a/0" && m.sent.Sub(start) == 50*time.Second {
				if live[k] != at(20*time.Second) {
					t.Errorf("progress at a's 50 s mark %s, want b's last mark: not yet idle", time.UnixMilli(live[k]).Sub(start))
				}
			}
		}
	})
}
