package clickhouse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// Some clickhouse-go columns are filled faster from their Native
// serialization than value by value: a column's Decode (public, the path a
// block read from the server takes) sizes its storage for all rows at once,
// where Append grows it value by value. For a String column of an insert
// (12,500–50,000 rows) those appends reallocated and copied its bytes and
// positions about a dozen times, 5× its final size in garbage; nothing in
// the driver's API reserves capacity. The serialization is written into a
// pooled buffer that keeps its capacity across inserts, and is exactly what
// the column's Encode then puts on the wire (TestStringEncodingMatchesAppend).

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

// appendStringsEncoded appends vals to col, a String column without rows.
func appendStringsEncoded(col *column.String, vals []string) error {
	if len(vals) == 0 {
		return nil
	}
	w := getWire()
	for _, v := range vals {
		w.buf.PutString(v)
	}
	return w.decodeInto(col, len(vals))
}
