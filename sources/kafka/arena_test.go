package kafka

import (
	"strconv"
	"testing"
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
)

func TestBatchGrowsOverArena(t *testing.T) {
	var a arena
	decode := func(n int) []schemas.Interaction {
		ints := a.take(n, 5, 10)
		for k := range n {
			ints = append(ints, schemas.Interaction{EventID: strconv.Itoa(k)})
		}
		a.advance(ints)
		return ints
	}
	const c = minArena / 4
	b := &builder{batch: schemas.NewBatch(schemas.Origin{}, nil)}
	first := decode(c)
	b.add(first[:2], 5, 10)
	b.add(first[2:], 5, 10)
	second := decode(c)
	b.add(second, 5, 10)
	got := b.batch.Interactions
	if len(got) != 2*c || cap(got) != 2*c {
		t.Fatalf("batch has len %d cap %d, want %d %[3]d (capped at its end)", len(got), cap(got), 2*c)
	}
	if b.owned || unsafe.SliceData(got) != unsafe.SliceData(first) {
		t.Fatal("adjacent chunks were copied instead of resliced")
	}

	// The arena has 2c left: the next chunk of 2c+1 starts a new one, and
	// the batch copies into an array of its own.
	third := decode(2*c + 1)
	if unsafe.SliceData(third) == unsafe.SliceData(first[:2*c+1][2*c:]) {
		t.Fatal("a chunk larger than the arena's rest was not given a new arena")
	}
	b.add(third, 5, 10)
	if got = b.batch.Interactions; len(got) != 4*c+1 || !b.owned {
		t.Fatalf("batch has len %d owned %v, want %d true", len(got), b.owned, 4*c+1)
	}
	for k := range got {
		want := k
		if k >= 2*c {
			want = k - 2*c
		} else if k >= c {
			want = k - c
		}
		if got[k].EventID != strconv.Itoa(want) {
			t.Fatalf("row %d is %q, want %d", k, got[k].EventID, want)
		}
	}
	if got[0].EventID = "z"; first[0].EventID != "0" {
		t.Fatal("the owned copy shares the arena")
	}

	// A later batch starts as a view of the arena again, and appending to
	// the earlier batch (as a holder may) never writes into it.
	fourth := decode(2)
	if unsafe.SliceData(fourth) != &third[:2*c+2][2*c+1] {
		t.Fatal("the next chunk is not adjacent in the arena")
	}
	d := &builder{batch: schemas.NewBatch(schemas.Origin{}, nil)}
	d.add(fourth, 5, 10)
	_ = append(b.batch.Interactions, schemas.Interaction{EventID: "x"})
	_ = append(second[:len(second):len(second)], schemas.Interaction{EventID: "x"})
	if d.batch.Interactions[0].EventID != "0" || d.owned {
		t.Fatal("the next batch's view was overwritten or copied")
	}
}

func TestArenaDroppedWhenOutgrown(t *testing.T) {
	var a arena
	ints := a.take(2, 1, 2)
	for range minArena + 1 { // a record with more events than the arena holds
		ints = append(ints, schemas.Interaction{})
	}
	a.advance(ints)
	if a.buf != nil {
		t.Fatal("an arena the decoder outgrew is kept; its free part shares maps with the moved rows")
	}
}
