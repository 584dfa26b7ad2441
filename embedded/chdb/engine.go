// Package chdb embeds ClickHouse (chDB's libchdb.so, loaded with purego at
// Open time) and serves it over a subset of ClickHouse's HTTP interface, so
// the product's clickhouse-go code and curl scripts run against it unchanged
// on machines where no ClickHouse server installs.
//
// The library is loaded lazily: a binary importing this package starts and
// runs without libchdb.so; only Open fails, with ErrLibraryNotFound.
package chdb

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// Config configures an Engine. Zero values get the defaults documented on
// each field, applied in setDefaults.
type Config struct {
	// DataDir is chDB's --path: databases and parts live here and survive a
	// restart. Required. chDB allows one data dir per process.
	DataDir string `yaml:"data_dir"`
	// LibPath is libchdb.so. Default: $SALESPULSE_LIBCHDB, else
	// DefaultLibPath() (where scripts/fetch-chdb.sh puts it).
	LibPath string `yaml:"lib_path"`
	// Conns is the number of chDB connections to DataDir. Queries on one
	// connection are serialised by chDB, so this bounds query parallelism.
	// Default 2.
	Conns int `yaml:"conns"`
	// TempDir holds insert bodies while chDB reads them with file(). Default
	// DataDir/tmp_http_insert.
	TempDir string `yaml:"temp_dir"`
	// Logger receives engine events. Default: discard.
	Logger *slog.Logger `yaml:"-"`
}

// ErrNoDataDir is returned by Validate when DataDir is empty.
var ErrNoDataDir = errors.New("chdb config: data_dir is required")

// Validate reports configuration errors without touching the disk.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return ErrNoDataDir
	}
	if c.Conns < 0 {
		return fmt.Errorf("chdb config: conns must be >= 0, got %d", c.Conns)
	}
	return nil
}

// SetDefaults fills what c leaves unset (documented on each field).
func (c *Config) SetDefaults() {
	c.LibPath = ResolveLibPath(c.LibPath)
	if c.Conns == 0 {
		c.Conns = 2
	}
	if c.TempDir == "" {
		c.TempDir = filepath.Join(c.DataDir, "tmp_http_insert")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Engine is an embedded ClickHouse with a small pool of connections to one
// data dir. It is safe for concurrent use.
type Engine struct {
	cfg  Config
	lib  *lib
	log  *slog.Logger
	pool chan *conn

	mu       sync.Mutex
	closed   bool
	closeErr error
	all      []*conn
	done     chan struct{} // closed once Close has finished
}

// conn is one chDB connection handle (a chdb_connection*).
type conn struct {
	h unsafe.Pointer
}

// Open loads libchdb (first call in the process only) and opens cfg.Conns
// connections to cfg.DataDir. Every Engine must be closed before the process
// exits: chDB crashes at exit while a connection is open.
func Open(cfg Config) (*Engine, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open chdb: resolve data dir: %w", err)
	}
	cfg.DataDir = dataDir
	if cfg.TempDir, err = filepath.Abs(cfg.TempDir); err != nil {
		return nil, fmt.Errorf("open chdb: resolve temp dir: %w", err)
	}
	for _, d := range []string{cfg.DataDir, cfg.TempDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open chdb: %w", err)
		}
	}
	l, err := loadLib(cfg.LibPath)
	if err != nil {
		return nil, fmt.Errorf("open chdb: %w", err)
	}
	if err := detachStdin(); err != nil {
		return nil, fmt.Errorf("open chdb: %w", err)
	}
	e := &Engine{
		cfg:  cfg,
		lib:  l,
		log:  cfg.Logger.With("component", "chdb"),
		pool: make(chan *conn, cfg.Conns),
		done: make(chan struct{}),
	}
	args := []string{"clickhouse", "--path=" + cfg.DataDir}
	for range cfg.Conns {
		h, err := l.connectArgs(args)
		if err != nil {
			e.closeAll()
			return nil, fmt.Errorf("open chdb at %s: %w", cfg.DataDir, err)
		}
		c := &conn{h: h}
		e.all = append(e.all, c)
		e.pool <- c
	}
	e.log.Info("chdb engine open", "data_dir", cfg.DataDir, "lib", l.path, "conns", cfg.Conns)
	return e, nil
}

// Query runs one statement and returns its whole output in format (used
// when the statement has no FORMAT clause; "" means TabSeparated, as in
// ClickHouse). Table names must be qualified with their database: an
// unqualified name can resolve to a file in the working directory.
func (e *Engine) Query(ctx context.Context, sql, format string) ([]byte, error) {
	r, err := e.run(ctx, stmt{sql: sql, format: format})
	return r.data, err
}

