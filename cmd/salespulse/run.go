package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/console/web"
)

const runSynopsis = `
Runs the pipeline against external Kafka and ClickHouse as configured in
FILE (see 'salespulse config example'). Several instances with the same
kafka.group share the topics' partitions. SIGTERM or Ctrl-C stops cleanly:
in-flight batches are written, offsets committed, the group left.`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run --config FILE", runSynopsis, stderr)
	file, cfg, err := loadRequiredConfig(fs, args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	// app.New validates before anything starts (once, reading the org and
	// matrix files it then uses): bad config never starts a half-working
	// pipeline.
	a, err := app.New(ctx, *cfg, app.Options{Logger: log, Version: version(), ConsoleAssets: web.Assets})
	if err != nil {
		if errors.Is(err, app.ErrInvalidConfig) {
			return fmt.Errorf("%s: %w", file, err)
		}
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		a.Close(ctx)
		return fmt.Errorf("admin http: %w", err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("salespulse running", "version", version(), "brokers", cfg.Kafka.Brokers, "clickhouse", cfg.ClickHouse.Addresses, "admin", ln.Addr().String(), "webhooks", a.IngressAddr(), "console", a.ConsoleAddr())
	err = a.Run(ctx)
	// The admin server stops last so the final metrics stay scrapeable
	// through the drain.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("salespulse stopped")
	return nil
}

// loadRequiredConfig parses args into fs, which gets a required --config
// flag, and loads that file: the start of every command that runs from a
// config (run, ingest).
func loadRequiredConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (string, *app.Config, error) {
	file := fs.String("config", "", "config file (required)")
	if err := parse(fs, args); err != nil {
		return "", nil, err
	}
	if *file == "" {
		fmt.Fprintln(stderr, "--config is required")
		fs.Usage()
		return "", nil, errUsage
	}
	cfg, err := app.LoadConfig(*file)
	return *file, cfg, err
}
