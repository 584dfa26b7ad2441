package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/pipeline/state"
	"github.com/salespulse/salespulse/schemas"
)

// A batch its source gave up while it waited in a worker's queue (its
// partition revoked past kafka.revoke_timeout) reaches no stage and no
// sink, and a batch given up between two stages goes no further: a stage
// loading the partition's state would claim the partition back from its
// new owner. tests/leads' journeys test did: an instance processed two
// revoked partitions' queued batches seconds after the revoke, and the
// new owner's next state save was fenced. Neither is a failure of the
// pipeline, nor a retry.
func TestPipelineSkipsBatchesItsSourceAbandoned(t *testing.T) {
	first := batch(0, 0, 9, 1)    // processed; its partition is revoked meanwhile
	queued := batch(0, 10, 19, 1) // waits behind it: abandoned before it starts
	mid := batch(1, 0, 9, 1)      // abandoned by the first stage
	kept := batch(1, 10, 19, 1)   // a later batch of a partition kept: not abandoned
	var revoked, revokedMid atomic.Bool
	queued.SetAbandoned(revoked.Load)
	mid.SetAbandoned(revokedMid.Load)
	src := newSliceSource(first, queued, mid, kept)

	var mu sync.Mutex
	seen := map[string][]schemas.Origin{}
	stage := func(name string, onProcess func(*schemas.Batch)) Stage {
		return StageFunc(func(_ context.Context, b *schemas.Batch) error {
			mu.Lock()
			seen[name] = append(seen[name], b.Origin)
			mu.Unlock()
			if onProcess != nil {
				onProcess(b)
			}
			return nil
		})
	}
	stages := func(int) []Stage {
		return []Stage{
			stage("load", func(b *schemas.Batch) {
				switch b {
				case first:
					revoked.Store(true)
				case mid:
					revokedMid.Store(true)
				}
			}),
			stage("window", nil),
		}
	}
	sink := &recordingSink{}
	p := runUntilAcked(t, Config{Workers: 1}, src, stages, sink) // an abandoned batch is no failure

	want := map[string][]schemas.Origin{
		"load":   {first.Origin, mid.Origin, kept.Origin},
		"window": {first.Origin, kept.Origin},
	}
	for name, w := range want {
		if got := seen[name]; !slices.Equal(got, w) {
			t.Errorf("stage %s processed %v, want %v", name, got, w)
		}
	}
	if got := sink.order; len(got[0]) != 1 || len(got[1]) != 1 || got[0][0] != 0 || got[1][0] != 10 {
		t.Errorf("sink stored first offsets %v, want partition 0: [0], partition 1: [10]", got)
	}
	for _, b := range []*schemas.Batch{queued, mid} {
		if err := src.acks[b.Origin]; !errors.Is(err, errAbandoned) {
			t.Errorf("abandoned batch %v acked with %v, want errAbandoned", b.Origin, err)
		}
	}
	for _, b := range []*schemas.Batch{first, kept} {
		if err := src.acks[b.Origin]; err != nil {
			t.Errorf("batch %v acked with %v, want nil", b.Origin, err)
		}
	}
	if got := testutil.ToFloat64(p.m.abandoned); got != 2 {
		t.Errorf("abandoned = %v, want 2", got)
	}
	if got := testutil.ToFloat64(p.m.retried); got != 0 {
		t.Errorf("retried = %v, want 0: an abandoned batch is not retried here", got)
	}
}

// A partition whose batch was handed back for a retry (its state save
// fenced), revoked before the retry came, and assigned back after its new
// owner moved the commit on, starts at a later offset: that first batch is
// live (its source did not give it up) and must be processed, not handed
// back as "behind the retry" — the source would rewind to it and bring it
// back forever.
func TestRetryEntryOfARevokedPartitionDoesNotHoldItsNextOwnership(t *testing.T) {
	fenced := batch(0, 100, 199, 1)   // handed back for a retry
	returned := batch(0, 300, 399, 1) // the partition back, committed at 300 by another instance
	live := func() bool { return false }
	fenced.SetAbandoned(live)
	returned.SetAbandoned(live)
	src := newSliceSource(fenced, returned)
	stages := func(int) []Stage {
		return []Stage{StageFunc(func(_ context.Context, b *schemas.Batch) error {
			if b == fenced {
				return fmt.Errorf("save: %w", state.ErrFenced)
			}
			return nil
		})}
	}
	sink := &recordingSink{}
	runUntilAcked(t, Config{Workers: 1}, src, stages, sink)
	if err := src.acks[returned.Origin]; err != nil {
		t.Fatalf("the returned partition's first batch acked with %v, want stored", err)
	}
	if got := sink.order[0]; !slices.Equal(got, []int64{300}) {
		t.Fatalf("sink stored first offsets %v, want [300]", got)
	}
}
