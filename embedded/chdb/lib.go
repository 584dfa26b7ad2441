package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// EnvLibPath names the environment variable that points at libchdb.so. It
// sits between Config.LibPath and the default cache path in the resolution
// order, so CI and developers can use a library outside the cache.
const EnvLibPath = "SALESPULSE_LIBCHDB"

// ErrLibraryNotFound is wrapped by Open when no libchdb.so exists at the
// resolved path, so callers (and tests) can tell "not installed" from "broken".
var ErrLibraryNotFound = errors.New("libchdb.so not found")

// DefaultLibPath returns where scripts/fetch-chdb.sh puts the pinned library:
// ${SALESPULSE_CACHE:-$HOME/.cache/salespulse}/chdb/VERSION/libchdb.so.
func DefaultLibPath() string {
	root := os.Getenv("SALESPULSE_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		root = filepath.Join(home, ".cache", "salespulse")
	}
	return filepath.Join(root, "chdb", LibVersion, "libchdb.so")
}

// LibVersion is the chDB release pinned by scripts/fetch-chdb.sh.
const LibVersion = "26.5.3"

// ResolveLibPath applies the resolution order explicit > $SALESPULSE_LIBCHDB >
// default cache path. It does not check that the file exists.
func ResolveLibPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if p := os.Getenv(EnvLibPath); p != "" {
		return p
	}
	return DefaultLibPath()
}

// lib holds the C entry points. It is filled once per process: a shared
// object cannot be usefully unloaded, and chDB keeps global engine state.
type lib struct {
	path string

	setSignalHandlersEnabled func(enabled int32)
	connect                  func(argc int32, argv unsafe.Pointer) unsafe.Pointer
	closeConn                func(conn unsafe.Pointer)
	queryN                   func(conn unsafe.Pointer, q unsafe.Pointer, qlen uintptr, f unsafe.Pointer, flen uintptr) unsafe.Pointer
	resultBuffer             func(res unsafe.Pointer) unsafe.Pointer
	resultLength             func(res unsafe.Pointer) uintptr
	resultError              func(res unsafe.Pointer) unsafe.Pointer
	resultElapsed            func(res unsafe.Pointer) float64
	resultRowsRead           func(res unsafe.Pointer) uint64
	resultBytesRead          func(res unsafe.Pointer) uint64
	resultRowsWritten        func(res unsafe.Pointer) uint64
	resultBytesWritten       func(res unsafe.Pointer) uint64
	resultStorageRowsRead    func(res unsafe.Pointer) uint64
	resultStorageBytesRead   func(res unsafe.Pointer) uint64
	destroyResult            func(res unsafe.Pointer)
}

var (
	libMu     sync.Mutex
	loadedLib *lib
)

// loadLib dlopens libchdb.so at path, once per process. It is called from
// Open, never from init, so binaries importing this package start without
// the 550 MB library being present.
func loadLib(path string) (*lib, error) {
	libMu.Lock()
	defer libMu.Unlock()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve libchdb path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%w at %s: run scripts/fetch-chdb.sh or set %s", ErrLibraryNotFound, abs, EnvLibPath)
	}
	if loadedLib != nil {
		if loadedLib.path != abs {
			return nil, fmt.Errorf("load libchdb from %s: process already loaded %s", abs, loadedLib.path)
		}
		return loadedLib, nil
	}
	// RTLD_GLOBAL: the engine resolves some of its own symbols through the
	// global namespace.
	h, err := purego.Dlopen(abs, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", abs, err)
	}
	l := &lib{path: abs}
	syms := []struct {
		fn   any
		name string
	}{
		{&l.setSignalHandlersEnabled, "chdb_set_signal_handlers_enabled"},
		{&l.connect, "chdb_connect"},
		{&l.closeConn, "chdb_close_conn"},
		{&l.queryN, "chdb_query_n"},
		{&l.resultBuffer, "chdb_result_buffer"},
		{&l.resultLength, "chdb_result_length"},
		{&l.resultError, "chdb_result_error"},
		{&l.resultElapsed, "chdb_result_elapsed"},
		{&l.resultRowsRead, "chdb_result_rows_read"},
		{&l.resultBytesRead, "chdb_result_bytes_read"},
		{&l.resultRowsWritten, "chdb_result_rows_written"},
		{&l.resultBytesWritten, "chdb_result_bytes_written"},
		{&l.resultStorageRowsRead, "chdb_result_storage_rows_read"},
		{&l.resultStorageBytesRead, "chdb_result_storage_bytes_read"},
		{&l.destroyResult, "chdb_destroy_query_result"},
	}
	for _, s := range syms {
		// Dlsym first: RegisterLibFunc panics on a missing symbol, and an
		// older libchdb lacking one should be an error, not a crash.
		if _, err := purego.Dlsym(h, s.name); err != nil {
			return nil, fmt.Errorf("load %s from %s: %w", s.name, abs, err)
		}
		purego.RegisterLibFunc(s.fn, h, s.name)
	}
	// ClickHouse installs process-wide handlers for SIGSEGV, SIGINT and
	// friends by default; they would replace the Go runtime's (nil-pointer
	// panics, preemption, signal.NotifyContext). Must precede chdb_connect.
	l.setSignalHandlersEnabled(0)
	loadedLib = l
	return l, nil
}

