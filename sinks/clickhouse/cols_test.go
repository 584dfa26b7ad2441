package clickhouse

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// The columns of an insert are freed once appended to clickhouse-go's
// batch, before the send; a retry builds them again, to the same block.
// Columns of a group larger than maxPooledRows are not kept for reuse.
func TestColsInsertFreesColumnsAndRebuildsOnRetry(t *testing.T) {
	for _, n := range []int{100, maxPooledRows + 1} {
		s := &Sink{freeCols: make(chan *interactionCols, 2)}
		rows := genInteractions(7, n, day)
		o := batchOf("interactions.v1", 3, 1000, rows).Origin
		builds := 0
		size, fill, release := s.colsInsert(func(c *interactionCols) {
			builds++
			c.begin(len(rows))
			c.add(rows, o, day, false)
		}, false)
		if size <= 0 {
			t.Fatalf("%d rows: size %d", n, size)
		}
		var batches [2]*columnBatch
		for k := range batches {
			batch := newColumnBatch(t, interactionColumns)
			if err := fill(batch); err != nil {
				t.Fatal(err)
			}
			batches[k] = batch
			if cap(s.freeCols) > 0 && len(s.freeCols) > 0 {
				c := <-s.freeCols
				if len(c.eventID) != 0 || c.attributes[:cap(c.attributes)][0] != nil {
					t.Fatalf("%d rows: pooled columns not emptied", n)
				}
				if n > maxPooledRows {
					t.Fatalf("%d rows: columns of %d rows pooled", n, cap(c.eventID))
				}
				s.freeCols <- c
			} else if n <= maxPooledRows {
				t.Fatalf("%d rows: columns not pooled after the append", n)
			}
		}
		release() // nothing left to free: a no-op
		if builds != 2 {
			t.Fatalf("%d rows: %d builds, want 2", n, builds)
		}
		// Each column's encoding; a Map column's rows instead, which it
		// encodes in map order.
		for k, a := range batches[0].cols {
			b := batches[1].cols[k]
			if a.Rows() != n || b.Rows() != n {
				t.Fatalf("%d rows: column %s has %d and %d rows", n, a.Name(), a.Rows(), b.Rows())
			}
			if _, ok := a.(*column.Map); ok {
				for r := range n {
					if !reflect.DeepEqual(a.Row(r, false), b.Row(r, false)) {
						t.Fatalf("%d rows: column %s row %d differs", n, a.Name(), r)
					}
				}
				continue
			}
			var ea, eb proto.Buffer
			a.Encode(&ea)
			b.Encode(&eb)
			if !bytes.Equal(ea.Buf, eb.Buf) {
				t.Fatalf("%d rows: column %s differs", n, a.Name())
			}
		}
	}
}
