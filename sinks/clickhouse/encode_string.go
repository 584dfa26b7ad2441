package clickhouse

import (
	"reflect"
	"slices"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// A String column is filled by appending to its proto.ColStr with the
// storage sized once for all the values. clickhouse-go's Append appends to
// a column PrepareBatch built empty and regrows its bytes and positions
// value by value: in 1M-event ingest-only drains that regrowth was 0.37 of
// 4.27 CPU-s and 960 MB of the 3.0 GB allocated (a third). Its Decode path
// sizes once but reads each value through proto.Reader, which cost as
// much (41b3e85). The driver offers no way to reserve a column's capacity
// per batch: column.WithColStrProvider is process-wide and knows only the
// column's name, which several tables share at very different sizes.
//
// So the sink reaches the column's ColStr, the unexported field "col" of
// column.String, through its offset, found by reflection once and used
// only when the field exists with that type. If a driver upgrade renames
// or retypes it, String columns fall back to Append (correct, only slower)
// and TestStringStorageFound fails, so the upgrade is noticed.

// colStrOffset is the offset of column.String's ColStr; colStrFound is
// false when the driver's String has no such field.
var colStrOffset, colStrFound = func() (uintptr, bool) {
	f, ok := reflect.TypeFor[column.String]().FieldByName("col")
	return f.Offset, ok && f.Type == reflect.TypeFor[proto.ColStr]()
}()

// stringStorage is col's ColStr, or nil when the driver hides it
// differently.
func stringStorage(col *column.String) *proto.ColStr {
	if !colStrFound {
		return nil
	}
	return (*proto.ColStr)(unsafe.Add(unsafe.Pointer(col), colStrOffset))
}

// appendStrings appends vals to col, its storage grown once to their
// total; handled is false when the storage cannot be reached.
func appendStrings(col *column.String, vals []string) (handled bool) {
	s := stringStorage(col)
	if s == nil {
		return false
	}
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	s.Buf = slices.Grow(s.Buf, n)
	s.Pos = slices.Grow(s.Pos, len(vals))
	for _, v := range vals {
		s.Append(v)
	}
	return true
}
