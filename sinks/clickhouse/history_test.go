package clickhouse

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// StoredOrigins reads back exactly the batches stored, from the raw and
// the late table, for the partitions asked about only.
func TestStoredOrigins(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, prometheus.NewRegistry())
	ctx := context.Background()

	rows := genInteractions(7, 30, day)
	write := func(b *schemas.Batch) {
		t.Helper()
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	write(batchOf("in", 0, 0, rows[:10]))
	write(batchOf("in", 0, 10, rows[10:15]))
	write(batchOf("in", 1, 0, rows[15:20]))
	write(batchOf("other", 0, 100, rows[20:25]))
	late := batchOf("in", 0, 15, nil)
	late.Origin.LastOffset = 19
	late.Late = rows[25:30]
	write(late)
	write(batchOf("in", 0, 0, rows[:10])) // a replay: stored once, listed once

	got, err := s.StoredOrigins(ctx, "in", []int32{0})
	if err != nil {
		t.Fatal(err)
	}
	want := []schemas.Origin{
		{Topic: "in", Partition: 0, FirstOffset: 0, LastOffset: 9},
		{Topic: "in", Partition: 0, FirstOffset: 10, LastOffset: 14},
		{Topic: "in", Partition: 0, FirstOffset: 15, LastOffset: 19},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("StoredOrigins(in, [0]) = %v, want %v", got, want)
	}
	if got, err := s.StoredOrigins(ctx, "in", []int32{2}); err != nil || len(got) != 0 {
		t.Fatalf("StoredOrigins of an empty partition = %v, %v", got, err)
	}
}
