package stagebench_test

import (
	"context"
	"testing"

	"github.com/salespulse/salespulse/benchmarks/stagebench"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkVendorDecodePseudonymise is the per-record cost before the
// pipeline's stages on the generator's vendor mix (Salesforce CDC, HubSpot
// webhooks, Zoom, Graph, Aircall, Twilio, canonical; ~0.5 KB average, up to
// a few KB): decode, normalise, validate, then pseudonymise. One op is one
// record; events/s per core is 1/(ns/op).
//
//	go test ./benchmarks/stagebench -run '^$' -bench . -benchtime=200ms -count=6 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkVendorDecodePseudonymise(b *testing.B) {
	recs, decs, _, err := stagebench.VendorMix(20000)
	if err != nil {
		b.Fatal(err)
	}
	p, err := privacy.New(privacy.Config{Key: privacy.DevKey()})
	if err != nil {
		b.Fatal(err)
	}
	var total int
	for _, r := range recs {
		total += len(r.Value)
	}
	b.SetBytes(int64(total / len(recs)))
	b.ReportAllocs()
	var dst []schemas.Interaction
	var events int
	k := 0
	for b.Loop() {
		r := &recs[k%len(recs)]
		k++
		dst, err = decs[r.Vendor].Decode(dst[:0], r.Value)
		if err != nil {
			b.Fatalf("%s: %v", r.Vendor, err)
		}
		for j := range dst {
			p.Apply(&dst[j])
		}
		events += len(dst)
	}
	b.ReportMetric(float64(events)/float64(b.N), "interactions/op")
}

// BenchmarkAnomalyStage is the anomaly detection stage over generated
// interactions in batches of 2000 (the authorization matrix off: no org
// roles needed). One op is one batch.
func BenchmarkAnomalyStage(b *testing.B) { benchAnomalyStage(b, false) }

// BenchmarkAnomalyStageCheckpointed is the same with the state checkpointed
// after every batch, as the pipeline does (into an in-memory store).
func BenchmarkAnomalyStageCheckpointed(b *testing.B) { benchAnomalyStage(b, true) }

// BenchmarkAnomalyStageOrdered is the checkpointed stage as the leads flow
// runs it (Deps.Progress): each batch's progress is the latest event time
// of the batch two before it, so the SLA detector holds most lead events
// back for two batches (a drain's upstreams run that far apart) and
// applies them in event-time order.
func BenchmarkAnomalyStageOrdered(b *testing.B) { benchAnomalyStageWith(b, true, true) }

func benchAnomalyStage(b *testing.B, checkpoint bool) { benchAnomalyStageWith(b, checkpoint, false) }

func benchAnomalyStageWith(b *testing.B, checkpoint, ordered bool) {
	batches, org, err := stagebench.CanonicalBatches(200000, 2000)
	if err != nil {
		b.Fatal(err)
	}
	if ordered {
		for k, bt := range batches {
			if k >= 2 {
				for _, i := range batches[k-2].Interactions {
					if i.OccurredAt.After(bt.Progress) {
						bt.Progress = i.OccurredAt
					}
				}
			}
		}
	}
	// Batches are replayed in a loop; the stage ignores offsets it has
	// seen, so each pass gets a fresh stage (and store).
	newStage := func() *anomaly.Stage {
		deps := anomaly.Deps{Progress: ordered}
		if checkpoint {
			deps.State = state.NewMemory()
		}
		det, err := anomaly.New(anomaly.Config{}, nil, schemas.NewIndex(org), deps, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		return det.NewStage()
	}
	st := newStage()
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		if k == len(batches) {
			b.StopTimer()
			k, st = 0, newStage()
			b.StartTimer()
		}
		bt := batches[k]
		bt.Alerts = bt.Alerts[:0]
		if err := st.Process(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
		k++
	}
	b.ReportMetric(float64(len(batches[0].Interactions)), "interactions/op")
}

// BenchmarkOpenLeadBytes reports the anomaly stage's memory per open
// (unanswered) lead; the end-to-end harness prints the same figure.
func BenchmarkOpenLeadBytes(b *testing.B) {
	var bpl float64
	for b.Loop() {
		var err error
		if bpl, err = stagebench.OpenLeadBytes(100000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(bpl, "B/lead")
}
