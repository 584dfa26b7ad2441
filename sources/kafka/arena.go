package kafka

import (
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
)

// A batch's interactions are 448-byte structs, and a batch of the default
// 20,000 rows is 9 MB of them: growing one with append copies megabytes and
// allocates ever larger arrays (issue 17 measured it at 13 % of an
// ingest-only pipeline's CPU; on the embedded stack a drain fetches chunks
// of 2-550 records for batches of ~12,500 rows). So:
//
//   - the decoders write a partition's chunks one after the other into a
//     small array, its arena (arenaRows), and a batch that stays within
//     one arena is a view of it that grows by reslicing, with no copy: the
//     small batches of a live, linger-cut stream;
//   - a batch that outgrows its arena is copied into an array of its own,
//     and later chunks are copied into it; the array grows fourfold, up to
//     the size of the partition's last cut batch and batch_max_rows
//     (ownedCap), so a drain's batch is re-grown three times rather than a
//     dozen, and each row is copied about twice rather than five times.
//
// Arenas are kept small on purpose: a view pins its whole arena, so
// arenas sized for whole batches (tried first) keep finished batches' rows,
// and what they reference, alive while a later batch of the same arena is
// in flight.
//
// Lifetimes: an arena is never reused or cleared. Each view (a batch's
// Interactions) is capped at its own end, so an append by whoever holds
// the batch copies instead of writing over the next batch's rows, and the
// arena is collected once the partition has let go of it and the last
// batch viewing it is gone. The partition lets go of an arena as soon as
// it is full or was sized for one chunk (a drain's chunks are thousands
// of records): kept, such an arena would live, uncounted by the
// read-ahead budget, after all its batches were acknowledged (12 of
// them, ~10 MB each, outlived a 1M-event drain). The budget counts an
// arena whole, from its first row, once per source however many batches
// view it: a view pins all of it (heldLocked).

// arena is one partition's decode array. Only the worker decoding the
// partition's chunk touches it: workers.Pool runs one chunk of a partition
// at a time, and its lock orders one chunk's decoding before the next's.
type arena struct {
	buf []schemas.Interaction // buf[:len] is decoded, buf[len:cap] is free
}

// take returns an empty slice for decoding n records (at least n free
// elements), starting a new arena of max(n, arenaRows) when the current
// one has fewer left. The decoder may use all of the free capacity (a
// record of several events); past it, append moves the chunk out of the
// arena.
func (a *arena) take(n int) []schemas.Interaction {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]schemas.Interaction, 0, max(n, arenaRows))
		prefault(a.buf)
	}
	return a.buf[len(a.buf):len(a.buf):cap(a.buf)]
}

// arenaRows is the size of an arena: 224 KB, the rows of a few of the
// small chunks a live stream fetches.
const arenaRows = 512

// advance marks ints, which take returned and the decoder filled, as used,
// and returns the array ints live in (for the read-ahead budget, which
// counts it whole) and the arena the partition keeps for its next chunk
// (zero if none).
//
// If the decoder outgrew the arena, ints now live elsewhere, and the arena
// is dropped: its free part holds shallow copies of ints' elements, and a
// decoder reusing them (canonical keeps an element's Attributes map) would
// clear maps that the moved rows still use. A full arena, or one sized
// for a single big chunk, is dropped too: no later chunk would fit, or
// the rest is a few rows of a chunk's skipped records.
func (a *arena) advance(ints []schemas.Interaction) (in, kept pin) {
	if len(ints) == 0 {
		return pin{}, pinOf(a.buf)
	}
	if len(a.buf) < cap(a.buf) && unsafe.SliceData(ints) == &a.buf[:len(a.buf)+1][len(a.buf)] {
		a.buf = a.buf[:len(a.buf)+len(ints)]
		in = pinOf(a.buf)
		if len(a.buf) == cap(a.buf) || cap(a.buf) > arenaRows {
			a.buf = nil
		}
		return in, pinOf(a.buf)
	}
	a.buf = nil
	return pinOf(ints), pin{}
}

// pinOf names the array s's elements live in, assuming s starts at the
// array's first element (an arena's buf, a decoder's own array).
func pinOf(s []schemas.Interaction) pin {
	if cap(s) == 0 {
		return pin{}
	}
	return pin{uintptr(unsafe.Pointer(unsafe.SliceData(s))), cap(s)}
}

// add appends one record's interactions, which live in the array in
// (arena.advance), to the open batch. While they are adjacent to the
// batch's rows in the same arena the batch grows by reslicing; otherwise
// (a new arena, a record decoded outside the arena, rows skipped on a
// replay) the rows are copied into an array of the batch's own, sized by
// ownedCap so it is grown rarely.
func (b *builder) add(ints []schemas.Interaction, in pin, rows, maxRows int) {
	if len(ints) == 0 {
		return
	}
	n := len(b.batch.Interactions)
	m := n + len(ints)
	switch {
	case n == 0:
		b.base, b.owned, b.in = ints[:len(ints):cap(ints)], false, in
	case !b.owned && m <= cap(b.base) && unsafe.SliceData(ints) == &b.base[:n+1][n]:
		// ints are the next rows of the arena: the view grows.
	case b.owned && m <= cap(b.base):
		copy(b.base[n:m], ints)
	default:
		buf := make([]schemas.Interaction, m, ownedCap(m, rows, maxRows))
		prefault(buf)
		copy(buf, b.batch.Interactions)
		copy(buf[n:], ints)
		b.base, b.owned, b.in = buf, true, pinOf(buf)
	}
	b.batch.Interactions = b.base[:m:m]
}

// ownedCap is the capacity of a batch's own array that must hold m rows:
// four times m (few growths, each copying less than a quarter of what it
// allocates), but no more than the partition's usual batch (rows, that of
// its last cut batch) while the batch is below it, and never more than the
// cut limit maxRows. Sizing straight to the usual batch would give a batch
// cut early (by linger, at the end of a drain) megabytes it never fills,
// for as long as it is in flight.
func ownedCap(m, rows, maxRows int) int {
	c := min(maxRows, 4*m)
	if rows >= m {
		c = min(c, rows)
	}
	return max(c, m)
}

// prefault writes one word of every memory page under s's capacity, so
// that no read reaches a page before a write. make leaves a fresh array
// untouched when its pages come from the OS, and the first access to an
// untouched page decides its fault: a read maps the kernel's shared zero
// page, and the write that follows takes a copy-on-write fault whose TLB
// flush interrupts every CPU of the process; a write takes one plain
// fault. Reads come first here whenever the GC is marking: copying a
// struct into the array (the canonical decoder's *dst = it, the builder's
// copy) runs the write barrier, which reads the destination's old pointers
// before the copy writes them. In perf profiles of ingest-only drains (1M
// canonical events, 4,099 samples) those copy-on-write faults were 12 % of
// the pipeline's CPU, 400 samples under canonical.fastObject alone.
//
// The word written is Has, which holds no pointer, so the store needs no
// write barrier and is a plain write of the zero the field already holds.
func prefault(s []schemas.Interaction) {
	s = s[:cap(s)]
	const step = max(1, pageSize/int(unsafe.Sizeof(schemas.Interaction{})))
	for k := 0; k < len(s); k += step {
		s[k].Has = 0
	}
}

// pageSize is the smallest memory page (x86-64, arm64): touching an
// element every pageSize bytes touches every page of a larger size too.
const pageSize = 4096
