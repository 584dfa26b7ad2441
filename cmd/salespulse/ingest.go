package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/salespulse/salespulse/internal/app"
)

const ingestSynopsis = `
Runs only the webhook ingress configured in FILE's ingest: section: vendors
post to /webhooks/<vendor> on ingest.listen, each request is verified as
the vendor documents and its body produced to the vendor's topic before
it is answered 2xx (docs/ingest.md). Needs the kafka: and sources:
sections, not ClickHouse. Metrics, /healthz and /readyz (Kafka answering)
are served on http.addr. SIGTERM or Ctrl-C stops cleanly: requests in
flight finish, the producer closes.`

func cmdIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ingest --config FILE", ingestSynopsis, stderr)
	file, cfg, err := loadRequiredConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	if err := cfg.ValidateIngest(); err != nil {
		return fmt.Errorf("%s: %w:\n%w", file, app.ErrInvalidConfig, err)
	}
	log := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ing, err := app.NewIngress(*cfg, reg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		ing.Close()
		return fmt.Errorf("admin http: %w", err)
	}
	srv := &http.Server{Handler: app.AdminHandler(reg, ing.Ready), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("salespulse ingest running", "version", version(), "brokers", cfg.Kafka.Brokers, "webhooks", ing.Addr(), "admin", ln.Addr().String())
	err = ing.Run(ctx)
	// The admin server stops last so the final metrics stay scrapeable.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("salespulse ingest stopped")
	return nil
}
