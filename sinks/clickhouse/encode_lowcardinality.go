package clickhouse

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A LowCardinality(String) column is handed to clickhouse-go as its Native
// serialization — dictionary and keys — through the column's Decode, the
// public method that fills a column from a block read off the wire. The
// driver's own Encode then writes the keys it holds instead of deriving
// them from its map[any]int (its "block directly decoded from the server"
// case). Row by row, AppendRow boxes and hashes every value into that map
// and Encode converts every key again: 15 % of an ingest-only drain's CPU
// before this. Here each value costs a look-up in a small direct-mapped
// cache of the column's few distinct values.
//
// The bytes are those AppendRow would have produced: dictionary entry 0 is
// the default value the driver puts first, then each distinct value in
// order of first appearance (an empty string included, as the driver
// does), with keys as wide as the driver would pick for that many entries
// (TestLowCardinalityEncodingMatchesAppendRow).

// Serialization bits of a LowCardinality column's keys (ClickHouse
// ColumnLowCardinality.cpp; clickhouse-go lib/column/lowcardinality.go).
const (
	lcHasAdditionalKeys    = 1 << 9
	lcNeedUpdateDictionary = 1 << 10
)

// lcEncoder builds one column's serialization; pooled, it keeps capacity.
type lcEncoder struct {
	dict  []string          // distinct values in order of first appearance
	index map[string]uint32 // value → key (dictionary position + 1)
	cache [64]struct {
		s   string
		key uint32 // 0: empty slot
	}
	keys []uint32
}

var lcEncoders = sync.Pool{New: func() any { return &lcEncoder{index: make(map[string]uint32)} }}

// appendLowCardinalityEncoded appends vals to col, which must be a
// LowCardinality(String) column without rows.
func appendLowCardinalityEncoded(col *column.LowCardinality, vals []string) error {
	if len(vals) == 0 {
		return nil
	}
	e := lcEncoders.Get().(*lcEncoder)
	defer e.release()
	w := getWire()
	e.encode(&w.buf, vals)
	return w.decodeInto(col, len(vals))
}

// appendTo appends the values added since the last reset to col, a
// LowCardinality(String) column and column k of batch: through its Decode
// when it holds no rows, else (PrepareBatch's columns never do) through
// its Append. rows is len(e.keys), for the staged interface.
func (e *lcEncoder) appendTo(batch driver.Batch, k int, col column.Interface, rows int) error {
	if rows == 0 {
		return nil
	}
	if col.Rows() != 0 {
		return batch.Column(k).Append(e.values())
	}
	w := getWire()
	e.write(&w.buf)
	return w.decodeInto(col, rows)
}

// release drops the batch's strings, so a pooled encoder keeps none of its
// memory alive, and returns e to the pool.
func (e *lcEncoder) release() {
	e.reset()
	lcEncoders.Put(e)
}

// encode writes vals' serialization into buf, as LowCardinality's Decode
// reads it (without the state prefix, which the driver writes itself).
func (e *lcEncoder) encode(buf *proto.Buffer, vals []string) {
	e.reset()
	for _, v := range vals {
		e.add(v)
	}
	e.write(buf)
}

// add appends v's key, v the next value of the column.
func (e *lcEncoder) add(v string) { e.keys = append(e.keys, e.key(v)) }

// reset empties e for a new column, dropping its strings.
func (e *lcEncoder) reset() {
	clear(e.dict)
	if e.index == nil {
		e.index = make(map[string]uint32)
	}
	clear(e.index)
	e.cache = [len(e.cache)]struct {
		s   string
		key uint32
	}{}
	e.dict, e.keys = e.dict[:0], e.keys[:0]
}

// values are the values added since the last reset, for a column's Append.
func (e *lcEncoder) values() []string {
	out := make([]string, len(e.keys))
	for k, key := range e.keys {
		out[k] = e.dict[key-1]
	}
	return out
}

// write writes the serialization of the values added since the last
// reset into buf.
func (e *lcEncoder) write(buf *proto.Buffer) {
	n := len(e.dict) // the driver sizes keys by its map's size: entries besides the default
	var width uint64
	switch {
	case n < math.MaxUint8:
		width = 0
	case n < math.MaxUint16:
		width = 1
	case n < math.MaxUint32:
		width = 2
	default:
		width = 3
	}
	buf.PutUInt64(lcHasAdditionalKeys | lcNeedUpdateDictionary | width)
	buf.PutInt64(int64(n + 1))
	buf.PutString("") // the default value at key 0, never referenced
	for _, v := range e.dict {
		buf.PutString(v)
	}
	buf.PutInt64(int64(len(e.keys)))
	b := buf.Buf
	switch width {
	case 0:
		for _, k := range e.keys {
			b = append(b, byte(k))
		}
	case 1:
		for _, k := range e.keys {
			b = binary.LittleEndian.AppendUint16(b, uint16(k))
		}
	case 2:
		for _, k := range e.keys {
			b = binary.LittleEndian.AppendUint32(b, k)
		}
	default:
		for _, k := range e.keys {
			b = binary.LittleEndian.AppendUint64(b, uint64(k))
		}
	}
	buf.Buf = b
}

// key returns v's key, adding v to the dictionary on first sight.
func (e *lcEncoder) key(v string) uint32 {
	h := len(v)
	if len(v) > 0 {
		h = h*31 + int(v[0])*7 + int(v[len(v)-1])*3 + int(v[len(v)/2])
	}
	slot := &e.cache[h&(len(e.cache)-1)]
	if slot.key != 0 && slot.s == v {
		return slot.key
	}
	k, ok := e.index[v]
	if !ok {
		e.dict = append(e.dict, v)
		k = uint32(len(e.dict))
		e.index[v] = k
	}
	slot.s, slot.key = v, k
	return k
}
