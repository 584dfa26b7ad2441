// Package stagebench measures pipeline stages that have no benchmark in
// their own package: the anomaly stage's throughput and the memory it keeps
// per open lead, and vendor decoding over the generator's vendor mix (the
// ~1 KB payloads the per-core throughput target is about). The end-to-end
// harness (benchmarks/cmd/bench) prints OpenLeadBytes beside its table.
package stagebench

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
)

// OpenLeadBytes feeds n leads that are never answered into a fresh anomaly
// stage and returns the heap it holds per open lead (map entry, lead
// record, its strings and its two SLA deadlines). Interaction strings are
// allocated per lead as a decoder would, so they count too.
func OpenLeadBytes(n int) (float64, error) {
	det, err := anomaly.New(anomaly.Config{}, nil, nil, nil, nil)
	if err != nil {
		return 0, err
	}
	st := det.NewStage()
	const per = 1000
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := schemas.NewBatch(schemas.Origin{Topic: "sales.canonical"}, func(error) {})
	for k := 0; k < n; k += per {
		b.Interactions = b.Interactions[:0]
		for j := k; j < min(k+per, n); j++ {
			b.Interactions = append(b.Interactions, schemas.Interaction{
				EventID:    "evt-" + strconv.Itoa(j),
				OccurredAt: t0.Add(time.Duration(j) * time.Millisecond), // all within the SLA: none fires, none is forgotten
				Source:     "bench", Type: schemas.TypeLeadCreated, Channel: schemas.ChannelCRM,
				RepID: "rep-" + strconv.Itoa(j%320), TeamID: "team-" + strconv.Itoa(j%40),
				LeadID: "L-" + strconv.Itoa(j),
			})
		}
		b.Origin.FirstOffset, b.Origin.LastOffset = int64(k), int64(k+len(b.Interactions)-1)
		if err := st.Process(context.Background(), b); err != nil {
			return 0, fmt.Errorf("process: %w", err)
		}
	}
	b.Interactions = nil // only the stage may keep anything now
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(st)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n), nil
}
