package clickhouse

import (
	"errors"
	"testing"
	"time"
)

// Select binds its parameters on the server (a quote in a value stays a
// value), scans by ch tags, and calls a stopped server or a query beyond
// max_execution_time unavailable, a bad query not.
func TestSelect(t *testing.T) {
	srv := startServer(t)
	s := newTestSink(t, srv.addr, dbName(t), nil)
	ctx := t.Context()
	var rows []struct {
		D string `ch:"d"`
		S string `ch:"s"`
		N uint64 `ch:"n"`
	}
	err := s.Select(ctx, &rows, "SELECT toString({d:Date}) AS d, {s:String} AS s, toUInt64(count()) AS n FROM numbers(10) WHERE number < {n:UInt64}",
		map[string]string{"d": "2026-11-02", "s": "x' OR 1=1 --", "n": "4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].D != "2026-11-02" || rows[0].S != "x' OR 1=1 --" || rows[0].N != 4 {
		t.Fatalf("rows %+v", rows)
	}

	if err := s.Select(ctx, &rows, "SELECT nope FROM numbers(1)", nil); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("bad query: %v, want an error that is not ErrUnavailable", err)
	}
	err = s.Select(ctx, &rows, "SELECT toString(today()) AS d, '' AS s, toUInt64(count()) AS n FROM numbers(10000000000) WHERE sleepEachRow(0.001) = 0 SETTINGS max_execution_time = 1, max_block_size = 1000", nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("a query beyond max_execution_time: %v, want ErrUnavailable", err)
	}

	srv.Stop()
	start := time.Now()
	if err := s.Select(ctx, &rows, "SELECT 1", nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("stopped server: %v, want ErrUnavailable", err)
	}
	t.Logf("a stopped server answered in %s", time.Since(start))
}
