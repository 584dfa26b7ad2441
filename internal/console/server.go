package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/schemas"
)

// Store runs the console's read-only queries. The console keeps the SQL
// (it is the console's view of the tables); the store binds params as
// ClickHouse query parameters ({name:Type} in query; never spliced into
// the text) and scans the rows into dest, a pointer to a slice of structs
// whose fields carry `ch:"column"` tags and match the columns' types.
// sinks/clickhouse implements it; internal/app adapts its errors.
type Store interface {
	Select(ctx context.Context, dest any, query string, params map[string]string) error
}

// ErrUnavailable wraps a Store error that means ClickHouse did not answer
// (down, unreachable, overloaded, or the query ran past
// max_execution_time): the API answers 503, not 500.
var ErrUnavailable = errors.New("clickhouse unavailable")

// Deps is what the console reads from the rest of the process.
type Deps struct {
	// Store answers the queries. Required.
	Store Store
	// Database is the ClickHouse database (clickhouse.database). Default
	// "salespulse".
	Database string
	// Org names teams and reps in /api/v1/meta (employees, not data
	// subjects) and lists the teams whose SLAs the response KBI reads.
	Org *schemas.Org
	// SLA returns the lead-response SLA of a team and trigger channel
	// (channel "" for the team's default) and whether it counts business
	// hours (anomaly.sla). Nil: 30 minutes on the wall clock.
	SLA func(team, channel string) (sla time.Duration, business bool)
	// Authority returns a rep's discount authority in percent from the
	// authorization matrix; ok is false without a matrix or a matching
	// entry.
	Authority func(repID string) (pct float64, ok bool)
	// Gatherer is the process's metrics registry, read by
	// /api/v1/overview. Nil: those figures are 0.
	Gatherer prometheus.Gatherer
	// Registerer receives the console's own metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// Ack serves POST /api/v1/alerts/{id}/ack (internal/ack's handler).
	// Nil: the route answers 404, "acknowledgement is not configured".
	Ack http.Handler
	// Assets is the browser UI, served at / (index.html). Nil: / answers
	// 404 and only the API is served.
	Assets fs.FS
	// Version is reported by /api/v1/meta.
	Version string
	Logger  *slog.Logger
	// Now is the clock (default time.Now): default date ranges when
	// ClickHouse holds no data, the alert stream's start, the event rate.
	Now func() time.Time
	// PollInterval is how often the alert stream reads new alert rows.
	// Default 1s.
	PollInterval time.Duration
	// Heartbeat is the interval of the stream's comment lines, which keep
	// proxies from closing an idle connection. Default 15s.
	Heartbeat time.Duration
}

// Server is the console. Its Handler is safe for concurrent use.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	m       *metrics
	q       queries
	secret  string // bearer token or basic-auth password
	handler http.Handler
	streams chan struct{} // a slot per open alert stream

	rateMu   sync.Mutex
	rateAt   time.Time // last sample of the stored-events counter
	rateN    float64
	rateLast float64 // events/s between the last two samples
}

// New checks cfg and builds the console. It reads the auth secret now, so
// a missing one fails the start.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("console: no store")
	}
	if deps.Database == "" {
		deps.Database = "salespulse"
	}
	if deps.Org == nil {
		deps.Org = &schemas.Org{}
	}
	if deps.SLA == nil {
		deps.SLA = func(string, string) (time.Duration, bool) { return 30 * time.Minute, false }
	}
	if deps.Authority == nil {
		deps.Authority = func(string) (float64, bool) { return 0, false }
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.PollInterval <= 0 {
		deps.PollInterval = time.Second
	}
	if deps.Heartbeat <= 0 {
		deps.Heartbeat = 15 * time.Second
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger.With("component", "console"), m: newMetrics(deps.Registerer),
		q: newQueries(deps.Database, cfg), streams: make(chan struct{}, maxStreams)}
	switch cfg.Auth.Mode {
	case AuthBearer:
		s.secret, _ = secret(cfg.Auth.TokenEnv, cfg.Auth.TokenFile)
	case AuthBasic:
		s.secret, _ = secret(cfg.Auth.PasswordEnv, cfg.Auth.PasswordFile)
	}
	s.handler = s.auth(s.routes())
	return s, nil
}

