package kafka

import (
	"strconv"
	"testing"
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
)

func TestBatchGrowsOverArena(t *testing.T) {
	var a arena
	ins := map[*schemas.Interaction]pin{} // the array each chunk lives in
	decode := func(n int) []schemas.Interaction {
		ints := a.take(n)
		for k := range n {
			ints = append(ints, schemas.Interaction{EventID: strconv.Itoa(k)})
		}
		ins[&ints[0]], _ = a.advance(ints)
		return ints
	}
	in := func(chunk []schemas.Interaction) pin { return ins[&chunk[0]] }
	const c = arenaRows / 4
	b := &builder{batch: schemas.NewBatch(schemas.Origin{}, nil)}
	first := decode(c)
	b.add(first[:2], in(first), 5, 1000)
	b.add(first[2:], in(first), 5, 1000)
	second := decode(c)
	b.add(second, in(second), 5, 1000)
	got := b.batch.Interactions
	if len(got) != 2*c || cap(got) != 2*c {
		t.Fatalf("batch has len %d cap %d, want %d %[3]d (capped at its end)", len(got), cap(got), 2*c)
	}
	if b.owned || unsafe.SliceData(got) != unsafe.SliceData(first) {
		t.Fatal("adjacent chunks were copied instead of resliced")
	}

	// The arena has 2c left: the next chunk of 2c+1 starts a new one, and
	// the batch copies into an array of its own, sized for the usual
	// batch or twice what it holds, capped by maxRows.
	third := decode(2*c + 1)
	if unsafe.SliceData(third) == unsafe.SliceData(first[:2*c+1][2*c:]) {
		t.Fatal("a chunk larger than the arena's rest was not given a new arena")
	}
	b.add(third, in(third), 5, 1000)
	if got = b.batch.Interactions; len(got) != 4*c+1 || !b.owned || cap(b.base) != 1000 {
		t.Fatalf("batch has len %d owned %v capacity %d, want %d true 1000", len(got), b.owned, cap(b.base), 4*c+1)
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

	// Later chunks are copied into the batch's array without growing it.
	base := unsafe.SliceData(b.base)
	fourth := decode(2)
	b.add(fourth, in(fourth), 5, 1000)
	if len(b.batch.Interactions) != 4*c+3 || unsafe.SliceData(b.base) != base {
		t.Fatal("the batch's own array was re-grown")
	}

	// A later batch starts as a view of the arena again, and appending to
	// the earlier batch (as a holder may) never writes into it.
	if unsafe.SliceData(fourth) != &third[:2*c+2][2*c+1] {
		t.Fatal("the next chunk is not adjacent in the arena")
	}
	fifth := decode(2)
	d := &builder{batch: schemas.NewBatch(schemas.Origin{}, nil)}
	d.add(fifth, in(fifth), 5, 1000)
	_ = append(b.batch.Interactions, schemas.Interaction{EventID: "x"})
	_ = append(fourth[:len(fourth):len(fourth)], schemas.Interaction{EventID: "x"})
	if d.batch.Interactions[0].EventID != "0" || d.owned {
		t.Fatal("the next batch's view was overwritten or copied")
	}
}

func TestOwnedArraySizedForUsualBatch(t *testing.T) {
	var a arena
	b := &builder{batch: schemas.NewBatch(schemas.Origin{}, nil)}
	for range 3 {
		ints := a.take(arenaRows)
		ints = append(ints, make([]schemas.Interaction, arenaRows)...)
		in, _ := a.advance(ints)
		b.add(ints, in, 5*arenaRows, 4*arenaRows)
	}
	if got, want := cap(b.base), 4*arenaRows; !b.owned || got != want {
		t.Fatalf("owned %v capacity %d, want true %d (the usual batch, capped by batch_max_rows)", b.owned, got, want)
	}
}

func TestArenaDroppedWhenOutgrown(t *testing.T) {
	var a arena
	ints := a.take(2)
	for range arenaRows + 1 { // a record with more events than the arena holds
		ints = append(ints, schemas.Interaction{})
	}
	a.advance(ints)
	if a.buf != nil {
		t.Fatal("an arena the decoder outgrew is kept; its free part shares maps with the moved rows")
	}
}

func TestOwnedCap(t *testing.T) {
	for _, c := range []struct {
		name               string
		m, rows, max, want int
	}{
		{"grows fourfold below the usual batch", 600, 12500, 20000, 2400},
		{"stops at the usual batch", 9605, 12500, 20000, 12500},
		{"a first batch grows fourfold", 600, 0, 20000, 2400},
		{"past the usual batch it grows fourfold", 13000, 12500, 20000, 20000},
		{"never beyond the cut limit", 6000, 50000, 20000, 20000},
		{"never below what it must hold", 30000, 0, 20000, 30000},
	} {
		if got := ownedCap(c.m, c.rows, c.max); got != c.want {
			t.Errorf("%s: ownedCap(%d, %d, %d) = %d, want %d", c.name, c.m, c.rows, c.max, got, c.want)
		}
	}
}
