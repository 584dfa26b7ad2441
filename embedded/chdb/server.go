package chdb

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultAddr is where ClickHouse's HTTP interface listens by default.
const DefaultAddr = "127.0.0.1:8123"

// Server serves an Engine over the subset of ClickHouse's HTTP interface
// (https://clickhouse.com/docs/interfaces/http) that clickhouse-go's HTTP
// protocol and curl scripts use. It is an http.Handler.
type Server struct {
	engine *Engine
	log    *slog.Logger

	displayName string
	timezone    string
	formats     map[string]string // lower-case name -> canonical name
}

// NewServer returns the HTTP front end for e. It asks the engine once for
// the values ClickHouse puts in response headers.
func NewServer(e *Engine, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{engine: e, log: logger.With("component", "chdb-http"), displayName: "chdb", timezone: "UTC",
		formats: map[string]string{}}
	ctx := context.Background()
	if out, err := e.Query(ctx, "SELECT displayName(), timezone()", "TabSeparated"); err == nil {
		if f := strings.Split(strings.TrimSpace(string(out)), "\t"); len(f) == 2 {
			s.displayName, s.timezone = f[0], f[1]
		}
	} else {
		s.log.Warn("query server info", "err", err)
	}
	if out, err := e.Query(ctx, "SELECT name FROM system.formats", "TabSeparated"); err == nil {
		for _, n := range strings.Fields(string(out)) {
			s.formats[strings.ToLower(n)] = n
		}
	} else {
		s.log.Warn("query formats", "err", err)
	}
	return s
}

// ListenAndServe serves s on addr ("" means DefaultAddr) until ctx is done,
// then shuts down, letting running requests finish for up to 10 s. It does
// not close the Engine: the caller owns it and closes it after this returns.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving ClickHouse HTTP interface", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// httpParams are URL parameters of the HTTP interface that are not settings.
// Everything else is applied as a setting of that query, as ClickHouse does
// (an unknown one fails with UNKNOWN_SETTING).
var httpParams = map[string]bool{
	"query": true, "database": true, "default_format": true, "query_id": true,
	"session_id": true, "session_timeout": true, "session_check": true,
	"client_protocol_version": true, "compress": true, "decompress": true,
	"user": true, "password": true, "quota_key": true, "buffer_size": true,
	"wait_end_of_query": true, "stacktrace": true, "role": true,
	"http_response_headers": true,
}

