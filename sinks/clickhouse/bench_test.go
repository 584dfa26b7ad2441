package clickhouse

import (
	"context"
	"testing"
)

// BenchmarkWrite50k measures Write of 50k-row batches (realistic generated
// interactions, each batch at new offsets so nothing is deduplicated) into
// the embedded chDB engine over HTTP, end to end: column fill, Native
// encoding, HTTP, chDB parsing, part write and the rollup view.
//
//	go test -run '^$' -bench Write50k -benchtime=3x -count=5 ./sinks/clickhouse/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkWrite50k(b *testing.B) {
	const n = 50_000
	srv := startServer(b)
	s := newTestSink(b, srv.addr, dbName(b), nil)
	rows := genInteractions(99, n, day)
	var bytes int64
	for _, r := range rows {
		bytes += int64(len(r.EventID) + len(r.Source) + len(r.RepID) + len(r.TeamID) + len(r.AccountID) + len(r.LeadID) + len(r.ContactKey) + 8*6)
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	ctx := context.Background()
	var off int64
	cpu0 := cpuTime(b)
	for b.Loop() {
		if err := s.Write(ctx, batchOf("interactions.v1", 0, off, rows)); err != nil {
			b.Fatal(err)
		}
		off += n
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
	// The engine runs in this process: its CPU is counted with the sink's.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N*n), "cpu-ns/row")
}

// BenchmarkGrouped100k measures 100k rows inserted as eight 12.5k-row
// batches (the size the Kafka source cuts), per batch (Write) and grouped
// into one insert (Grouped), into the embedded chDB engine over HTTP.
//
//	go test -run '^$' -bench Grouped100k -benchtime=3x -count=8 ./sinks/clickhouse/ | tee new.txt
//	benchstat new.txt
func BenchmarkGrouped100k(b *testing.B) {
	const n, parts = 100_000, 8
	for _, mode := range []string{"per-batch", "grouped"} {
		b.Run(mode, func(b *testing.B) {
			srv := startServer(b)
			s := newTestSink(b, srv.addr, dbName(b), nil)
			rows := genInteractions(99, n, day)
			b.ReportAllocs()
			ctx := context.Background()
			g := s.Grouped()
			var off int64
			for b.Loop() {
				for p := range int32(parts) {
					bt := batchOf("interactions.v1", p, off, rows[int(p)*n/parts:int(p+1)*n/parts])
					if mode == "per-batch" {
						if err := s.Write(ctx, bt); err != nil {
							b.Fatal(err)
						}
						continue
					}
					g.Submit(ctx, bt, func(err error) {
						if err != nil {
							b.Error(err)
						}
					})
				}
				if err := g.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				off += n
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
