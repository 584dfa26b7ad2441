package clickhouse

import (
	"encoding/binary"
	"math"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// The column types the sink writes besides String (encode_string.go),
// filled from their serialization (encode_wire.go): clickhouse-go's Append
// of a slice appends value by value to a fresh column, Nullable and Map
// besides add a null byte or reflect over each map entry (two allocations
// per attribute).
// Their Decode sizes each column once. The bytes are Append's
// (TestLowCardinalityEncodingMatchesAppendRow compares a whole late_events
// block, TestEncodedColumnsMatchAppend each type with nulls and edge values).

// appendEncoded appends v to col through its serialization when col has no
// rows and v is a slice of a type it knows for col's type; handled is false
// otherwise, and the caller appends v itself.
func appendEncoded(col column.Interface, v any) (handled bool, err error) {
	if col == nil || col.Rows() != 0 {
		return false, nil
	}
	switch v := v.(type) {
	case []string:
		switch col := col.(type) {
		case *column.LowCardinality:
			if col.Type() == "LowCardinality(String)" {
				return true, appendLowCardinalityEncoded(col, v)
			}
		case *column.String:
			return appendStrings(col, v), nil
		}
		return false, nil
	case []int64:
		if _, ok := col.(*column.Int64); !ok {
			return false, nil
		}
		return true, encodeFixed(col, v, binary.LittleEndian.AppendUint64, func(x int64) uint64 { return uint64(x) })
	case []int32:
		if _, ok := col.(*column.Int32); !ok {
			return false, nil
		}
		return true, encodeFixed(col, v, binary.LittleEndian.AppendUint32, func(x int32) uint32 { return uint32(x) })
	case []uint8:
		if _, ok := col.(*column.UInt8); !ok || len(v) == 0 {
			return ok, nil
		}
		w := getWire()
		w.buf.Buf = append(w.buf.Buf, v...)
		return true, w.decodeInto(col, len(v))
	case []time.Time:
		p, ok := dateTime64Precision(col)
		if !ok {
			return false, nil
		}
		return true, encodeFixed(col, v, binary.LittleEndian.AppendUint64, func(t time.Time) uint64 {
			return uint64(proto.ToDateTime64(t, p))
		})
	case []*float64:
		if col.Type() != "Nullable(Float64)" {
			return false, nil
		}
		return true, encodeNullable(col, v, binary.LittleEndian.AppendUint64, func(x *float64) uint64 {
			if x == nil {
				return 0
			}
			return math.Float64bits(*x)
		})
	case []*bool:
		if col.Type() != "Nullable(Bool)" {
			return false, nil
		}
		return true, encodeNullable(col, v, func(b []byte, x uint8) []byte { return append(b, x) }, func(x *bool) uint8 {
			if x != nil && *x {
				return 1
			}
			return 0
		})
	case []map[string]string:
		if _, ok := col.(*column.Map); !ok || col.Type() != "Map(String, String)" {
			return false, nil
		}
		return true, encodeStringMaps(col, v)
	}
	return false, nil
}

// encodeFixed decodes vals, each written as enc(conv(v)), into col.
func encodeFixed[V, U any](col column.Interface, vals []V, enc func([]byte, U) []byte, conv func(V) U) error {
	if len(vals) == 0 {
		return nil
	}
	w := getWire()
	b := w.buf.Buf
	for _, v := range vals {
		b = enc(b, conv(v))
	}
	w.buf.Buf = b
	return w.decodeInto(col, len(vals))
}

// encodeNullable decodes vals into a Nullable column: the null map (1 for
// a nil pointer), then every value, nil ones as the zero value.
func encodeNullable[V any, U any](col column.Interface, vals []*V, enc func([]byte, U) []byte, conv func(*V) U) error {
	if len(vals) == 0 {
		return nil
	}
	w := getWire()
	b := w.buf.Buf
	for _, v := range vals {
		if v == nil {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	for _, v := range vals {
		b = enc(b, conv(v))
	}
	w.buf.Buf = b
	return w.decodeInto(col, len(vals))
}

// encodeStringMaps decodes maps into a Map(String, String) column: the
// cumulative entry counts, then all keys, then all values, each map's
// entries in one iteration order.
func encodeStringMaps(col column.Interface, maps []map[string]string) error {
	if len(maps) == 0 {
		return nil
	}
	w := getWire()
	n := 0
	for _, m := range maps {
		n += len(m)
	}
	vals := make([]string, 0, n) // values in key order, written after the keys
	var total uint64
	for _, m := range maps {
		total += uint64(len(m))
		w.buf.Buf = binary.LittleEndian.AppendUint64(w.buf.Buf, total)
	}
	for _, m := range maps {
		for k, v := range m {
			w.buf.PutString(k)
			vals = append(vals, v)
		}
	}
	for _, v := range vals {
		w.buf.PutString(v)
	}
	return w.decodeInto(col, len(maps))
}

// dateTime64Precision is the precision of a DateTime64 column, from its
// type ("DateTime64(3, 'UTC')").
func dateTime64Precision(col column.Interface) (proto.Precision, bool) {
	if _, ok := col.(*column.DateTime64); !ok {
		return 0, false
	}
	t, ok := strings.CutPrefix(string(col.Type()), "DateTime64(")
	if !ok || len(t) < 2 || t[0] < '0' || t[0] > '9' || (t[1] != ',' && t[1] != ')') {
		return 0, false
	}
	return proto.Precision(t[0] - '0'), true
}