// Setting is one per-query setting, applied to a single statement only.
type Setting struct{ Name, Value string }

// stmt is one statement plus the per-query state the HTTP interface allows.
type stmt struct {
	sql      string
	format   string    // default output format; a FORMAT clause in sql wins
	settings []Setting // applied to this statement only
	database string    // current database for this statement only
}

// run executes st on a pooled connection. chDB keeps SET and USE per
// connection, so settings and database are applied before and reset after
// while the connection is held: they never leak into the next statement.
func (e *Engine) run(ctx context.Context, st stmt) (result, error) {
	if st.format == "" {
		st.format = "TabSeparated"
	}
	c, err := e.acquire(ctx)
	if err != nil {
		return result{}, err
	}
	defer e.release(c)
	if len(st.settings) > 0 {
		if _, err := e.lib.query(c.h, setStatement(st.settings, false), "TabSeparated"); err != nil {
			// A partly applied SET must not survive either.
			e.resetSession(c, st.settings, "")
			return result{}, err
		}
	}
	if st.database != "" {
		if _, err := e.lib.query(c.h, "USE "+quoteIdent(st.database), "TabSeparated"); err != nil {
			e.resetSession(c, st.settings, "")
			return result{}, err
		}
	}
	defer e.resetSession(c, st.settings, st.database)
	return e.lib.query(c.h, st.sql, st.format)
}

// resetSession undoes run's SET and USE on c.
func (e *Engine) resetSession(c *conn, settings []Setting, database string) {
	if len(settings) > 0 {
		if _, err := e.lib.query(c.h, setStatement(settings, true), "TabSeparated"); err != nil {
			// A failed reset would leak settings into unrelated queries;
			// it has never been seen, so shout rather than recover.
			e.log.Error("reset per-query settings", "err", err)
		}
	}
	if database != "" {
		if _, err := e.lib.query(c.h, "USE default", "TabSeparated"); err != nil {
			e.log.Error("reset current database", "err", err)
		}
	}
}

// quoteIdent renders name as a back-quoted ClickHouse identifier.
func quoteIdent(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// setStatement builds "SET a = 'x', b = 'y'" or, for reset, "SET a = DEFAULT, ...".
// Values are sent as string literals; ClickHouse converts them to each
// setting's type, as it does for HTTP URL parameters.
func setStatement(settings []Setting, reset bool) string {
	var b strings.Builder
	b.WriteString("SET ")
	for i, s := range settings {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.Name)
		if reset {
			b.WriteString(" = DEFAULT")
		} else {
			b.WriteString(" = ")
			b.WriteString(quoteString(s.Value))
		}
	}
	return b.String()
}

// quoteString renders s as a ClickHouse single-quoted string literal.
func quoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

func (e *Engine) acquire(ctx context.Context) (*conn, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case c, ok := <-e.pool:
		if !ok || c == nil {
			return nil, ErrClosed
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.done:
		return nil, ErrClosed
	}
}

func (e *Engine) release(c *conn) { e.pool <- c }

// Close waits for running queries, then closes every connection. It is safe
// to call more than once; later calls return the first call's result.
// Whether the same process can Open the data dir again afterwards depends on
// chDB; see the package tests.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.done
		return e.closeErr
	}
	e.closed = true
	e.mu.Unlock()
	// Take every connection back from the pool: this waits for in-flight
	// queries, since closing a connection under a running query crashes.
	for range e.all {
		<-e.pool
	}
	e.closeAll()
	e.log.Info("chdb engine closed", "data_dir", e.cfg.DataDir)
	close(e.done)
	return e.closeErr
}

func (e *Engine) closeAll() {
	for _, c := range e.all {
		e.lib.closeConn(c.h)
	}
	e.all = nil
}

// detachStdin points file descriptor 0 at /dev/null. chDB is the
// clickhouse-local engine: a query that expects data it did not get inline
// (an INSERT without FORMAT data) reads the process's standard input, which
// hangs a process started from a terminal and feeds it a parent's pipe
// under a test harness. The embedded server always passes data inline or
// through a file, so standard input is never chDB's to read.
func detachStdin() error {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("detach stdin: %w", err)
	}
	defer null.Close()
	if err := unix.Dup3(int(null.Fd()), 0, 0); err != nil {
		return fmt.Errorf("detach stdin: %w", err)
	}
	return nil
}
