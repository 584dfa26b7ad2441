package clickhouse

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// clickhouse-go's LowCardinality column keeps its dictionary in a
// map[any]int. Appending a []string goes through reflection and boxes
// every value into a new interface (one allocation per row) before hashing
// it. A LowCardinality(String) column without rows is therefore handed its
// dictionary and keys ready-made (encode_lowcardinality.go); any other
// LowCardinality column goes row by row through appendLowCardinality,
// which at least skips the reflection and the boxing: values are boxed
// once per distinct value per column append, through a small cache keyed
// by the value; a miss only costs the allocation Append would have made.

// appendColumns appends whole columns to batch in order, each through
// appendColumn.
func appendColumns(batch driver.Batch, cols []any) error {
	var types []column.Interface
	for k, v := range cols {
		if err := appendColumn(batch, &types, k, v); err != nil {
			return fmt.Errorf("append column %d: %w", k, err)
		}
	}
	return nil
}

// appendColumn appends v to column k of batch, fetching the batch's
// columns into *types on first use. A column without rows is handed v
// serialized where appendEncoded knows how (encode_*.go); a []string for
// any other LowCardinality column goes row by row through
// appendLowCardinality; the rest through the column's Append.
func appendColumn(batch driver.Batch, types *[]column.Interface, k int, v any) error {
	if *types == nil {
		*types = batch.Columns()
	}
	var col column.Interface
	if k < len(*types) {
		col = (*types)[k]
	}
	if handled, err := appendEncoded(col, v); handled {
		return err
	}
	if ss, ok := v.([]string); ok {
		if _, ok := col.(*column.LowCardinality); ok {
			return appendLowCardinality(batch.Column(k), ss)
		}
	}
	return batch.Column(k).Append(v)
}

// appendLowCardinality appends vals to col row by row, boxing each distinct
// value once.
func appendLowCardinality(col driver.BatchColumn, vals []string) error {
	var boxes boxCache
	for _, v := range vals {
		if err := col.AppendRow(boxes.box(v)); err != nil {
			return err
		}
	}
	return nil
}

// boxCache is a direct-mapped cache of strings boxed as interfaces.
type boxCache struct {
	slot [32]struct {
		s   string
		box any
	}
}

func (c *boxCache) box(s string) any {
	h := len(s)
	if len(s) > 0 {
		h = h*31 + int(s[0])*7 + int(s[len(s)-1])
	}
	e := &c.slot[h&(len(c.slot)-1)]
	if e.box == nil || e.s != s {
		e.s, e.box = s, s
	}
	return e.box
}
