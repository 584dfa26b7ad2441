// Package stagebench measures pipeline stages that have no benchmark in
// their own package: the anomaly stage's throughput and the memory it keeps
// per open lead, and vendor decoding over the generator's vendor mix (the
// ~1 KB payloads the per-core throughput target is about). The end-to-end
// harness (benchmarks/cmd/bench) prints OpenLeadBytes beside its table.
package stagebench

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
	"github.com/salespulse/salespulse/sources/kafka"
)

// OpenLeadBytes feeds n leads that are never answered into a fresh anomaly
// stage and returns the heap it holds per open lead (map entry, lead
// record, its strings and its two SLA deadlines). Interaction strings are
// allocated per lead as a decoder would, so they count too.
func OpenLeadBytes(n int) (float64, error) {
	det, err := anomaly.New(anomaly.Config{}, nil, nil, anomaly.Deps{}, nil, nil)
	if err != nil {
		return 0, err
	}
	st := det.NewStage()
	const per = 1000
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := schemas.NewBatch(schemas.Origin{Topic: canonical.DefaultTopic}, func(error) {})
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

// Record is one generated Kafka record value and the vendor that wrote it.
type Record struct {
	Vendor string
	Value  []byte
}

// VendorMix renders the first n interactions of the default generator
// (40 teams, seed 1) as vendor payloads, the way ProduceVendor writes them,
// and returns them with one decoder per vendor, built as internal/app
// builds them (default source configs, the generator's org).
func VendorMix(n int) ([]Record, map[string]kafka.Decoder, *schemas.Org, error) {
	gc := gen.DefaultConfig()
	gc.Teams, gc.Days = 40, 0
	g, err := gen.New(gc)
	if err != nil {
		return nil, nil, nil, err
	}
	enc := gen.NewVendorEncoder(g, false)
	var recs []Record
	var in schemas.Interaction
	for range n {
		key, _ := g.Next(&in)
		for _, r := range enc.Encode(&in, key) {
			recs = append(recs, Record{Vendor: r.Vendor, Value: bytes.Clone(r.Value)})
		}
	}
	var ac app.Config
	ac.SetDefaults()
	idx := schemas.NewIndex(g.Org())
	decs := map[string]kafka.Decoder{}
	for _, v := range sources.Vendors() {
		d, err := v.NewDecoder(ac.Sources[v.Name].Options, idx, nil)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("vendor decoders: %s: %w", v.Name, err)
		}
		decs[v.Name] = d
	}
	return recs, decs, g.Org(), nil
}

// CanonicalBatches returns n generated interactions (40 teams, seed 1) in
// batches of size, decoded as the pipeline would see them.
func CanonicalBatches(n, size int) ([]*schemas.Batch, *schemas.Org, error) {
	gc := gen.DefaultConfig()
	gc.Teams, gc.Days = 40, 0
	g, err := gen.New(gc)
	if err != nil {
		return nil, nil, err
	}
	var out []*schemas.Batch
	var b *schemas.Batch
	for k := range n {
		if k%size == 0 {
			b = schemas.NewBatch(schemas.Origin{Topic: canonical.DefaultTopic, FirstOffset: int64(k)}, func(error) {})
			out = append(out, b)
		}
		var in schemas.Interaction
		g.Next(&in)
		b.Interactions = append(b.Interactions, in)
		b.Origin.LastOffset = int64(k)
	}
	return out, g.Org(), nil
}
