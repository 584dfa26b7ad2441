package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/internal/console"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
)

// consoleStore reads the console's queries from the sink, and tells the
// console which failures are ClickHouse being unavailable (503).
type consoleStore struct{ sink *clickhouse.Sink }

func (c consoleStore) Select(ctx context.Context, dest any, query string, params map[string]string) error {
	err := c.sink.Select(ctx, dest, query, params)
	if errors.Is(err, clickhouse.ErrUnavailable) {
		return fmt.Errorf("%w: %w", console.ErrUnavailable, err)
	}
	return err
}

// newConsoleServer binds console.listen (so a taken port fails New, and a
// ":0" port is known before Run) and builds the console over the sink,
// the org, the SLAs and the matrix; ack is the acknowledgement endpoint's
// handler, nil when it is off.
func newConsoleServer(cfg Config, opt Options, sink *clickhouse.Sink, org *schemas.Org, m *matrix.Matrix, ack http.Handler,
	reg *prometheus.Registry, log *slog.Logger, cs *closers) (*http.Server, net.Listener, error) {
	idx := schemas.NewIndex(org)
	sla := cfg.Anomaly.SLA
	srv, err := console.New(cfg.Console, console.Deps{
		Store:    consoleStore{sink},
		Database: cfg.ClickHouse.Database,
		Org:      org,
		SLA: func(team, channel string) (time.Duration, bool) {
			d, clock := sla.For(team, channel)
			return d, clock == anomaly.ClockBusiness
		},
		Authority: func(repID string) (float64, bool) {
			rep := idx.Rep(repID)
			if m == nil || rep == nil {
				return 0, false
			}
			s := matrix.Subject{Role: rep.Role, Team: rep.TeamID}
			if t := idx.Team(rep.TeamID); t != nil {
				s.Region = t.Region
			}
			a, ok := m.Lookup(s)
			return a.MaxPct, ok
		},
		Gatherer:   reg,
		Registerer: reg,
		Ack:        ack,
		Assets:     opt.ConsoleAssets,
		Version:    opt.Version,
		Logger:     log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Console.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("console.listen: %w", err)
	}
	if err := cs.push("console listener", func(context.Context) error { return ln.Close() }); err != nil {
		return nil, nil, err
	}
	// No write timeout: the alert stream is long-lived (the console bounds
	// every query itself, with max_execution_time).
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("console", "addr", ln.Addr().String(), "auth", cfg.Console.Auth.Mode, "assets", opt.ConsoleAssets != nil)
	return hs, ln, nil
}

// consoleAck is the acknowledgement handler as the console forwards to
// it. The console has authenticated its caller already (console.auth),
// and a browser can send one Authorization header only, the console's:
// so the forwarded request carries the endpoint's own token, when it has
// one, in place of whatever the caller sent.
func consoleAck(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(w, r)
	})
}

// ConsoleAddr is where the console listens ("" when off).
func (a *App) ConsoleAddr() string {
	if a.consoleLn == nil {
		return ""
	}
	return a.consoleLn.Addr().String()
}
