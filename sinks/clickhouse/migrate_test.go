package clickhouse

import (
	"context"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/sinks/clickhouse/migrate"
)

// The clustered DDL cannot run without Keeper, but ClickHouse can parse it:
// formatQuery fails on a syntax error.
func TestClusterDDLParses(t *testing.T) {
	srv := startServer(t)
	s := newTestSink(t, srv.addr, dbName(t), nil)
	stmts, err := migrate.Statements("sp", "prod-eu")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		var out string
		if err := s.conn.QueryRow(context.Background(), "SELECT formatQuery(?)", q).Scan(&out); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		// A backfill INSERT has no ON CLUSTER (migration 012).
		if !strings.HasPrefix(q, "INSERT INTO ") && !strings.Contains(out, "ON CLUSTER `prod-eu`") && !strings.Contains(out, "ON CLUSTER prod-eu") && !strings.Contains(out, "ON CLUSTER \"prod-eu\"") {
			t.Errorf("formatted query lost ON CLUSTER:\n%s", out)
		}
	}
}
