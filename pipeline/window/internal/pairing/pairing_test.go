package pairing

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkBytesPerOpenLead measures heap per open lead: N leads with a
// finalised trigger and no response (the steady state of a lead waiting).
// Ids: 9-byte lead ids, 14-byte event ids, shared rep/team ids.
func BenchmarkBytesPerOpenLead(b *testing.B) {
	const n = 200000
	for b.Loop() {
		p := New(int64(7*24*time.Hour/time.Millisecond), int64(30*24*time.Hour/time.Millisecond), false, nil)
		ids := make([]string, n)
		evIDs := make([]string, n)
		for k := range ids {
			ids[k] = fmt.Sprintf("lead-%04d", k)
			evIDs[k] = fmt.Sprintf("evt-%010d", k)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for k := range n {
			p.Add(Lead, ids[k], Event{At: int64(k), Off: int64(k), ID: evIDs[k], Rep: "rep-0001", Team: "team-01", Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM, Kind: Open})
		}
		p.Finalise(int64(n)+1, int64(n), nil)
		p.GC(1 << 62)
		p.dirty = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if p.OpenCount(Lead) != n {
			b.Fatalf("%d open", p.OpenCount(Lead))
		}
		// Key strings are cloned by add; the caller's ids are garbage, but
		// the trigger's event id is kept: count it.
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/lead")
		runtime.KeepAlive(p)
		runtime.KeepAlive(evIDs)
	}
}