// ServeHTTP implements GET/POST / and GET /ping.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping", "/replicas_status":
		if r.Method == http.MethodHead {
			return
		}
		io.WriteString(w, "Ok.\n")
		return
	case "/":
	default:
		s.writeException(w, "", &Exception{Code: 0, Name: "UNKNOWN_TYPE_OF_QUERY",
			Message: fmt.Sprintf("Code: 0. DB::Exception: There is no handle %s. (UNKNOWN_TYPE_OF_QUERY)", r.URL.Path)})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	params := r.URL.Query()
	queryID := params.Get("query_id")
	if queryID == "" {
		queryID = newQueryID()
	}
	w.Header().Set("X-ClickHouse-Query-Id", queryID)
	w.Header().Set("X-ClickHouse-Server-Display-Name", s.displayName)
	w.Header().Set("X-ClickHouse-Timezone", s.timezone)

	var settings []Setting
	for k, v := range params {
		if httpParams[k] || strings.HasSuffix(k, "_format") ||
			strings.HasSuffix(k, "_structure") || strings.HasSuffix(k, "_types") {
			// *_format/_structure/_types describe external tables: not
			// supported.
			continue
		}
		// param_* are query parameters ({name:Type} in the query). chDB
		// takes them as `SET param_name = 'value'` on the connection, so
		// they travel with the settings; the reset (`= DEFAULT`) leaves
		// the literal text DEFAULT, which a later query that uses the
		// name without sending it fails to parse instead of reading a
		// stale value.
		settings = append(settings, Setting{Name: k, Value: v[len(v)-1]})
	}

	body, err := s.readBody(r, params.Get("decompress") == "1")
	if err != nil {
		s.writeException(w, queryID, &Exception{Code: 6, Name: "CANNOT_PARSE_TEXT",
			Message: fmt.Sprintf("Code: 6. DB::Exception: read request body: %v. (CANNOT_PARSE_TEXT)", err)})
		return
	}
	q := params.Get("query")
	var sql string
	switch {
	case q != "" && len(body) > 0:
		sql = q + "\n" + string(body)
	case q != "":
		sql = q
	default:
		sql = string(body)
	}
	if strings.TrimSpace(sql) == "" {
		s.writeException(w, queryID, &Exception{Code: 62, Name: "SYNTAX_ERROR",
			Message: "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)"})
		return
	}

	st := stmt{sql: sql, format: params.Get("default_format"), settings: settings, database: params.Get("database")}
	if st.format == "" {
		st.format = "TabSeparated"
	}
	var cleanup func()
	if ins, ok := splitInsert(sql); ok && ins.data != "" {
		st, cleanup, err = s.insertStmt(st, ins)
		if err != nil {
			s.writeException(w, queryID, &Exception{Code: 1001, Message: fmt.Sprintf("Code: 1001. DB::Exception: %v", err)})
			return
		}
		defer cleanup()
	}
	outFormat := st.format
	if f := outputFormat(st.sql, s.isFormat); f != "" && !isInsert(st.sql) {
		outFormat = f
	}

	start := time.Now()
	res, err := s.engine.run(r.Context(), st)
	if err != nil {
		var ex *Exception
		if !errors.As(err, &ex) {
			ex = &Exception{Code: 1001, Message: fmt.Sprintf("Code: 1001. DB::Exception: %v", err)}
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "query failed", slog.String("query_id", queryID), slog.Int("code", ex.Code))
		s.writeException(w, queryID, ex)
		return
	}
	out := res.data
	if strings.EqualFold(outFormat, "Native") && len(out) > 0 {
		if rev, _ := strconv.ParseUint(params.Get("client_protocol_version"), 10, 64); rev > 0 {
			if out, err = transcodeNative(out, rev); err != nil {
				s.writeException(w, queryID, &Exception{Code: 1001,
					Message: fmt.Sprintf("Code: 1001. DB::Exception: transcode Native result to revision %d: %v", rev, err)})
				return
			}
		}
	}
	if params.Get("compress") == "1" && len(out) > 0 {
		method := compress.LZ4
		if strings.EqualFold(params.Get("network_compression_method"), "zstd") {
			method = compress.ZSTD
		}
		if out, err = compressNative(out, method); err != nil {
			s.writeException(w, queryID, &Exception{Code: 1001, Message: fmt.Sprintf("Code: 1001. DB::Exception: compress result: %v", err)})
			return
		}
	}
	h := w.Header()
	h.Set("X-ClickHouse-Format", outFormat)
	h.Set("Content-Type", contentType(outFormat))
	h.Set("X-ClickHouse-Summary", summary(res, time.Since(start)))
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// summary renders the X-ClickHouse-Summary header as ClickHouse's HTTP
// interface does: every value a quoted decimal string. read_rows and
// read_bytes are what the query read from storage (Grafana's query
// inspector and clients' progress show them); result_rows and result_bytes
// are the result's. total_rows_to_read is ClickHouse's estimate before
// reading, which chDB does not expose: the rows actually read stand in.
func summary(res result, elapsed time.Duration) string {
	return fmt.Sprintf(
		`{"read_rows":"%d","read_bytes":"%d","written_rows":"%d","written_bytes":"%d","total_rows_to_read":"%d","result_rows":"%d","result_bytes":"%d","elapsed_ns":"%d"}`,
		res.rowsRead, res.bytesRead, res.rowsWritten, res.bytesWritten, res.rowsRead, res.resultRows, res.resultBytes, elapsed.Nanoseconds())
}

func (s *Server) isFormat(name string) bool {
	if len(s.formats) == 0 {
		return true
	}
	_, ok := s.formats[strings.ToLower(name)]
	return ok
}

