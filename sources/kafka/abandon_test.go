package kafka

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// A batch handed out and not acknowledged when its partition goes to
// another member reports itself abandoned once the revoke gave up waiting
// for it, and a batch of a partition kept does not. The pipeline checks it
// before each stage: in tests/leads' journeys test an instance processed
// such batches, queued behind a slow one, seconds after the revoke; their
// stages loaded the partition's state and so claimed the partition back
// from the member that owned it by then, fencing its saves.
func TestBatchAbandonedWhenItsPartitionIsRevoked(t *testing.T) {
	c := newCluster(t, 2)
	for p := range int32(2) {
		produce(t, c, "in", p, ids(int(p)*100, int(p)*100+4)...)
	}
	cfg := testConfig(c, func(c *Config) {
		c.BatchMaxRows = 2
		c.RevokeTimeout = 200 * time.Millisecond
	})
	member := func() *Source { return quickMember(t, cfg) }

	a := member()
	var relMu sync.Mutex
	var released []int32 // a's OnRelease: what the pipeline drops
	a.OnRelease(func(topic string, p int32) {
		relMu.Lock()
		defer relMu.Unlock()
		if topic == "in" {
			released = append(released, p)
		}
	})
	held := map[int32]*schemas.Batch{}
	for len(held) < 2 {
		b := next(t, a)
		if held[b.Origin.Partition] == nil {
			held[b.Origin.Partition] = b
		}
	}
	for p, b := range held {
		if b.Abandoned() {
			t.Fatalf("partition %d's batch %v abandoned before any rebalance", p, b.Origin)
		}
	}

	// A second member joins; a gives one partition up, its batch still
	// unacknowledged, once the revoke timeout passes.
	b := member()
	got := next(t, b)
	q := got.Origin.Partition
	if got.Origin.FirstOffset != 0 {
		t.Fatalf("second member's first batch %v, want partition %d from its start (nothing was committed)", got.Origin, q)
	}
	if !held[q].Abandoned() {
		t.Errorf("batch %v of the partition given up is not abandoned", held[q].Origin)
	}
	if held[1-q].Abandoned() {
		t.Errorf("batch %v of the partition kept is abandoned", held[1-q].Origin)
	}
	relMu.Lock()
	defer relMu.Unlock()
	if !slices.Equal(released, []int32{q}) {
		t.Errorf("a released partitions %v, want [%d], the one it gave up", released, q)
	}
}

// A batch handed out behind one handed back is abandoned: its range comes
// again after the one handed back. The batch handed back is too; the
// redelivery is not.
func TestBatchAbandonedBehindOneHandedBack(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "in", 0, ids(0, 4)...)
	s := newSource(t, testConfig(c, func(c *Config) { c.BatchMaxRows = 2 }))
	b1, b2 := next(t, s), next(t, s)
	if b1.Abandoned() || b2.Abandoned() {
		t.Fatalf("abandoned before any ack: %v %v", b1.Abandoned(), b2.Abandoned())
	}
	b1.Ack(errors.New("state store unavailable"))
	if !b1.Abandoned() || !b2.Abandoned() {
		t.Fatalf("after b1 was handed back: b1 abandoned %v, b2 abandoned %v; want both", b1.Abandoned(), b2.Abandoned())
	}
	again := next(t, s)
	if again.Origin != origin(0, 1) || again.Abandoned() {
		t.Fatalf("redelivery %v abandoned %v, want [0,1] not abandoned", again.Origin, again.Abandoned())
	}
}
