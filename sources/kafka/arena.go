package kafka

import (
	"unsafe"

	"github.com/salespulse/salespulse/schemas"
)

// A batch's interactions are 448-byte structs, and a batch of the default
// 20,000 rows is 9 MB of them: growing one with append copies megabytes and
// allocates ever larger arrays (issue 17 measured it at 13 % of an
// ingest-only pipeline's CPU). So the decoders write a partition's
// interactions one after the other into one array, its arena, and a batch
// is a view of it that grows by reslicing over the chunks it spans; rows are
// copied only where a batch straddles two arenas or a replay skipped rows.
//
// Lifetimes: the arena is never reused or cleared. Each view (a batch's
// Interactions) is capped at its own end, so an append by whoever holds
// the batch copies instead of writing over the next batch's rows, and the
// array is collected once the partition has moved on to a new arena and
// the last batch viewing it is gone.

// arena is one partition's decode array. Only the worker decoding the
// partition's chunk touches it: workers.Pool runs one chunk of a partition
// at a time, and its lock orders one chunk's decoding before the next's.
type arena struct {
	buf []schemas.Interaction // buf[:len] is decoded, buf[len:cap] is free
}

// take returns an empty slice for decoding n records (at least n free
// elements). When the arena has fewer left, it starts a new one for two
// batches of the size the partition's last batch had (rows, up to the cut
// limit maxRows; at least n), so that a batch rarely straddles two arenas,
// while a quiet partition's small batches do not each pin megabytes. The
// decoder may use all of the free capacity (a record of several events);
// past it, append moves the chunk out of the arena.
func (a *arena) take(n, rows, maxRows int) []schemas.Interaction {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]schemas.Interaction, 0, max(n, min(maxRows, 2*rows), minArena))
	}
	return a.buf[len(a.buf):len(a.buf):cap(a.buf)]
}

// minArena is the smallest arena: 56 KB, below which the copies saved are
// not worth an allocation.
const minArena = 128

// advance marks ints, which take returned and the decoder filled, as used.
// If the decoder outgrew the arena, ints now live elsewhere, and the arena
// is dropped: its free part holds shallow copies of ints' elements, and a
// decoder reusing them (canonical keeps an element's Attributes map) would
// clear maps that the moved rows still use.
func (a *arena) advance(ints []schemas.Interaction) {
	if len(ints) == 0 {
		return
	}
	if len(a.buf) < cap(a.buf) && unsafe.SliceData(ints) == &a.buf[:len(a.buf)+1][len(a.buf)] {
		a.buf = a.buf[:len(a.buf)+len(ints)]
		return
	}
	a.buf = nil
}

// add appends one record's interactions to the open batch. ints are
// normally adjacent to the batch's rows in the same arena, and the batch
// grows by reslicing; otherwise (a new arena, a record decoded outside the
// arena, rows skipped on a replay) the rows are copied into an array of the
// batch's own, sized once for the partition's usual batch (rows, up to the
// cut limit maxRows) so it is not grown again and again.
func (b *builder) add(ints []schemas.Interaction, rows, maxRows int) {
	if len(ints) == 0 {
		return
	}
	n := len(b.batch.Interactions)
	m := n + len(ints)
	switch {
	case n == 0:
		b.base, b.owned = ints[:len(ints):cap(ints)], false
	case !b.owned && m <= cap(b.base) && unsafe.SliceData(ints) == &b.base[:n+1][n]:
		// ints are the next rows of the arena: the view grows.
	case b.owned && m <= cap(b.base):
		copy(b.base[n:m], ints)
	default:
		buf := make([]schemas.Interaction, m, max(min(maxRows, max(rows, 2*m)), m))
		copy(buf, b.batch.Interactions)
		copy(buf[n:], ints)
		b.base, b.owned = buf, true
	}
	b.batch.Interactions = b.base[:m:m]
}