// cstr returns a NUL-terminated copy of s. The caller keeps it alive across
// the C call with runtime.KeepAlive.
func cstr(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString copies a NUL-terminated C string.
func goString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// connect opens one chDB connection with the given command-line arguments.
// It returns the chdb_connection* handle chDB hands out (what close takes);
// the connection value for queries is *handle.
func (l *lib) connectArgs(args []string) (unsafe.Pointer, error) {
	bufs := make([][]byte, len(args))
	// argv is passed as uintptrs: a C array holding Go pointers would break
	// the cgo pointer rules; the strings are kept alive below.
	argv := make([]uintptr, len(args)+1)
	for i, a := range args {
		bufs[i] = cstr(a)
		argv[i] = uintptr(unsafe.Pointer(&bufs[i][0]))
	}
	h := l.connect(int32(len(args)), unsafe.Pointer(&argv[0]))
	runtime.KeepAlive(bufs)
	runtime.KeepAlive(argv)
	if h == nil || *(*unsafe.Pointer)(h) == nil {
		return nil, fmt.Errorf("chdb_connect %v: failed (see chDB log; is another process using the data dir, or was another path opened?)", args)
	}
	return h, nil
}

// result is a copied chDB query result.
//
// chDB's chdb_result_rows_read and chdb_result_bytes_read count the rows and
// bytes of the RESULT (1 for a count() over a million rows); what the query
// read from tables and table functions, ClickHouse's read_rows, is
// chdb_result_storage_rows_read and _bytes_read.
type result struct {
	data         []byte
	elapsed      float64 // seconds
	resultRows   uint64
	resultBytes  uint64
	rowsRead     uint64 // read from storage, as ClickHouse's read_rows
	bytesRead    uint64
	rowsWritten  uint64
	bytesWritten uint64
}

// query runs one statement on the connection handle h and copies the output
// out of chDB's buffer before destroying it, so the returned bytes are Go
// memory with no lifetime tie to the engine.
func (l *lib) query(h unsafe.Pointer, sql, format string) (result, error) {
	conn := *(*unsafe.Pointer)(h)
	q := []byte(sql)
	if len(q) == 0 {
		q = []byte{0}
	}
	f := cstr(format)
	res := l.queryN(conn, unsafe.Pointer(&q[0]), uintptr(len(sql)), unsafe.Pointer(&f[0]), uintptr(len(format)))
	runtime.KeepAlive(q)
	runtime.KeepAlive(f)
	if res == nil {
		return result{}, errors.New("chdb_query_n: returned no result")
	}
	defer l.destroyResult(res)
	if e := l.resultError(res); e != nil {
		if msg := goString(e); msg != "" {
			return result{}, parseException(msg)
		}
	}
	r := result{
		elapsed:      l.resultElapsed(res),
		resultRows:   l.resultRowsRead(res),
		resultBytes:  l.resultBytesRead(res),
		rowsRead:     l.resultStorageRowsRead(res),
		bytesRead:    l.resultStorageBytesRead(res),
		rowsWritten:  l.resultRowsWritten(res),
		bytesWritten: l.resultBytesWritten(res),
	}
	if n := l.resultLength(res); n > 0 {
		if buf := l.resultBuffer(res); buf != nil {
			r.data = make([]byte, n)
			copy(r.data, unsafe.Slice((*byte)(buf), n))
		}
	}
	return r, nil
}
