package clickhouse

import (
	"fmt"
	"reflect"
	"slices"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
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

// The String columns of interactions (and late_events) are filled from
// the rows themselves, all at once: a first pass sums each column's bytes,
// a second appends every row's values to local copies of the columns'
// storage, stored back once. Staged first as []string per column (eleven
// slices of string headers per group, made for the group and dropped
// after it), they were 161 of the 2,058 MB an ingest-only drain allocated
// per 1M events, and every value was written twice under the GC's write
// barrier: into its []string, then into its ColStr through Append, which
// stores the column's slice headers back after each value.

// rowStringCols are the positions of the String columns in
// interactionColumns (and lateColumns), in the order rowStrings reads them.
var rowStringCols = [...]int{0, 6, 7, 8, 9, 10, 11, 19, 20, 21, 22}

// rowStrings returns i's values of the rowStringCols columns.
func rowStrings(i *schemas.Interaction) [len(rowStringCols)]string {
	return [...]string{i.EventID, i.RepID, i.TeamID, i.AccountID, i.LeadID, i.ApprovalID, i.ApproverID,
		i.ContactKey, i.Keys.Email, i.Keys.Phone, i.Keys.Mobile}
}

// appendRowStrings appends the String columns of runs' rows to batch.
// A column whose storage the driver hides, or that holds rows already,
// is appended a []string of its values instead.
func appendRowStrings(batch driver.Batch, runs [][]schemas.Interaction) error {
	types := batch.Columns()
	var cols [len(rowStringCols)]*proto.ColStr
	direct := true
	for k, at := range rowStringCols {
		if at >= len(types) {
			return fmt.Errorf("append column %d: the batch has %d columns", at, len(types))
		}
		s, ok := types[at].(*column.String)
		if !ok {
			return fmt.Errorf("append column %d: %s is %s, not String", at, types[at].Name(), types[at].Type())
		}
		if cols[k] = stringStorage(s); cols[k] == nil || s.Rows() != 0 {
			direct = false
		}
	}
	if !direct {
		return appendRowStringsSlow(batch, runs)
	}
	n := 0
	var size [len(rowStringCols)]int
	for _, run := range runs {
		n += len(run)
		for j := range run {
			for k, v := range rowStrings(&run[j]) {
				size[k] += len(v)
			}
		}
	}
	var bufs [len(rowStringCols)][]byte
	var pos [len(rowStringCols)][]proto.Position
	for k, c := range cols {
		bufs[k], pos[k] = slices.Grow(c.Buf, size[k]), slices.Grow(c.Pos, n)
	}
	for _, run := range runs {
		for j := range run {
			for k, v := range rowStrings(&run[j]) {
				start := len(bufs[k])
				bufs[k] = append(bufs[k], v...)
				pos[k] = append(pos[k], proto.Position{Start: start, End: len(bufs[k])})
			}
		}
	}
	for k, c := range cols {
		c.Buf, c.Pos = bufs[k], pos[k]
	}
	return nil
}

// appendRowStringsSlow is appendRowStrings through each column's Append.
func appendRowStringsSlow(batch driver.Batch, runs [][]schemas.Interaction) error {
	n := 0
	for _, run := range runs {
		n += len(run)
	}
	var vals [len(rowStringCols)][]string
	for k := range vals {
		vals[k] = make([]string, 0, n)
	}
	for _, run := range runs {
		for j := range run {
			for k, v := range rowStrings(&run[j]) {
				vals[k] = append(vals[k], v)
			}
		}
	}
	for k, at := range rowStringCols {
		if err := batch.Column(at).Append(vals[k]); err != nil {
			return fmt.Errorf("append column %d: %w", at, err)
		}
	}
	return nil
}
