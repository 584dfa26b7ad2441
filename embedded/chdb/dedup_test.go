package chdb

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A replayed batch with the same insert_deduplication_token must change
// neither the table nor the materialized view's target: that is what makes
// Kafka replays harmless. clickhouse-go sends Native, so this exercises the
// temp-file INSERT ... SELECT FROM file() route.
func TestDedupTokenNativeInsert(t *testing.T) {
	_, conn := testServer(t)
	ctx := context.Background()
	createDedupTables(t, conn, "dedup_native")

	send := func(token string, base int) {
		t.Helper()
		c := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
			"insert_deduplication_token":                         token,
			"deduplicate_blocks_in_dependent_materialized_views": 1,
			"async_insert": 0,
		}))
		batch, err := conn.PrepareBatch(c, "INSERT INTO dedup_native.raw")
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		var vs []uint64
		for i := range 100 {
			ks, vs = append(ks, fmt.Sprintf("k%d", i%5)), append(vs, uint64(base+i))
		}
		if err := batch.Column(0).Append(ks); err != nil {
			t.Fatal(err)
		}
		if err := batch.Column(1).Append(vs); err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("send token %s: %v", token, err)
		}
	}
	check := func(wantRaw, wantView uint64) {
		t.Helper()
		var raw, view uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM dedup_native.raw").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT sum(c) FROM dedup_native.agg").Scan(&view); err != nil {
			t.Fatal(err)
		}
		if raw != wantRaw || view != wantView {
			t.Fatalf("raw %d view %d, want %d %d", raw, view, wantRaw, wantView)
		}
	}
	send("t1", 0)
	check(100, 100)
	send("t1", 0) // replay: identical batch, same token
	check(100, 100)
	send("t1", 1000) // different data, same token: still a duplicate by token
	check(100, 100)
	send("t2", 0) // same data, new token: a new insert
	check(200, 200)
}

// The same guarantee through the inline JSONEachRow route, token as a URL
// parameter as curl or a non-Go client would send it.
func TestDedupTokenJSONEachRowInsert(t *testing.T) {
	ts, conn := testServer(t)
	createDedupTables(t, conn, "dedup_json")
	body := `{"k":"a","v":1}` + "\n" + `{"k":"b","v":2}` + "\n"
	params := func() url.Values {
		return url.Values{"insert_deduplication_token": {"j1"}, "deduplicate_blocks_in_dependent_materialized_views": {"1"}, "async_insert": {"0"}}
	}
	for range 2 {
		if st, _, out := httpDo(t, "POST", ts.URL, "INSERT INTO dedup_json.raw FORMAT JSONEachRow", params(), body); st != 200 {
			t.Fatalf("insert: %d %s", st, out)
		}
	}
	e := testEngine(t)
	if got := queryString(t, e, "SELECT count() FROM dedup_json.raw"); got != "2" {
		t.Fatalf("raw count %s", got)
	}
	if got := queryString(t, e, "SELECT sum(c) FROM dedup_json.agg"); got != "2" {
		t.Fatalf("view count %s", got)
	}
}

func createDedupTables(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		"CREATE TABLE " + db + ".raw (k String, v UInt64) ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 1000",
		"CREATE TABLE " + db + ".agg (k String, c UInt64) ENGINE = SummingMergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 1000",
		"CREATE MATERIALIZED VIEW " + db + ".mv TO " + db + ".agg AS SELECT k, count() AS c FROM " + db + ".raw GROUP BY k",
	} {
		mustExec(t, conn, q)
	}
}

// Inserts 100k rows of a 20-column table through clickhouse-go's columnar
// batch and logs the rate; no timed assertion (shared CI machines).
func TestInsert100kRows(t *testing.T) {
	_, conn := testServer(t)
	ctx := context.Background()
	mustExec(t, conn, "CREATE DATABASE IF NOT EXISTS bulk")
	mustExec(t, conn, fmt.Sprintf(typesDDL, "bulk.t"))
	mustExec(t, conn, "ALTER TABLE bulk.t ADD COLUMN extra1 String, ADD COLUMN extra2 LowCardinality(String)")
	const n = 100_000
	cols := make([]any, 0, 20)
	{
		var (
			s, lc, e1, e2 = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			ts64, dt, d   = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
			f             = make([]float64, n)
			nf            = make([]*float64, n)
			u8            = make([]uint8, n)
			u16           = make([]uint16, n)
			u32           = make([]uint32, n)
			u64           = make([]uint64, n)
			i64           = make([]int64, n)
			b             = make([]bool, n)
			nb            = make([]*bool, n)
			m             = make([]map[string]string, n)
			arr           = make([][]string, n)
			id            = make([]string, n)
			dec           = make([]string, n)
		)
		for i := range n {
			r := sampleRow(i)
			s[i], lc[i], ts64[i], dt[i], d[i], f[i], nf[i] = r.S, r.LC, r.TS64, r.DT, r.D, r.F, r.NF
			u8[i], u16[i], u32[i], u64[i], i64[i], b[i], nb[i] = r.U8, r.U16, r.U32, r.U64, r.I64, r.B, r.NB
			m[i], arr[i], id[i], dec[i] = r.M, r.Arr, r.ID.String(), r.Dec.String()
			e1[i], e2[i] = "rep-"+r.S, r.LC
		}
		cols = append(cols, s, lc, ts64, dt, d, f, nf, u8, u16, u32, u64, i64, b, nb, m, arr, id, dec, e1, e2)
	}
	start := time.Now()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO bulk.t")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			t.Fatalf("column %d: %v", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	var got uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM bulk.t").Scan(&got); err != nil || got != n {
		t.Fatalf("count %d %v", got, err)
	}
	t.Logf("100k rows x 20 columns via PrepareBatch/Send over HTTP (Native, temp file): %v, %.0f rows/s", el, n/el.Seconds())
}
