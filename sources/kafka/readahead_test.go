package kafka

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/kafka/internal/cuts"
)

func TestReadAheadShares(t *testing.T) {
	r := NewReadAhead(300)
	ingest, contacts, leads := r.join(), r.join(), r.join()
	f := func(what string, u *readAheadUser, held int64, wantPause bool) {
		t.Helper()
		if got := r.set(u, held); got != wantPause {
			t.Errorf("%s: pause = %v, want %v", what, got, wantPause)
		}
	}
	f("under the budget: no one pauses", ingest, 250, false)
	f("a flow under its share (100) never pauses, over the total or not", leads, 60, false)
	f("at the total, a flow over its share pauses", ingest, 250, true)
	f("at the total, a flow under its share does not", contacts, 10, false)

	// An ack frees bytes: the paused source's poll is cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	ingest.wake.Store(&cancel)
	r.release(leads, 50) // 250+10+10 = 270 < 300
	if ctx.Err() == nil {
		t.Error("release under the budget did not wake the paused source")
	}
	f("after the release the borrower may go on", ingest, 250, false)

	// A source that leaves gives its share to the others.
	r.leave(contacts)
	r.leave(leads)
	f("alone, the whole budget is the share", ingest, 299, false)
	f("alone, at the budget", ingest, 300, true)
}

func TestReadAheadUnbounded(t *testing.T) {
	r := NewReadAhead(-1)
	u := r.join()
	if r.set(u, math.MaxInt64/2) {
		t.Error("an unbounded budget paused")
	}
}

func TestReadAheadDefaults(t *testing.T) {
	f := func(what string, c Config, memLimit int64, wantRA int64, wantFetch int32) {
		t.Helper()
		if c.ReadAheadBytes == 0 {
			c.ReadAheadBytes = DefaultReadAheadBytes(memLimit)
		}
		c.SetDefaults()
		if c.ReadAheadBytes != wantRA || c.FetchMaxBytes != wantFetch {
			t.Errorf("%s: read_ahead_bytes %d, fetch_max_bytes %d; want %d, %d", what, c.ReadAheadBytes, c.FetchMaxBytes, wantRA, wantFetch)
		}
	}
	f("no memory limit", Config{}, math.MaxInt64, 384<<20, 12<<20)
	f("a 2 GiB limit", Config{}, 2<<30, 384<<20, 12<<20)
	f("a 1 GiB limit", Config{}, 1<<30, 256<<20, 8<<20)
	f("a 512 MiB limit", Config{}, 512<<20, 128<<20, 4<<20)
	f("a 448 MiB limit", Config{}, 448<<20, 112<<20, 3584<<10)
	f("a small container", Config{}, 64<<20, 16<<20, 1<<20)
	f("unbounded: the fetch as before", Config{ReadAheadBytes: -1}, 448<<20, -1, 50<<20)
	f("a fetch size given is kept", Config{FetchMaxBytes: 10 << 20}, 448<<20, 112<<20, 10<<20)
}

// TestReadAheadPausesSharingSources: two sources (two groups, as the
// flows of one process) share a budget of 10 records. One that holds
// every batch unacknowledged is not fed once the budget is spent; the
// other still gets batches (it holds less than its share); acks free the
// first again. (kfake answers a fetch with all there is: produce in
// rounds.)
func TestReadAheadPausesSharingSources(t *testing.T) {
	c := newCluster(t, 1)
	const size = 100 << 10
	pad := strings.Repeat(" ", size)
	offset := 0
	produceRound := func(n int) {
		for range n {
			produce(t, c, "in", 0, fmt.Sprintf(`{"id":"e%d"%s}`, offset, pad))
			offset++
		}
	}
	mod := func(group string) func(*Config) {
		return func(cfg *Config) {
			cfg.Group = group
			cfg.BatchMaxRows = 1
			cfg.MaxInFlightBatches = 64
		}
	}
	a := newSource(t, testConfig(c, mod("a")))
	b := newSource(t, testConfig(c, mod("b")))
	ra := NewReadAhead(10 * size)
	a.SetReadAhead(ra)
	b.SetReadAhead(ra)

	// take returns the batches s hands out until it stops.
	take := func(s *Source) []*schemas.Batch {
		var got []*schemas.Batch
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			batch, err := s.Next(ctx)
			cancel()
			if err != nil {
				return got
			}
			got = append(got, batch)
		}
	}
	produceRound(10)
	heldA := take(a)
	if len(heldA) != 10 {
		t.Fatalf("a took %d batches; want the 10 there are", len(heldA))
	}
	produceRound(10)
	if more := take(a); len(more) != 0 {
		t.Fatalf("a took %d more batches at the budget, holding 10 unacknowledged", len(more))
	}
	heldB := take(b)
	if len(heldB) == 0 {
		t.Fatal("b, under its share, got nothing while a held the budget")
	}
	produceRound(10)
	if more := take(b); len(more) != 0 {
		t.Fatalf("b took %d more batches over its share and the budget", len(more))
	}
	for _, x := range heldA {
		x.Ack(nil)
	}
	if more := take(a); len(more) == 0 {
		t.Fatal("a got nothing more after acknowledging everything")
	}
	for _, x := range heldB {
		x.Ack(nil)
	}
}

// TestHeldCountsArenasWhole: a batch viewing part of an arena keeps all
// of it alive, from its first row, and a partition keeps a small arena
// for its next chunk; the estimate counts each array once, whole.
func TestHeldCountsArenasWhole(t *testing.T) {
	p := &partition{tp: tp{"in", 0}, plan: cuts.New[held](cuts.Limits{MaxRows: 1 << 20, MaxBytes: 1 << 40, MaxInFlight: 8})}
	s := &Source{parts: map[tp]*partition{p.tp: p}}
	f := func(what string, want int64) {
		t.Helper()
		if got, _ := s.heldLocked(); got != want {
			t.Errorf("%s: held %d bytes, want %d (%d rows)", what, got, want, want/interactionSize)
		}
	}
	decode := func(n int) ([]schemas.Interaction, pin) {
		ints := append(p.arena.take(n), make([]schemas.Interaction, n)...)
		in, kept := p.arena.advance(ints)
		p.kept = kept
		return ints, in
	}
	open := func(ints []schemas.Interaction, in pin) *builder {
		b := &builder{batch: schemas.NewBatch(schemas.Origin{}, nil)}
		b.add(ints, in, 0, 1<<20)
		return b
	}

	// A drain's chunk gets an arena of its own size, which the partition
	// does not keep: only the batches viewing it count it.
	big := 3 * arenaRows
	ints, in := decode(big)
	if p.kept != (pin{}) {
		t.Fatal("the partition kept a chunk-sized arena")
	}
	a := open(ints[:2*arenaRows], in)
	p.plan.Add(0, 2*arenaRows, 0, time.Time{})
	ca := p.plan.Close(0, held{p: p, batch: a.batch, pin: a.in})
	p.open = open(ints[2*arenaRows:], in)
	f("two batches viewing one arena", int64(big)*interactionSize)
	p.plan.Ack(ca)
	f("the first acknowledged: the second still pins the arena from its first row", int64(big)*interactionSize)
	p.open = nil
	f("nothing views it", 0)

	// A small chunk starts a shared arena, which the partition keeps.
	ints, in = decode(10)
	f("the partition's arena, viewed by nothing", arenaRows*interactionSize)
	p.open = open(ints, in)
	f("the partition's arena, viewed by the open batch", arenaRows*interactionSize)
}
