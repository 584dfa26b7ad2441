package detect

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// firer fires one alert per interaction, the way a detector that pages
// often does: the alerts a batch emits are what the stage remembers for a
// redelivery.
type firer struct{}

func (firer) Kinds() []byte { return []byte{'F'} }

func (firer) NewState(p *Partition, _ Queue) State { return firerState{p} }

type firerState struct{ p *Partition }

func (s firerState) Apply(i *schemas.Interaction) {
	t := &Tracked{Alert: schemas.Alert{ID: "a-" + i.EventID, Rule: "r", EventIDs: []string{i.EventID},
		Values: map[string]string{"lead_id": i.LeadID, "channel": "phone", "sla": "5m0s"}}}
	s.p.Emit(t, schemas.AlertFiring, i.OccurredAt)
}

func (firerState) Encode(b []byte, _ Key) ([]byte, bool) { return b, false }
func (firerState) Decode(k Key, r *Reader) error         { return r.Done(k) }

// retainedPerEvent runs batches of per events through a stage with a
// state store whose committed offset follows the batches one behind (the
// consumer group commits what the sinks acknowledged), and returns the
// heap the stage keeps per event processed.
func retainedPerEvent(tb testing.TB, batches, per int) float64 {
	tb.Helper()
	store := state.NewMemory()
	r, err := New(Options{State: store}, []Detector{firer{}}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	st := r.NewStage()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for k := range batches {
		b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: int64(k * per), LastOffset: int64(k*per + per - 1)}, nil)
		for j := range per {
			n := k*per + j
			b.Interactions = append(b.Interactions, schemas.Interaction{EventID: "evt-" + strconv.Itoa(n),
				LeadID: "L-" + strconv.Itoa(n), OccurredAt: t0.Add(timeMs(n))})
		}
		if err := st.Process(context.Background(), b); err != nil {
			tb.Fatal(err)
		}
		store.SetCommitted("in", 0, b.Origin.FirstOffset) // the previous batch is acknowledged
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(st)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(batches*per)
}

// BenchmarkRecentRetained is the heap the stage keeps per event after 64
// batches of 1,000 events, each firing an alert, with the consumer group
// committing one batch behind: the alerts remembered for a redelivery
// (retained-B/event), and the cost of processing (ns, B and allocs per
// batch of 64,000 events).
//
//	go test ./pipeline/anomaly/detect -run '^$' -bench RecentRetained -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkRecentRetained(b *testing.B) {
	b.ReportAllocs()
	var kept float64
	for b.Loop() {
		kept = retainedPerEvent(b, 64, 1000)
	}
	b.ReportMetric(kept, "retained-B/event")
}

// A redelivered batch still below the committed offset is not remembered,
// but is answered exactly: the store restores the state as of its first
// offset and the detectors emit its alerts again.
func TestRecentForgetsCommittedBatches(t *testing.T) {
	store := state.NewMemory()
	r, err := New(Options{State: store}, []Detector{firer{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := r.NewStage()
	batch := func(k int) *schemas.Batch {
		b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: int64(k * 10), LastOffset: int64(k*10 + 9)}, nil)
		for j := range 10 {
			n := k*10 + j
			b.Interactions = append(b.Interactions, schemas.Interaction{EventID: "evt-" + strconv.Itoa(n), OccurredAt: t0.Add(timeMs(n))})
		}
		return b
	}
	for k := range 5 {
		if err := st.Process(context.Background(), batch(k)); err != nil {
			t.Fatal(err)
		}
	}
	store.SetCommitted("in", 0, 30)
	if err := st.Process(context.Background(), batch(5)); err != nil {
		t.Fatal(err)
	}
	p := st.Partition("in", 0)
	if len(p.recent) != 3 || p.recent[0].origin.FirstOffset != 30 {
		t.Fatalf("remembered %d batches from %d, want 3 from offset 30", len(p.recent), p.recent[0].origin.FirstOffset)
	}
	for _, k := range []int{4, 1} { // remembered; forgotten (restored from the store)
		b := batch(k)
		if err := st.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if len(b.Alerts) != 10 || b.Alerts[0].ID != "a-evt-"+strconv.Itoa(k*10) {
			t.Fatalf("batch %d again: %d alerts, want its 10", k, len(b.Alerts))
		}
	}
}

func timeMs(n int) time.Duration { return time.Duration(n) * time.Millisecond }