// Handler serves the API and the assets.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	api := func(pattern, route string, h func(*http.Request) (any, error)) {
		mux.Handle(pattern, s.m.instrument(route, s.json(h)))
	}
	api("GET /api/v1/meta", "meta", s.meta)
	api("GET /api/v1/overview", "overview", s.overview)
	api("GET /api/v1/kbi/response", "kbi_response", s.response)
	api("GET /api/v1/kbi/response/reps", "kbi_response_reps", s.responseReps)
	api("GET /api/v1/kbi/activity", "kbi_activity", s.activity)
	api("GET /api/v1/kbi/accounts", "kbi_accounts", s.accounts)
	api("GET /api/v1/kbi/discounts", "kbi_discounts", s.discounts)
	api("GET /api/v1/kbi/approvals", "kbi_approvals", s.approvals)
	api("GET /api/v1/kbi/deals", "kbi_deals", s.deals)
	api("GET /api/v1/kbi/forecast", "kbi_forecast", s.forecast)
	api("GET /api/v1/deals/scores", "deal_scores", s.scores)
	api("GET /api/v1/signals", "signals", s.signals)
	api("GET /api/v1/alerts", "alerts", s.alerts)
	api("GET /api/v1/leads/{lead_id}/journey", "journey", s.journey)
	// The stream is long-lived: counted, not timed.
	mux.Handle("GET /api/v1/alerts/stream", s.m.instrument("alerts_stream", http.HandlerFunc(s.stream)))
	mux.Handle("POST /api/v1/alerts/{id}/ack", s.m.instrument("alerts_ack", http.HandlerFunc(s.ack)))
	mux.Handle("/api/", s.m.instrument("not_found", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})))
	mux.Handle("/", s.m.instrument("assets", s.assets()))
	return mux
}

// badRequest is a parameter problem: 400 with its message as the reason.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// notFound is a 404 with its message as the reason.
type notFound struct{ msg string }

func (e notFound) Error() string { return e.msg }

// json runs h and writes its answer, or its error with the status it
// maps to. Store errors are logged in full and answered in general terms:
// the query text is nobody's business.
func (s *Server) json(h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		var br badRequest
		var nf notFound
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, v)
		case errors.As(err, &br):
			writeError(w, http.StatusBadRequest, br.msg)
		case errors.As(err, &nf):
			writeError(w, http.StatusNotFound, nf.msg)
		case r.Context().Err() != nil:
			// The caller went away; nobody reads the answer.
		case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			s.log.Warn("query failed: clickhouse unavailable", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusServiceUnavailable, "clickhouse is unavailable or the query took longer than max_execution_time; retry later")
		default:
			s.log.Error("query failed", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "query failed")
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, reason string) {
	writeJSON(w, code, map[string]string{"error": reason})
}

// auth checks every request against console.auth. Secrets are compared in
// constant time.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Auth.Mode == AuthNone {
		return next
	}
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := false
		switch s.cfg.Auth.Mode {
		case AuthBearer:
			h := r.Header.Get("Authorization")
			tok, found := strings.CutPrefix(h, "Bearer ")
			ok = found && eq(tok, s.secret)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="salespulse console"`)
			}
		case AuthBasic:
			u, p, found := r.BasicAuth()
			// Both compared, always: the time does not tell which was wrong.
			uok, pok := eq(u, s.cfg.Auth.User), eq(p, s.secret)
			ok = found && uok && pok
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="salespulse console", charset="UTF-8"`)
			}
		}
		if !ok {
			s.m.requests.WithLabelValues("auth", "401").Inc()
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ack forwards to internal/ack's handler, which owns the semantics
// (docs/alerts.md "Acknowledgement"); its own token check applies too.
func (s *Server) ack(w http.ResponseWriter, r *http.Request) {
	if s.deps.Ack == nil {
		writeError(w, http.StatusNotFound, "acknowledgement is not configured")
		return
	}
	s.deps.Ack.ServeHTTP(w, r)
}

// assets serves Deps.Assets: index.html at /, revalidated on every load
// (it names the other files, which are not content-hashed, so they are
// revalidated too, but may be reused for a minute).
func (s *Server) assets() http.Handler {
	if s.deps.Assets == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "the console UI is not built into this binary; the API is under /api/v1/")
		})
	}
	files := http.FileServerFS(s.deps.Assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "the console is read-only")
			return
		}
		h := w.Header()
		if r.URL.Path == "/" || strings.HasSuffix(r.URL.Path, ".html") {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "public, max-age=60, must-revalidate")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Everything comes from this server: no CDN, no third party.
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
		files.ServeHTTP(w, r)
	})
}

// nullable turns NaN and ±Inf (no value) into JSON null.
func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func nullPtr(v *float64) *float64 {
	if v == nil {
		return nil
	}
	return nullable(*v)
}

func ratio(a, b uint64) *float64 {
	if b == 0 {
		return nil
	}
	return nullable(float64(a) / float64(b))
}

func itoa(n int) string { return strconv.Itoa(n) }
