package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// sliceSource hands out prepared batches, then blocks until ctx is done. It
// records every Ack so tests can check what would be committed.
type sliceSource struct {
	mu      sync.Mutex
	batches []*schemas.Batch
	acks    map[schemas.Origin]error
	done    chan struct{}
}

func newSliceSource(bs ...*schemas.Batch) *sliceSource {
	s := &sliceSource{acks: map[schemas.Origin]error{}, done: make(chan struct{})}
	for _, b := range bs {
		o := b.Origin
		b.SetAck(func(err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.acks[o] = err
			if len(s.acks) == len(bs) {
				close(s.done)
			}
		})
		s.batches = append(s.batches, b)
	}
	return s
}

// runUntilAcked runs a pipeline over src until src has every batch's ack,
// stops it, and fails t if Run returned an error.
func runUntilAcked(t *testing.T, cfg Config, src *sliceSource, stages func(int) []Stage, sink Sink) *Pipeline {
	t.Helper()
	p, err := New(cfg, src, stages, sink, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	<-src.done
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	return p
}

func (s *sliceSource) Next(ctx context.Context) (*schemas.Batch, error) {
	s.mu.Lock()
	if len(s.batches) > 0 {
		b := s.batches[0]
		s.batches = s.batches[1:]
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

type recordingSink struct {
	mu    sync.Mutex
	order map[int32][]int64 // partition -> first offsets in write order
	fail  map[int64]error   // first offset -> error to return
}

func (r *recordingSink) Write(_ context.Context, b *schemas.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail[b.Origin.FirstOffset]; err != nil {
		return err
	}
	if r.order == nil {
		r.order = map[int32][]int64{}
	}
	r.order[b.Origin.Partition] = append(r.order[b.Origin.Partition], b.Origin.FirstOffset)
	return nil
}

func batch(p int32, first, last int64, n int) *schemas.Batch {
	b := schemas.NewBatch(schemas.Origin{Topic: "t", Partition: p, FirstOffset: first, LastOffset: last}, nil)
	for k := 0; k < n; k++ {
		b.Interactions = append(b.Interactions, schemas.Interaction{EventID: "e", OccurredAt: time.Unix(0, 0)})
	}
	return b
}

func TestPipelineKeepsPartitionOrderAndAcksAfterWrite(t *testing.T) {
	var bs []*schemas.Batch
	for off := int64(0); off < 50; off += 10 {
		for p := int32(0); p < 4; p++ {
			bs = append(bs, batch(p, off, off+9, 3))
		}
	}
	src := newSliceSource(bs...)
	sink := &recordingSink{}
	var seen sync.Map
	stages := func(w int) []Stage {
		return []Stage{StageFunc(func(_ context.Context, b *schemas.Batch) error {
			if prev, ok := seen.LoadOrStore(b.Origin.Partition, w); ok && prev.(int) != w {
				t.Errorf("partition %d seen by workers %d and %d", b.Origin.Partition, prev, w)
			}
			return nil
		})}
	}
	p := runUntilAcked(t, Config{Workers: 3}, src, stages, sink)
	for o, err := range src.acks {
		if err != nil {
			t.Errorf("batch %s acked with %v", o, err)
		}
	}
	for part, offs := range sink.order {
		for k := 1; k < len(offs); k++ {
			if offs[k] < offs[k-1] {
				t.Errorf("partition %d written out of order: %v", part, offs)
			}
		}
	}
	if got := testutil.ToFloat64(p.m.interactions); got != 60 {
		t.Errorf("interactions stored = %v, want 60", got)
	}
}

func TestPipelineHandsBackABatchTheSinkRejected(t *testing.T) {
	boom := errors.New("schema mismatch")
	src := newSliceSource(batch(0, 0, 9, 1), batch(0, 10, 19, 1))
	sink := &recordingSink{fail: map[int64]error{10: boom}}
	p, err := New(Config{Workers: 1}, src, nil, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("run returned %v, want the sink's error", err)
	}
	<-src.done
	if e := src.acks[schemas.Origin{Topic: "t", Partition: 0, FirstOffset: 0, LastOffset: 9}]; e != nil {
		t.Errorf("stored batch acked with %v", e)
	}
	if e := src.acks[schemas.Origin{Topic: "t", Partition: 0, FirstOffset: 10, LastOffset: 19}]; !errors.Is(e, boom) {
		t.Errorf("rejected batch acked with %v, want the sink error so it is redelivered", e)
	}
}
