package clickhouse

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/salespulse/salespulse/schemas"
)

// BenchmarkAppendInteractionColumns measures the pipeline's side of an
// insert into interactions without a server: one 12,500-row batch (a
// drain's typical cut) filled into columns, appended to clickhouse-go's
// column types, and encoded as the Native block that goes on the wire (the
// same over HTTP and native), per row. Every insert gets new driver columns,
// as from PrepareBatch, which builds them empty; until 2026-12-05 the
// benchmark reset and reused them, so their appends never had to grow.
//
//	go test ./sinks/clickhouse -run '^$' -bench AppendInteractionColumns -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkAppendInteractionColumns(b *testing.B) {
	const n = 12_500
	rows := genInteractions(99, n, day)
	o := batchOf("interactions.v1", 3, 1000, rows).Origin
	ingested := day.Add(time.Hour)
	var c interactionCols
	var buf proto.Buffer
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		batch := newColumnBatch(b, interactionColumns)
		c.fill(rows, o, ingested, false)
		if err := c.appendTo(batch, false); err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		batch.encode(&buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	// Process CPU, GC included, is steadier than wall time on a shared
	// machine.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N*n), "cpu-ns/row")
}

// BenchmarkAppendGroupColumns is BenchmarkAppendInteractionColumns for a
// drain's grouped insert: 66,000 rows (1M events in ~15 inserts), six
// batches of 11,000 added one after the other, through the sink's free
// list as insertMonth does, so the group's columns, larger than
// maxPooledRows, are made for each insert and dropped after it.
//
//	go test ./sinks/clickhouse -run '^$' -bench AppendGroupColumns -count=8 | tee new.txt
func BenchmarkAppendGroupColumns(b *testing.B) {
	const n, parts = 66_000, 6
	rows := genInteractions(99, n, day)
	o := batchOf("interactions.v1", 3, 1000, rows).Origin
	ingested := day.Add(time.Hour)
	s := &Sink{freeCols: make(chan *interactionCols, 2)}
	var buf proto.Buffer
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		batch := newColumnBatch(b, interactionColumns)
		_, fill, release := s.colsInsert(func(c *interactionCols) {
			c.begin(n)
			for k := range parts {
				c.add(rows[k*n/parts:(k+1)*n/parts], o, ingested, false)
			}
		}, false)
		if err := fill(batch); err != nil {
			b.Fatal(err)
		}
		release()
		buf.Reset()
		batch.encode(&buf)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N*n), "cpu-ns/row")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// columnBatch is a driver.Batch over bare clickhouse-go columns: what
// PrepareBatch builds, without a connection.
type columnBatch struct {
	driver.Batch // not implemented: the column appenders call only Column and Columns
	cols         []column.Interface
}

func newColumnBatch(tb testing.TB, types []clickhouse.ColumnNameAndType) *columnBatch {
	cb := &columnBatch{}
	for _, t := range types {
		col, err := column.Type(t.Type).Column(t.Name, &column.ServerContext{})
		if err != nil {
			tb.Fatal(err)
		}
		cb.cols = append(cb.cols, col)
	}
	return cb
}

func (cb *columnBatch) Column(k int) driver.BatchColumn { return batchColumn{cb.cols[k]} }

func (cb *columnBatch) Columns() []column.Interface {
	return append([]column.Interface(nil), cb.cols...)
}

func (cb *columnBatch) encode(buf *proto.Buffer) {
	for _, c := range cb.cols {
		if s, ok := c.(column.CustomSerialization); ok {
			if err := s.WriteStatePrefix(buf); err != nil {
				panic(err)
			}
		}
		c.Encode(buf)
	}
}

type batchColumn struct{ c column.Interface }

func (bc batchColumn) Append(v any) error {
	_, err := bc.c.Append(v)
	return err
}

func (bc batchColumn) AppendRow(v any) error { return bc.c.AppendRow(v) }

// BenchmarkAppendActivityColumns is BenchmarkAppendInteractionColumns for
// the KBI path (kbiLayouts, columnWriter): one batch's activity_daily rows,
// the largest table the leads flow still writes per batch (~7,000 rows per
// batch in a drain), appended and encoded, per row.
func BenchmarkAppendActivityColumns(b *testing.B) {
	const n = 7_000
	channels := []string{"email", "call", "meeting", "social", "chat"}
	rows := make(schemas.ActivityRows, n)
	for k := range rows {
		rows[k] = schemas.ActivityRow{
			Day: day, TeamID: "team-" + strconv.Itoa(k%100), RepID: "rep-" + strconv.Itoa(k%1000),
			Channel: channels[k%len(channels)], Type: "message", Direction: "outbound",
			Interactions: uint64(k%7 + 1), DurationS: float64(k % 600),
		}
	}
	l := kbiLayouts[schemas.TableActivity]
	var buf proto.Buffer
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		batch := newColumnBatch(b, l.cols)
		if err := l.append(batch, rows); err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		batch.encode(&buf)
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N*n), "cpu-ns/row")
}

// BenchmarkSplitMonths: a drain's 12,500-row batch whose rows cross from
// one month into the next halfway, split for the per-month inserts of a
// group (one op is one batch).
//
//	go test ./sinks/clickhouse -run '^$' -bench SplitMonths -count=8 | tee new.txt
func BenchmarkSplitMonths(b *testing.B) {
	const n = 12_500
	rows := append(genInteractions(98, n/2, day.Add(-24*time.Hour)), genInteractions(99, n/2, day)...)
	bt := batchOf("interactions.v1", 3, 1000, rows)
	b.ReportAllocs()
	for b.Loop() {
		if len(splitMonths(bt)) != 2 {
			b.Fatal("want two months")
		}
	}
}