// insertStmt turns "INSERT ... FORMAT X <data>" into what chDB runs.
// JSONEachRow stays inline in the query text. Every other format goes
// through a temporary file read by INSERT ... SELECT * FROM file(path, X):
// binary data must not be parsed as query text, and chDB 26.5 exports no
// streaming-insert entry point. ClickHouse 26.x deduplicates INSERT SELECT
// only when it judges the SELECT stable (deduplicate_insert_select =
// enable_when_possible, the default); a file() read qualifies, so
// insert_deduplication_token works on this route unchanged
// (TestDedupTokenNativeInsert guards that).
func (s *Server) insertStmt(st stmt, ins insertSplit) (stmt, func(), error) {
	if strings.EqualFold(ins.format, "JSONEachRow") {
		return st, func() {}, nil
	}
	f, err := os.CreateTemp(s.engine.cfg.TempDir, "insert-*."+strings.ToLower(ins.format))
	if err != nil {
		return st, nil, fmt.Errorf("create insert temp file: %w", err)
	}
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := io.WriteString(f, ins.data); err != nil {
		f.Close()
		cleanup()
		return st, nil, fmt.Errorf("write insert temp file: %w", err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return st, nil, fmt.Errorf("write insert temp file: %w", err)
	}
	st.sql = fmt.Sprintf("%s SELECT * FROM file(%s, %s)", strings.TrimRight(ins.head, " \t\r\n"),
		quoteString(f.Name()), quoteString(ins.format))
	return st, cleanup, nil
}

// readBody reads the request body, undoing Content-Encoding and, with
// decompress=1, ClickHouse's own block compression (clickhouse-go's LZ4/ZSTD).
func (s *Server) readBody(r *http.Request, native bool) ([]byte, error) {
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity", "none":
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		rd = gz
	case "deflate":
		// ClickHouse's "deflate" is zlib-wrapped, as is clickhouse-go's.
		zr, err := zlib.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("deflate: %w", err)
		}
		rd = zr
	case "br":
		rd = brotli.NewReader(rd)
	case "zstd":
		zr, err := zstd.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		rd = zr
	case "lz4":
		rd = lz4.NewReader(rd)
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	if native {
		// ch-go's block reader reports the clean end of the stream as a
		// wrapped io.EOF ("read next block: header: EOF"); a block cut
		// short is io.ErrUnexpectedEOF and still fails.
		b, err := io.ReadAll(compress.NewReader(rd))
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return b, err
	}
	return io.ReadAll(rd)
}

// writeException answers the way ClickHouse's HTTP interface does: status
// from the error code, X-ClickHouse-Exception-Code, and the text in the body.
func (s *Server) writeException(w http.ResponseWriter, queryID string, ex *Exception) {
	h := w.Header()
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(ex.Code))
	if ex.Name != "" {
		h.Set("X-ClickHouse-Exception-Name", ex.Name)
	}
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Del("Content-Length")
	w.WriteHeader(ex.httpStatus())
	io.WriteString(w, strings.TrimRight(ex.Message, "\n")+"\n")
}

// transcodeNative re-encodes chDB's Native output (always protocol revision
// 0: no BlockInfo, no custom-serialization flags) at the revision the client
// named in client_protocol_version, which is what clickhouse-go's HTTP
// reader decodes. It uses the driver's own codec so both sides agree.
func transcodeNative(in []byte, rev uint64) ([]byte, error) {
	rd := chproto.NewReader(bufio.NewReader(bytes.NewReader(in)))
	buf := new(chproto.Buffer)
	sc := &column.ServerContext{}
	for {
		b := proto.Block{ServerContext: sc}
		if err := b.Decode(rd, 0); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if err := b.Encode(buf, rev); err != nil {
			return nil, err
		}
	}
	return buf.Buf, nil
}

// compressNative frames out in ClickHouse compressed blocks (compress=1),
// at most 1 MiB each as the server does.
func compressNative(out []byte, m compress.Method) ([]byte, error) {
	w := compress.NewWriter(compress.LevelZero, m)
	var dst []byte
	for len(out) > 0 {
		n := min(len(out), 1<<20)
		if err := w.Compress(out[:n]); err != nil {
			return nil, err
		}
		dst = append(dst, w.Data...)
		out = out[n:]
	}
	return dst, nil
}

func contentType(format string) string {
	switch strings.ToLower(format) {
	case "tabseparated", "tsv", "tabseparatedwithnames", "tsvwithnames", "tabseparatedwithnamesandtypes", "tsvwithnamesandtypes", "tabseparatedraw", "tsvraw":
		return "text/tab-separated-values; charset=UTF-8"
	case "csv", "csvwithnames", "csvwithnamesandtypes":
		return "text/csv; charset=UTF-8; header=absent"
	case "json", "jsoncompact", "jsoneachrow", "jsoncompacteachrow", "jsonstrings", "jsonlines", "ndjson":
		return "application/json; charset=UTF-8"
	case "native", "rowbinary", "rowbinarywithnames", "rowbinarywithnamesandtypes", "parquet", "arrow", "arrowstream", "orc", "avro":
		return "application/octet-stream"
	}
	return "text/plain; charset=UTF-8"
}

// newQueryID returns a random UUID-shaped id, as ClickHouse assigns.
func newQueryID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
