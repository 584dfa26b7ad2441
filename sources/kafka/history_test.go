package kafka

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/schemas"
)

func TestPlanFromHistory(t *testing.T) {
	f := func(from int64, stored [][2]int64, wantStart int64, wantEnds []int64) {
		t.Helper()
		var os []schemas.Origin
		for _, r := range stored {
			os = append(os, origin(r[0], r[1]))
		}
		start, ends := planFromHistory(os, from)
		if start != wantStart || !slices.Equal(ends, wantEnds) {
			t.Errorf("from %d, stored %v: start %d ends %v, want %d %v", from, stored, start, ends, wantStart, wantEnds)
		}
	}
	// A new group (nothing committed) replays every stored cut.
	f(-1, [][2]int64{{0, 9}, {10, 14}, {15, 40}}, -1, []int64{9, 14, 40})
	// Unsorted input; a gap (a batch that stored no rows) becomes its own cut.
	f(-1, [][2]int64{{15, 40}, {0, 9}}, -1, []int64{9, 14, 40})
	// A gap before the first stored batch.
	f(0, [][2]int64{{5, 9}}, 0, []int64{4, 9})
	// Committed at a boundary: earlier cuts are not replayed.
	f(10, [][2]int64{{0, 9}, {10, 14}, {15, 40}}, 10, []int64{14, 40})
	// Committed inside a stored batch (offsets reset by a tool): start at
	// its first offset so the whole batch, and its token, comes again.
	f(12, [][2]int64{{0, 9}, {10, 14}, {15, 40}}, 10, []int64{14, 40})
	// Two cuttings of the same offsets already stored: the first chain wins.
	f(-1, [][2]int64{{0, 9}, {0, 20}, {5, 12}, {10, 20}}, -1, []int64{9, 20})
	// Nothing stored.
	f(7, nil, 7, nil)
}

// history is a CutHistory over a fixed list, as the ClickHouse sink would
// answer after the ranges were stored.
type history struct {
	mu      sync.Mutex
	origins []schemas.Origin
	calls   int
}

func (h *history) StoredOrigins(_ context.Context, topic string, parts []int32) ([]schemas.Origin, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	var out []schemas.Origin
	for _, o := range h.origins {
		if o.Topic == topic && slices.Contains(parts, o.Partition) {
			out = append(out, o)
		}
	}
	return out, nil
}

// A new consumer group, and a group whose offsets a tool reset, cut a
// replay as the stored batches were cut, so each insert repeats its token.
func TestReplayWithoutMetadataCutsAsStored(t *testing.T) {
	c := newCluster(t, 1)
	produce(t, c, "in", 0, ids(0, 30)...)
	h := &history{origins: []schemas.Origin{origin(0, 6), origin(7, 7), origin(8, 19), origin(25, 29)}}
	want := []schemas.Origin{origin(0, 6), origin(7, 7), origin(8, 19), origin(20, 24), origin(25, 29)}

	run := func(group string) {
		t.Helper()
		s := newSource(t, testConfig(c, func(c *Config) { c.Group = group; c.BatchMaxRows = 1000 }))
		s.SetCutHistory(h)
		var got []schemas.Origin
		for len(got) < len(want) {
			b := next(t, s)
			got = append(got, b.Origin)
			if !b.MaybeStored {
				t.Errorf("%s, cut by the history, is not marked MaybeStored", b.Origin)
			}
			b.Ack(nil)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("group %s cut %v, want %v", group, got, want)
		}
		expectNothing(t, s, 300*time.Millisecond)
		s.Close(context.Background())
	}
	run("fresh")

	// Reset "fresh" to offset 12 with a tool: no metadata of ours, and the
	// commit lies inside the stored batch [8,19].
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var reset kadm.Offsets
	reset.Add(kadm.Offset{Topic: "in", Partition: 0, At: 12, LeaderEpoch: -1})
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "fresh", reset); err != nil {
		t.Fatal(err)
	}
	want = want[2:]
	run("fresh")
}
