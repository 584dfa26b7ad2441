package clickhouse

import (
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// clickhouse-go's LowCardinality column keeps its dictionary in a
// map[any]int, and appending a []string boxes and hashes every value. A
// LowCardinality(String) column without rows is therefore handed its
// dictionary and keys ready-made (encode_lowcardinality.go), and the other
// column types the sink writes their serialization (encode_fixed.go).

// appendColumns appends whole columns to batch in order, each through
// appendColumn; a nil column is skipped (the caller fills it otherwise).
func appendColumns(batch driver.Batch, cols []any) error {
	var types []column.Interface
	for k, v := range cols {
		if v == nil {
			continue
		}
		if err := appendColumn(batch, &types, k, v); err != nil {
			return fmt.Errorf("append column %d: %w", k, err)
		}
	}
	return nil
}

// appendColumn appends v to column k of batch, fetching the batch's
// columns into *types on first use. A column without rows is handed v
// serialized where appendEncoded knows how (encode_*.go); anything else
// goes through the column's Append.
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
	return batch.Column(k).Append(v)
}
