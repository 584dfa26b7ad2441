package chdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The tests run against the real libchdb.so, resolved like Open does
// (SALESPULSE_LIBCHDB, else the scripts/fetch-chdb.sh cache). Gate, as in
// ch-go's e2e suite: unset SALESPULSE_EMBEDDED_TESTS skips when the library
// is missing; 1/true (CI) fails loudly instead.
//
// chDB allows one data dir per process, so every test shares one engine on
// one dir; each test uses its own database.

var (
	sharedMu  sync.Mutex
	sharedDir string
	sharedEng *Engine
)

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if sharedEng != nil {
		// An open chDB connection crashes the process at exit.
		sharedEng.Close()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	sharedMu.Unlock()
	os.Exit(code)
}

func requireLib(t testing.TB) {
	t.Helper()
	p := ResolveLibPath("")
	if _, err := os.Stat(p); err == nil {
		return
	}
	switch strings.ToLower(os.Getenv("SALESPULSE_EMBEDDED_TESTS")) {
	case "":
		t.Skipf("libchdb.so not found at %s: run scripts/fetch-chdb.sh (set SALESPULSE_EMBEDDED_TESTS=1 to make this fatal)", p)
	case "1", "true":
		t.Fatalf("SALESPULSE_EMBEDDED_TESTS is set but libchdb.so not found at %s: run scripts/fetch-chdb.sh or set %s", p, EnvLibPath)
	default:
		t.Skipf("SALESPULSE_EMBEDDED_TESTS=%q is not 1/true and libchdb.so is missing at %s", os.Getenv("SALESPULSE_EMBEDDED_TESTS"), p)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testEngine returns the process-wide engine, opening it on first use.
func testEngine(t testing.TB) *Engine {
	t.Helper()
	requireLib(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedEng != nil {
		return sharedEng
	}
	if sharedDir == "" {
		d, err := os.MkdirTemp("", "chdb-test-")
		if err != nil {
			t.Fatal(err)
		}
		sharedDir = d
	}
	e, err := Open(Config{DataDir: sharedDir, Conns: 3, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	sharedEng = e
	return e
}

// testServer serves the shared engine on an httptest server and returns a
// clickhouse-go connection to it over HTTP.
func testServer(t *testing.T) (*httptest.Server, driver.Conn) {
	t.Helper()
	e := testEngine(t)
	ts := httptest.NewServer(NewServer(e, testLogger(t)))
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{u.Host},
		Protocol: clickhouse.HTTP,
	})
	if err != nil {
		t.Fatalf("clickhouse.Open: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return ts, conn
}

func mustExec(t *testing.T, conn driver.Conn, sql string) {
	t.Helper()
	if err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func queryString(t *testing.T, e *Engine, sql string) string {
	t.Helper()
	out, err := e.Query(context.Background(), sql, "TabSeparated")
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return strings.TrimRight(string(out), "\n")
}

func TestOpenMissingLibrary(t *testing.T) {
	_, err := Open(Config{DataDir: t.TempDir(), LibPath: "/nonexistent/libchdb.so"})
	if !errors.Is(err, ErrLibraryNotFound) || !strings.Contains(err.Error(), "run scripts/fetch-chdb.sh or set SALESPULSE_LIBCHDB") {
		t.Fatalf("want ErrLibraryNotFound with a hint, got %v", err)
	}
}

func TestEngineQueryAndErrors(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	f := func(sql, format, want string) {
		t.Helper()
		out, err := e.Query(ctx, sql, format)
		if err != nil {
			t.Fatalf("query %q: %v", sql, err)
		}
		if string(out) != want {
			t.Fatalf("query %q format %q: got %q want %q", sql, format, out, want)
		}
	}
	f("SELECT 1", "", "1\n")
	f("SELECT 1 AS x", "JSONEachRow", "{\"x\":1}\n")
	f("SELECT 1 AS x FORMAT CSV", "JSONEachRow", "1\n") // a FORMAT clause wins

	_, err := e.Query(ctx, "SELEC 1", "")
	var ex *Exception
	if !errors.As(err, &ex) || ex.Code != 62 || ex.Name != "SYNTAX_ERROR" || !strings.HasPrefix(ex.Message, "Code: 62. DB::Exception:") {
		t.Fatalf("want SYNTAX_ERROR exception, got %#v", err)
	}
}

func TestConcurrentQueries(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := 1000 + w*each + i
				out, err := e.Query(ctx, fmt.Sprintf("SELECT sum(number) FROM numbers(%d)", n), "")
				if err != nil {
					errc <- err
					return
				}
				if want := fmt.Sprintf("%d\n", n*(n-1)/2); string(out) != want {
					errc <- fmt.Errorf("numbers(%d): got %q want %q", n, out, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("%d queries from %d goroutines over %d conns in %v", workers*each, workers, e.cfg.Conns, time.Since(start))
}

// Data lives in DataDir and survives closing the engine; chDB 26.5 lets the
// same process reopen the dir after every connection was closed.
func TestPersistAcrossReopen(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS persist",
		"CREATE TABLE persist.t (a UInt32) ENGINE = MergeTree ORDER BY a",
		"INSERT INTO persist.t SELECT number FROM numbers(1000)",
	} {
		if _, err := e.Query(ctx, q, ""); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sharedMu.Lock()
	if err := e.Close(); err != nil {
		sharedMu.Unlock()
		t.Fatalf("close: %v", err)
	}
	if err := e.Close(); err != nil { // second Close is a no-op
		sharedMu.Unlock()
		t.Fatalf("second close: %v", err)
	}
	if _, err := e.Query(ctx, "SELECT 1", ""); !errors.Is(err, ErrClosed) {
		sharedMu.Unlock()
		t.Fatalf("query after close: want ErrClosed, got %v", err)
	}
	sharedEng = nil
	sharedMu.Unlock()

	e = testEngine(t) // reopens the same dir
	if got := queryString(t, e, "SELECT count(), sum(a) FROM persist.t"); got != "1000\t499500" {
		t.Fatalf("after reopen: %q", got)
	}
}
