package chdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

func httpDo(t *testing.T, method, base, query string, params url.Values, body string) (int, http.Header, string) {
	t.Helper()
	if params == nil {
		params = url.Values{}
	}
	if query != "" {
		params.Set("query", query)
	}
	req, err := http.NewRequest(method, base+"/?"+params.Encode(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTPCurlStyle(t *testing.T) {
	ts, _ := testServer(t)

	resp, err := http.Get(ts.URL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "Ok.\n" {
		t.Fatalf("ping: got %q", b)
	}

	resp, err = http.Get(ts.URL + "/?query=SELECT+1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "1\n" || resp.Header.Get("X-ClickHouse-Format") != "TabSeparated" ||
		resp.Header.Get("X-ClickHouse-Query-Id") == "" || resp.Header.Get("X-ClickHouse-Summary") == "" {
		t.Fatalf("GET SELECT 1: %d %q %v", resp.StatusCode, b, resp.Header)
	}

	f := func(name, method, query string, params url.Values, body string, wantStatus int, wantBody string) http.Header {
		t.Helper()
		st, h, got := httpDo(t, method, ts.URL, query, params, body)
		if st != wantStatus || !strings.HasPrefix(got, wantBody) {
			t.Fatalf("%s: got %d %q, want %d %q...", name, st, got, wantStatus, wantBody)
		}
		return h
	}
	f("create database in POST body", "POST", "", nil, "CREATE DATABASE IF NOT EXISTS curl", 200, "")
	f("create table", "POST", "", nil, "CREATE TABLE curl.t (a UInt32, s String) ENGINE=MergeTree ORDER BY a", 200, "")
	f("insert JSONEachRow all in body", "POST", "", nil, "INSERT INTO curl.t FORMAT JSONEachRow\n{\"a\":1,\"s\":\"x\"}\n{\"a\":2,\"s\":\"y\"}\n", 200, "")
	f("insert JSONEachRow data in body", "POST", "INSERT INTO curl.t FORMAT JSONEachRow", nil, `{"a":3,"s":"z"}`, 200, "")
	f("insert TSV via temp file", "POST", "INSERT INTO curl.t FORMAT TabSeparated", nil, "4\tw\n5\tv\n", 200, "")
	f("insert CSVWithNames via temp file", "POST", "INSERT INTO curl.t FORMAT CSVWithNames", nil, "\"a\",\"s\"\n6,\"u\"\n", 200, "")
	f("insert RowBinary via temp file", "POST", "INSERT INTO curl.t FORMAT RowBinary", nil, "\x07\x00\x00\x00\x01t", 200, "")
	f("insert VALUES inline", "POST", "", nil, "INSERT INTO curl.t VALUES (8, 's')", 200, "")
	f("database param", "GET", "SELECT count() FROM t", url.Values{"database": {"curl"}}, "", 200, "8\n")
	f("default_format", "GET", "SELECT a, s FROM curl.t WHERE a = 7", url.Values{"default_format": {"JSONEachRow"}}, "", 200, "{\"a\":7,\"s\":\"t\"}\n")
	f("FORMAT clause wins", "GET", "SELECT a FROM curl.t WHERE a < 3 ORDER BY a FORMAT CSV", url.Values{"default_format": {"JSONEachRow"}}, "", 200, "1\n2\n")
	f("query param plus body continuation", "POST", "SELECT a FROM curl.t", nil, "WHERE a = 3", 200, "3\n")

	h := f("syntax error", "GET", "SELEC 1", nil, "", 400, "Code: 62. DB::Exception:")
	if h.Get("X-ClickHouse-Exception-Code") != "62" {
		t.Fatalf("syntax error code header: %v", h)
	}
	h = f("unknown table", "GET", "SELECT * FROM curl.nope", nil, "", 404, "Code: 60. DB::Exception:")
	if h.Get("X-ClickHouse-Exception-Code") != "60" {
		t.Fatalf("unknown table code header: %v", h)
	}
	h = f("runtime error", "GET", "SELECT throwIf(1)", nil, "", 500, "Code: 395. DB::Exception:")
	if h.Get("X-ClickHouse-Exception-Code") != "395" {
		t.Fatalf("throwIf code header: %v", h)
	}
	f("unknown setting", "GET", "SELECT 1", url.Values{"no_such_setting": {"1"}}, "", 404, "Code: 115. DB::Exception:")
	f("unknown path", "GET", "", nil, "", 400, "") // empty query
}

// X-ClickHouse-Summary says what the query read from storage, as
// ClickHouse's HTTP interface does: Grafana's query inspector shows
// read_rows, and it used to be the result's row count (1 for a count()).
func TestHTTPSummary(t *testing.T) {
	ts, _ := testServer(t)
	f := func(name, method, query, body string, want map[string]string) {
		t.Helper()
		st, h, got := httpDo(t, method, ts.URL, query, nil, body)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %q", name, st, got)
		}
		var sum map[string]string
		if err := json.Unmarshal([]byte(h.Get("X-ClickHouse-Summary")), &sum); err != nil {
			t.Fatalf("%s: summary %q: %v", name, h.Get("X-ClickHouse-Summary"), err)
		}
		for _, k := range []string{"read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "result_rows", "result_bytes", "elapsed_ns"} {
			if _, err := strconv.ParseUint(sum[k], 10, 64); err != nil {
				t.Fatalf("%s: summary field %s = %q: %v", name, k, sum[k], err)
			}
		}
		for k, v := range want {
			if sum[k] != v {
				t.Fatalf("%s: summary %s = %s, want %s (%v)", name, k, sum[k], v, sum)
			}
		}
	}
	f("count over a table function reads every row", "GET", "SELECT count() FROM numbers(1000000)", "",
		map[string]string{"read_rows": "1000000", "read_bytes": "8000000", "result_rows": "1", "written_rows": "0"})
	f("create", "POST", "", "CREATE TABLE default.summary (a UInt64) ENGINE = MergeTree ORDER BY a SETTINGS index_granularity = 1000", nil)
	f("insert select writes and reads", "POST", "", "INSERT INTO default.summary SELECT number FROM numbers(50000)",
		map[string]string{"written_rows": "50000", "written_bytes": "400000", "read_rows": "50000"})
	// The primary key prunes to one granule of 1,000 rows: read_rows is
	// what was read, not the table's 50,000 rows nor the 10 result rows.
	f("key lookup reads one granule", "GET", "SELECT a FROM default.summary WHERE a < 10", "",
		map[string]string{"read_rows": "1000", "result_rows": "10"})
}

// Settings given as URL parameters apply to that query only: the next
// queries, on whichever pooled connection, see the defaults again.
func TestHTTPSettingsDoNotLeak(t *testing.T) {
	ts, _ := testServer(t)
	_, _, def := httpDo(t, "GET", ts.URL, "SELECT getSetting('max_block_size')", nil, "")
	_, _, got := httpDo(t, "GET", ts.URL, "SELECT getSetting('max_block_size')", url.Values{"max_block_size": {"1234"}, "async_insert": {"0"},
		"wait_end_of_query": {"1"}, "max_execution_time": {"30"}, "query_id": {"q1"}, "session_id": {"s"}, "user": {"default"}, "password": {""},
		"client_protocol_version": {"54460"}, "insert_deduplication_token": {"tok"}, "deduplicate_blocks_in_dependent_materialized_views": {"1"}}, "")
	if got != "1234\n" {
		t.Fatalf("setting not applied: %q", got)
	}
	for range 6 {
		if _, _, again := httpDo(t, "GET", ts.URL, "SELECT getSetting('max_block_size'), getSetting('insert_deduplication_token')", nil, ""); again != strings.TrimRight(def, "\n")+"\t\n" {
			t.Fatalf("setting leaked: %q, default %q", again, def)
		}
	}
}

type typesRow struct {
	S    string
	LC   string
	TS64 time.Time
	DT   time.Time
	D    time.Time
	F    float64
	NF   *float64
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	I64  int64
	B    bool
	NB   *bool
	M    map[string]string
	Arr  []string
	ID   uuid.UUID
	Dec  decimal.Decimal
}

const typesDDL = `CREATE TABLE %s (
	s String, lc LowCardinality(String), ts64 DateTime64(3, 'UTC'), dt DateTime, d Date,
	f Float64, nf Nullable(Float64), u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, i64 Int64,
	b Bool, nb Nullable(Bool), m Map(String, String), arr Array(String), id UUID, dec Decimal(18, 4)
) ENGINE = MergeTree ORDER BY u32`

func sampleRow(i int) typesRow {
	f := float64(i) + 0.25
	b := i%2 == 0
	r := typesRow{
		S: fmt.Sprintf("s-%d", i), LC: fmt.Sprintf("team-%d", i%3),
		TS64: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second + 123*time.Millisecond),
		DT:   time.Date(2026, 3, 1, 12, 0, i%60, 0, time.UTC),
		D:    time.Date(2026, 3, 1+i%28, 0, 0, 0, 0, time.UTC),
		F:    f, U8: uint8(i), U16: uint16(i * 3), U32: uint32(i), U64: uint64(i) << 40, I64: -int64(i) * 1000,
		B: b, M: map[string]string{"k": fmt.Sprint(i)}, Arr: []string{"a", fmt.Sprint(i)},
		ID:  uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint(i))),
		Dec: decimal.New(int64(i)*10001, -4),
	}
	if i%3 != 0 {
		r.NF = &f
		r.NB = &b
	} else {
		r.M = map[string]string{}
		r.Arr = []string{}
	}
	return r
}

func TestClickhouseGoTypesRoundTrip(t *testing.T) {
	_, conn := testServer(t)
	ctx := context.Background()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	mustExec(t, conn, "CREATE DATABASE IF NOT EXISTS types")
	mustExec(t, conn, fmt.Sprintf(typesDDL, "types.t"))

	// Rows 0..9 row by row, 10..19 columnar.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO types.t")
	if err != nil {
		t.Fatal(err)
	}
	var want []typesRow
	for i := range 10 {
		r := sampleRow(i)
		want = append(want, r)
		if err := batch.Append(r.S, r.LC, r.TS64, r.DT, r.D, r.F, r.NF, r.U8, r.U16, r.U32, r.U64, r.I64, r.B, r.NB, r.M, r.Arr, r.ID, r.Dec); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send rows: %v", err)
	}

	batch, err = conn.PrepareBatch(ctx, "INSERT INTO types.t")
	if err != nil {
		t.Fatal(err)
	}
	var (
		s, lc, cols []string
		ts64, dt, d []time.Time
		f           []float64
		nf          []*float64
		u8          []uint8
		u16         []uint16
		u32         []uint32
		u64         []uint64
		i64         []int64
		b           []bool
		nb          []*bool
		m           []map[string]string
		arr         [][]string
		id          []uuid.UUID
		dec         []decimal.Decimal
	)
	_ = cols
	for i := 10; i < 20; i++ {
		r := sampleRow(i)
		want = append(want, r)
		s, lc, ts64, dt, d = append(s, r.S), append(lc, r.LC), append(ts64, r.TS64), append(dt, r.DT), append(d, r.D)
		f, nf, u8, u16, u32, u64, i64 = append(f, r.F), append(nf, r.NF), append(u8, r.U8), append(u16, r.U16), append(u32, r.U32), append(u64, r.U64), append(i64, r.I64)
		b, nb, m, arr, id, dec = append(b, r.B), append(nb, r.NB), append(m, r.M), append(arr, r.Arr), append(id, r.ID), append(dec, r.Dec)
	}
	for i, col := range []any{s, lc, ts64, dt, d, f, nf, u8, u16, u32, u64, i64, b, nb, m, arr, id, dec} {
		if err := batch.Column(i).Append(col); err != nil {
			t.Fatalf("column %d append: %v", i, err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("send columns: %v", err)
	}

	rows, err := conn.Query(ctx, "SELECT * FROM types.t ORDER BY u32")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()
	var got []typesRow
	for rows.Next() {
		var r typesRow
		if err := rows.Scan(&r.S, &r.LC, &r.TS64, &r.DT, &r.D, &r.F, &r.NF, &r.U8, &r.U16, &r.U32, &r.U64, &r.I64, &r.B, &r.NB, &r.M, &r.Arr, &r.ID, &r.Dec); err != nil {
			t.Fatalf("scan: %v", err)
		}
		r.TS64, r.DT, r.D = r.TS64.UTC(), r.DT.UTC(), r.D.UTC()
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if !g.Dec.Equal(w.Dec) {
			t.Fatalf("row %d decimal: got %v want %v", i, g.Dec, w.Dec)
		}
		g.Dec, w.Dec = decimal.Decimal{}, decimal.Decimal{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	// A scalar via QueryRow, as product code reads counts.
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM types.t WHERE lc = 'team-1'").Scan(&n); err != nil || n != 7 {
		t.Fatalf("count lc: %d %v", n, err)
	}
}

// AggregateFunction states written by a materialized view are read back
// with -Merge, as the product's dashboards do.
func TestClickhouseGoAggregateMerge(t *testing.T) {
	_, conn := testServer(t)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS agg",
		"CREATE TABLE agg.raw (k UInt8, v Float64) ENGINE = MergeTree ORDER BY k",
		`CREATE TABLE agg.q (k UInt8, q AggregateFunction(quantilesTDigest(0.5, 0.9), Float64), c SimpleAggregateFunction(sum, UInt64))
			ENGINE = AggregatingMergeTree ORDER BY k`,
		`CREATE MATERIALIZED VIEW agg.mv TO agg.q AS
			SELECT k, quantilesTDigestState(0.5, 0.9)(v) AS q, count() AS c FROM agg.raw GROUP BY k`,
	} {
		mustExec(t, conn, q)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO agg.raw")
	if err != nil {
		t.Fatal(err)
	}
	var ks []uint8
	var vs []float64
	for i := 1; i <= 10; i++ {
		ks, vs = append(ks, 1), append(vs, float64(i))
	}
	if err := batch.Column(0).Append(ks); err != nil {
		t.Fatal(err)
	}
	if err := batch.Column(1).Append(vs); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var (
		qs []float64
		c  uint64
	)
	if err := conn.QueryRow(ctx, "SELECT quantilesTDigestMerge(0.5, 0.9)(q), sum(c) FROM agg.q WHERE k = 1").Scan(&qs, &c); err != nil {
		t.Fatal(err)
	}
	// With 10 values the t-digest keeps every point as its own centroid and
	// answers with a stored point, as ClickHouse server does.
	if c != 10 || !reflect.DeepEqual(qs, []float64{5, 9}) {
		t.Fatalf("got quantiles %v count %d", qs, c)
	}
}

// clickhouse-go's HTTP compression options: LZ4/ZSTD use ClickHouse block
// compression (compress=1, decompress=1); GZIP sets Content-Encoding on
// inserts and Accept-Encoding on queries (answered uncompressed, which the
// driver accepts).
func TestClickhouseGoCompression(t *testing.T) {
	ts, _ := testServer(t)
	u, _ := url.Parse(ts.URL)
	ctx := context.Background()
	for _, m := range []clickhouse.CompressionMethod{clickhouse.CompressionLZ4, clickhouse.CompressionZSTD, clickhouse.CompressionGZIP, clickhouse.CompressionDeflate} {
		t.Run(m.String(), func(t *testing.T) {
			conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{u.Host}, Protocol: clickhouse.HTTP,
				Compression: &clickhouse.Compression{Method: m}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			db := "compr_" + m.String()
			mustExec(t, conn, "CREATE DATABASE IF NOT EXISTS "+db)
			mustExec(t, conn, "CREATE TABLE "+db+".t (a UInt64, s String) ENGINE = MergeTree ORDER BY a")
			batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".t")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 1000 {
				if err := batch.Append(uint64(i), strings.Repeat("x", i%50)); err != nil {
					t.Fatal(err)
				}
			}
			if err := batch.Send(); err != nil {
				t.Fatalf("send: %v", err)
			}
			var n, sum uint64
			if err := conn.QueryRow(ctx, "SELECT count(), sum(a) FROM "+db+".t").Scan(&n, &sum); err != nil || n != 1000 || sum != 499500 {
				t.Fatalf("got %d %d %v", n, sum, err)
			}
			err = conn.Exec(ctx, "SELECT * FROM "+db+".nope")
			var ex *clickhouse.Exception
			if !errors.As(err, &ex) || ex.Code != 60 {
				t.Fatalf("want exception 60, got %v", err)
			}
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	e := testEngine(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(e, testLogger(t)).Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/?query=SELECT+42")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "42\n" {
		t.Fatalf("got %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// clickhouse-go's server-side query parameters ({name:Type}, sent as
// param_name over HTTP) are bound by chDB, and do not outlive the query.
func TestClickhouseGoQueryParameters(t *testing.T) {
	_, conn := testServer(t)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(clickhouse.Parameters{
		"d": "2026-11-02", "s": "it's", "n": "3",
	}))
	var d time.Time
	var s string
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT {d:Date}, {s:String}, count() FROM (SELECT number FROM numbers(10) LIMIT {n:UInt64})").Scan(&d, &s, &n); err != nil {
		t.Fatal(err)
	}
	if d.Format(time.DateOnly) != "2026-11-02" || s != "it's" || n != 3 {
		t.Fatalf("got %s %q %d, want 2026-11-02 \"it's\" 3", d.Format(time.DateOnly), s, n)
	}
	// Every pooled connection, without parameters: none is set any more.
	for range 4 {
		if err := conn.QueryRow(context.Background(), "SELECT {n:UInt64}").Scan(&n); err == nil {
			t.Fatalf("a parameter outlived its query: {n} = %d", n)
		}
	}
}
