package detect

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// counter keeps a count per lead and per rep, touching both keys on every
// interaction as the SLA and activity detectors do: most touches find the
// key already touched by the batch.
type counter struct{}

func (counter) Kinds() []byte { return []byte{'L', 'R'} }

func (counter) NewState(p *Partition, _ Queue) State {
	return &counterState{p: p, n: map[Key]uint64{}}
}

type counterState struct {
	p *Partition
	n map[Key]uint64
}

func (s *counterState) Apply(i *schemas.Interaction) {
	for _, k := range [2]Key{{'L', i.LeadID}, {'R', i.RepID}} {
		s.p.Touch(k.Kind, k.ID)
		s.n[k]++
	}
}

func (s *counterState) Encode(b []byte, k Key) ([]byte, bool) {
	n, ok := s.n[k]
	return binary.AppendUvarint(b, n), ok
}

func (s *counterState) Decode(k Key, r *Reader) error {
	if err := r.Done(k); err != nil {
		return err
	}
	return nil
}

// counterStage is a stage of the counter detector over an in-memory
// state store.
func counterStage(tb testing.TB) (*state.Memory, *Stage) {
	tb.Helper()
	store := state.NewMemory()
	r, err := New(Options{State: store}, []Detector{counter{}}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return store, r.NewStage()
}

// BenchmarkTouchCheckpoint is the checkpointing's cost per event: batches
// of 1,000 interactions of 250 leads and 40 reps, two touches each, then
// the batch's checkpoint (versions, history drop, the changed records
// saved), the group committing one batch behind. ns/op is per batch.
//
//	go test ./pipeline/anomaly/detect -run '^$' -bench TouchCheckpoint -count=8 | tee new.txt
func BenchmarkTouchCheckpoint(b *testing.B) {
	store, st := counterStage(b)
	const per = 1000
	leads := make([]string, 4096)
	for k := range leads {
		leads[k] = "lead-" + strconv.Itoa(k)
	}
	reps := make([]string, 40)
	for k := range reps {
		reps[k] = "rep-" + strconv.Itoa(k)
	}
	batch := schemas.NewBatch(schemas.Origin{Topic: "in"}, nil)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		first := int64(n)
		batch.Reset()
		batch.Origin = schemas.Origin{Topic: "in", FirstOffset: first, LastOffset: first + per - 1}
		for j := range per {
			batch.Interactions = append(batch.Interactions, schemas.Interaction{
				EventID: "e", RepID: reps[(n+j)%len(reps)], LeadID: leads[((n+j)/4)%len(leads)],
				OccurredAt: t0.Add(timeMs(n + j))})
		}
		if err := st.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		store.SetCommitted("in", 0, first)
		n += per
	}
}

// Touch's bookkeeping across checkpoints: a key touched again after its
// checkpoint gets a new version, and one whose history was dropped is
// captured again at its next touch.
func TestTouchAfterCheckpoint(t *testing.T) {
	store, st := counterStage(t)
	for k := range 4 {
		b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: int64(k), LastOffset: int64(k)}, nil)
		b.Interactions = append(b.Interactions, schemas.Interaction{EventID: "e", RepID: "r", LeadID: "l", OccurredAt: t0.Add(timeMs(k))})
		if err := st.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		p := st.Partition("in", 0)
		if len(p.dirtyList) != 0 {
			t.Fatalf("batch %d: %d keys still dirty after the checkpoint", k, len(p.dirtyList))
		}
		h := p.hist[Key{'L', "l"}]
		if h == nil {
			t.Fatalf("batch %d: no history for the lead", k)
		}
		if last := h.vers[len(h.vers)-1]; last.Last != int64(k) {
			t.Fatalf("batch %d: newest version from batch %d", k, last.Last)
		}
		store.SetCommitted("in", 0, int64(k))
	}
}
