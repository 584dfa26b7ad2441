package clickhouse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Some clickhouse-go columns are filled faster from their Native
// serialization than value by value: a column's Decode (public, the path a
// block read from the server takes) sizes its storage for all rows at once,
// where Append grows a fresh column (PrepareBatch builds them empty) value
// by value; nothing in the driver's API reserves capacity. The
// serialization is written into a pooled buffer that keeps its capacity
// across inserts, and is exactly what the column's Encode then puts on the
// wire (TestEncodedColumnsMatchAppend).
//
// String columns are not: ColStr's Decode reads each value through
// proto.Reader (a varint byte by byte, then the bytes), ~25 ns a value,
// which in 1M-event drains cost what the appends' regrowth did (4 rounds
// interleaved: 3.91 against 3.93 CPU-s/M), though a 12,500-row benchmark
// showed a gain. They are sized directly instead (encode_string.go).

// wire is one column's serialization under construction and the reader
// that hands it to Decode. Pooled: the buffer keeps its capacity, and the
// reader's 128 KiB read buffer is allocated once, not per column.
type wire struct {
	buf proto.Buffer
	in  bytes.Reader
	r   *proto.Reader
}

// maxPooledWire bounds the serialization buffer a pooled wire keeps.
const maxPooledWire = 32 << 20

var wires = sync.Pool{New: func() any {
	w := &wire{}
	w.r = proto.NewReader(&w.in)
	return w
}}

func getWire() *wire {
	w := wires.Get().(*wire)
	w.buf.Reset()
	return w
}

// decodeInto has col decode rows rows from w.buf, all of it, and returns w
// to the pool. The reader buffers ahead, so it is kept only when it read
// exactly to the end: anything left in it would precede the next column's
// bytes.
func (w *wire) decodeInto(col column.Interface, rows int) error {
	w.in.Reset(w.buf.Buf)
	err := col.Decode(w.r, rows)
	if err == nil {
		if _, extra := w.r.ReadByte(); !errors.Is(extra, io.EOF) {
			err = fmt.Errorf("column %s: %d rows did not use all of their %d bytes", col.Name(), rows, len(w.buf.Buf))
		}
	}
	w.in.Reset(nil)
	if err != nil {
		return err // the reader's state is unknown: w is not reused
	}
	if cap(w.buf.Buf) <= maxPooledWire {
		wires.Put(w)
	}
	return nil
}

// appendTo appends w's n rows to col, column k of batch: through the
// column's Decode when it holds no rows (w is the serialization Decode
// reads); else, which PrepareBatch's columns never do, decoded into a
// fresh column of col's type and appended to col row by row.
func (w *wireCol) appendTo(batch driver.Batch, k int, col column.Interface, n int) error {
	if n == 0 {
		return nil
	}
	target := col
	if col.Rows() != 0 {
		tmp, err := column.Type(col.Type()).Column(col.Name(), &column.ServerContext{})
		if err != nil {
			return err
		}
		target = tmp
	}
	wr := getWire()
	wr.buf.Buf = append(append(wr.buf.Buf, w.nulls...), w.vals...)
	if err := wr.decodeInto(target, n); err != nil {
		return err
	}
	if target == col {
		return nil
	}
	bc := batch.Column(k)
	for r := range n {
		if err := bc.AppendRow(target.Row(r, false)); err != nil {
			return err
		}
	}
	return nil
}
