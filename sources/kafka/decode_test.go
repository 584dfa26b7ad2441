package kafka

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// funcDecoder decodes a value into one interaction whose EventID is the
// value, after running hook.
type funcDecoder struct{ hook func(v string) }

func (d funcDecoder) Decode(dst []schemas.Interaction, v []byte) ([]schemas.Interaction, error) {
	d.hook(string(v))
	return append(dst, schemas.Interaction{EventID: string(v), Source: "test", Type: schemas.TypeLeadCreated}), nil
}

// A decoder stuck in one partition's record must not stop the poll loop:
// other partitions are fetched, decoded and handed out meanwhile, and the
// stuck partition's batch follows, in offset order, once it is released.
func TestSlowDecoderDoesNotStallOtherPartitions(t *testing.T) {
	c := newCluster(t, 2)
	produce(t, c, "in", 0, "slow", "a1", "a2")
	produce(t, c, "in", 1, "b0", "b1", "b2")

	var released atomic.Bool
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { released.Store(true); close(release) }) }
	// Were decoding on the poll goroutine, Next would sit in the decoder:
	// let the test fail instead of hang.
	time.AfterFunc(10*time.Second, free)
	t.Cleanup(free)
	dec := funcDecoder{hook: func(v string) {
		if v == "slow" {
			<-release
		}
	}}
	s, err := NewSource(testConfig(c, func(c *Config) { c.DecodeWorkers = 2 }),
		map[string]Decoder{"in": dec}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(t.Context()) })

	b := next(t, s)
	if released.Load() {
		t.Fatalf("the first batch (%v) came only after the slow decoder was released", b.Origin)
	}
	if b.Origin.Partition != 1 || fmt.Sprint(eventIDs(b)) != "[b0 b1 b2]" {
		t.Fatalf("while partition 0 decodes, got %v %v, want partition 1's [b0 b1 b2]", b.Origin, eventIDs(b))
	}
	b.Ack(nil)
	free()
	b = next(t, s)
	if b.Origin.Partition != 0 || fmt.Sprint(eventIDs(b)) != "[slow a1 a2]" {
		t.Fatalf("after the release got %v %v, want partition 0's [slow a1 a2]", b.Origin, eventIDs(b))
	}
	b.Ack(nil)
}

// Decoding runs on several goroutines at once, yet every partition's
// batches are contiguous and in offset order, and no record is lost or
// repeated.
func TestConcurrentDecodingKeepsPartitionOrder(t *testing.T) {
	const parts, perPart = 4, 240
	c := newCluster(t, parts)
	for p := range int32(parts) {
		// Several produce calls: several record batches, several fetches.
		for k := 0; k < perPart; k += 40 {
			var vs []string
			for j := k; j < k+40; j++ {
				vs = append(vs, fmt.Sprintf("p%d-%03d", p, j))
			}
			produce(t, c, "in", p, vs...)
		}
	}
	var busy, most atomic.Int32
	dec := funcDecoder{hook: func(string) {
		n := busy.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		busy.Add(-1)
	}}
	s, err := NewSource(testConfig(c, func(c *Config) { c.DecodeWorkers = 4; c.BatchMaxRows = 7 }),
		map[string]Decoder{"in": dec}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(t.Context()) })

	nextOff := map[int32]int64{}
	nextID := map[int32]int{}
	for total := 0; total < parts*perPart; {
		b := next(t, s)
		o := b.Origin
		if o.FirstOffset != nextOff[o.Partition] {
			t.Fatalf("batch %v does not start where its partition's previous one ended (%d)", o, nextOff[o.Partition])
		}
		for _, id := range eventIDs(b) {
			if want := fmt.Sprintf("p%d-%03d", o.Partition, nextID[o.Partition]); id != want {
				t.Fatalf("partition %d: got %s, want %s", o.Partition, id, want)
			}
			nextID[o.Partition]++
		}
		if !strings.HasPrefix(eventIDs(b)[0], fmt.Sprintf("p%d-", o.Partition)) {
			t.Fatalf("batch %v holds another partition's records", o)
		}
		nextOff[o.Partition] = o.LastOffset + 1
		total += b.Len()
		b.Ack(nil)
	}
	if most.Load() < 2 {
		t.Errorf("at most %d records were decoded at once, want decoding on several goroutines", most.Load())
	}
}
