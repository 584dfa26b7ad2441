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
