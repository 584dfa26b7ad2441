package clickhouse

import (
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// groupClass says how a KBI table's rows of many batches may share one
// insert (group.go), by what makes a replayed batch's rows harmless
// there once the insert's dedup token no longer names the batch alone.
type groupClass uint8

const (
	// perBatch: one insert per batch, under the batch's own token. Alerts
	// are grouped by their own rule (insertAlerts).
	perBatch groupClass = iota
	// idempotent: a row stored twice changes nothing any reader or view
	// sees, so a replay needs no lookup (the layout says why, per table).
	idempotent
	// appendOnly: MergeTree whose rows carry their batch's origin
	// (originColumns, migrations 015 and 016), inserted one part per
	// partition: a replayed batch's (origin, partition) found stored is
	// not inserted again, as with interactions (Sink.storedMonths). Where
	// merges fold rows of several batches (activity_daily's sums), what
	// is stored is looked up in a receipts table a view fills instead.
	appendOnly
)

// kbiGrouping is a kbiLayout's grouping: its class, the table's
// PARTITION BY expression (empty: unpartitioned), and the row-type
// specific operations the generic group code needs.
type kbiGrouping struct {
	class    groupClass
	partExpr string
	// receipts, if set, is the table an appendOnly table's stored
	// (origin, partition) are looked up in, its partition key in column
	// month: a view writes them there in the same insert (migration 016).
	receipts string
	// split returns rows by partition key, in order within each, sharing
	// rows' backing array when they are all of one key.
	split func(schemas.Rows) []keyedRows
	// clone copies rows so that the stage that made them may reuse its
	// buffers (window.Stage keeps them only until its next Process, which
	// runs while the batch waits in a group), pointer fields included.
	clone  func(schemas.Rows) schemas.Rows
	concat func([]schemas.Rows) schemas.Rows
}

// receiptsIn returns g looking up what is stored in table (receipts).
func (g kbiGrouping) receiptsIn(table string) kbiGrouping {
	g.receipts = table
	return g
}

// keyedRows are rows of one partition key (0 for an unpartitioned table).
type keyedRows struct {
	key  uint32
	rows schemas.Rows
}

// grouping builds a kbiGrouping for the row slice type RS: key gives a
// row's partition key as ClickHouse computes partExpr (nil: one
// partition); deep, if not nil, replaces a cloned row's pointer fields
// with copies.
func grouping[RS interface {
	~[]R
	schemas.Rows
}, R any](class groupClass, partExpr string, key func(*R) uint32, deep func(*R)) kbiGrouping {
	return kbiGrouping{
		class:    class,
		partExpr: partExpr,
		split: func(rows schemas.Rows) []keyedRows {
			rs := rows.(RS)
			if len(rs) == 0 {
				return nil
			}
			if key == nil {
				return []keyedRows{{0, rs}}
			}
			first := key(&rs[0])
			k := 1
			for k < len(rs) && key(&rs[k]) == first {
				k++
			}
			if k == len(rs) {
				return []keyedRows{{first, rs}}
			}
			var out []keyedRows
			at := map[uint32]int{}
			for i := range rs {
				kk := key(&rs[i])
				j, ok := at[kk]
				if !ok {
					j = len(out)
					at[kk] = j
					out = append(out, keyedRows{kk, RS(nil)})
				}
				out[j].rows = append(out[j].rows.(RS), rs[i])
			}
			return out
		},
		clone: func(rows schemas.Rows) schemas.Rows {
			rs := append(RS(nil), rows.(RS)...)
			if deep != nil {
				for i := range rs {
					deep(&rs[i])
				}
			}
			return rs
		},
		concat: func(parts []schemas.Rows) schemas.Rows {
			if len(parts) == 1 {
				return parts[0]
			}
			n := 0
			for _, p := range parts {
				n += p.Len()
			}
			out := make(RS, 0, n)
			for _, p := range parts {
				out = append(out, p.(RS)...)
			}
			return out
		},
	}
}

// own returns a copy of *p that p's owner cannot change (nil for nil).
func own[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// withOrigins returns cols followed by originColumns.
func withOrigins(cols []clickhouse.ColumnNameAndType) []clickhouse.ColumnNameAndType {
	return append(cols[:len(cols):len(cols)], originColumns...)
}

// originRun is n consecutive rows of one batch.
type originRun struct {
	o schemas.Origin
	n int
}

// fill appends rows to batch: the table's own columns, then, for an
// appendOnly table, each row's origin from runs (covering rows in order).
func (l kbiLayout) fill(batch driver.Batch, rows schemas.Rows, runs []originRun) error {
	if err := l.append(batch, rows); err != nil {
		return err
	}
	if l.group.class != appendOnly {
		return nil
	}
	n := rows.Len()
	topic, part := make([]string, 0, n), make([]int32, 0, n)
	first, last := make([]int64, 0, n), make([]int64, 0, n)
	for _, r := range runs {
		for range r.n {
			topic = append(topic, r.o.Topic)
			part = append(part, r.o.Partition)
			first = append(first, r.o.FirstOffset)
			last = append(last, r.o.LastOffset)
		}
	}
	c := &columnWriter{b: batch, k: len(l.cols) - len(originColumns)}
	c.add(topic)
	c.add(part)
	c.add(first)
	c.add(last)
	return c.err
}
