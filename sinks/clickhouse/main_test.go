package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/embedded/chdb"
)

// The integration tests run against the embedded chDB engine served over
// ClickHouse's HTTP interface, the same code path production uses over the
// native protocol. Gate (as in ch-go's e2e suite): with SALESPULSE_EMBEDDED_TESTS
// unset they skip when libchdb.so is missing; with 1/true (CI) they fail.
//
// chDB allows one data dir per process, so all tests share one engine and
// one HTTP server; each test uses its own database.

var (
	sharedMu  sync.Mutex
	sharedDir string
	sharedEng *chdb.Engine
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

func requireLib(tb testing.TB) {
	tb.Helper()
	p := chdb.ResolveLibPath("")
	if _, err := os.Stat(p); err == nil {
		return
	}
	switch strings.ToLower(os.Getenv("SALESPULSE_EMBEDDED_TESTS")) {
	case "1", "true":
		tb.Fatalf("SALESPULSE_EMBEDDED_TESTS is set but libchdb.so is missing at %s: run scripts/fetch-chdb.sh", p)
	default:
		tb.Skipf("libchdb.so not found at %s: run scripts/fetch-chdb.sh (SALESPULSE_EMBEDDED_TESTS=1 makes this fatal)", p)
	}
}

func testEngine(tb testing.TB) *chdb.Engine {
	tb.Helper()
	requireLib(tb)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedEng != nil {
		return sharedEng
	}
	d, err := os.MkdirTemp("", "sink-clickhouse-test-")
	if err != nil {
		tb.Fatal(err)
	}
	sharedDir = d
	e, err := chdb.Open(chdb.Config{DataDir: d, Conns: 3})
	if err != nil {
		tb.Fatalf("open chdb: %v", err)
	}
	sharedEng = e
	return e
}

// server is the embedded engine's HTTP front end on a fixed local address
// that can be stopped and started again, to play a ClickHouse outage.
type server struct {
	addr   string
	engine *chdb.Engine
	mu     sync.Mutex
	stop   context.CancelFunc
	done   chan struct{}
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	s := &server{engine: testEngine(tb)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	tb.Cleanup(s.Stop)
	return s
}

func (s *server) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		chdb.NewServer(s.engine, nil).Serve(ctx, ln)
	}()
	s.mu.Lock()
	s.stop, s.done = cancel, done
	s.mu.Unlock()
}

// Stop closes the listener and every connection; the engine keeps its data.
func (s *server) Stop() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Start serves again on the same address.
func (s *server) Start(tb testing.TB) {
	tb.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after Stop
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// fixedClock is the sink's clock in tests: ingested_at is then known.
var testNow = time.Date(2026, 3, 2, 9, 30, 0, 123_000_000, time.UTC)

func testConfig(addr, db string) Config {
	return Config{
		Addresses:       []string{addr},
		Protocol:        "http",
		Database:        db,
		RetryBackoffMin: 5 * time.Millisecond,
		RetryBackoffMax: 50 * time.Millisecond,
		Clock:           func() time.Time { return testNow },
	}
}

func newTestSink(tb testing.TB, addr, db string, reg prometheus.Registerer) *Sink {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := NewSink(ctx, testConfig(addr, db), reg, testLogger(tb))
	if err != nil {
		tb.Fatalf("new sink: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dbName makes a database name unique per test.
func dbName(tb testing.TB) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, tb.Name())
	return fmt.Sprintf("t_%s_%d", strings.ToLower(n), time.Now().UnixNano()%1e6)
}

func queryUint(tb testing.TB, s *Sink, q string) uint64 {
	tb.Helper()
	var n uint64
	if err := s.conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}
