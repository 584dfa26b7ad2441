package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/console/web"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

const devSynopsis = `
Runs SalesPulse on embedded services in one process: a Kafka-protocol broker
(franz-go kfake), the ClickHouse engine (chDB) behind ClickHouse's HTTP
interface, the synthetic generator and the pipeline. Data is kept in
--data-dir, so a restart resumes where it stopped. Ctrl-C stops cleanly:
the pipeline drains, offsets are committed, everything closes.

Without --config, lead SLAs count business hours (anomaly.sla.clock:
business) of the generator's sites, 08:00-18:00 local, Monday to Friday;
'salespulse alerts budget --dev' measures the pages the alerts would make.

With --no-pipeline it runs the embedded Kafka (with the topics dev would
create) and ClickHouse only, and prints their addresses and a config for
'salespulse run --config FILE': your own pipeline, with your own config,
on the embedded services.

Needs libchdb.so: run scripts/fetch-chdb.sh once (make dev does), or set
SALESPULSE_LIBCHDB.`

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, err := parseDev(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, "text", d.logLevel)
	st, err := devstack.Start(ctx, d.stack, log)
	if err != nil {
		if errors.Is(err, chdb.ErrLibraryNotFound) {
			return fmt.Errorf("%w\n(the embedded ClickHouse engine is a 560 MB library fetched from npm: run scripts/fetch-chdb.sh, or `make dev`)", err)
		}
		return err
	}
	if d.stack.NoPipeline {
		return serveServices(ctx, st, d.stack, stdout, stderr)
	}
	fmt.Fprintf(stdout, `SalesPulse dev is running (data in %s)
  Kafka       %s   topics %s; dead letters sales.dlq
  ClickHouse  http://%s   e.g. curl 'http://%s/?query=SELECT+count()+FROM+salespulse.interactions'
  Metrics     http://%s/metrics   health /healthz, readiness /readyz
  Org file    %s
`, d.stack.DataDir, strings.Join(st.KafkaAddrs(), ","), strings.Join(devstack.DataTopics(d.stack.App), ", "), st.ClickHouseAddr(), st.ClickHouseAddr(), st.HTTPAddr(), st.OrgFile())
	// Off unless the --config file sets ingest.listen and the vendors'
	// secrets: dev has no secrets of its own to print, and an open
	// endpoint with known dev secrets would be one anybody could post to.
	if addr := st.App().IngressAddr(); addr != "" {
		fmt.Fprintf(stdout, "  Webhooks    http://%s/webhooks/<vendor>   (ingest: section of the config; docs/ingest.md)\n", addr)
	}
	if addr := st.App().ConsoleAddr(); addr != "" {
		fmt.Fprintf(stdout, "  Console     http://%s/   API http://%s/api/v1/meta (docs/console.md)\n", addr, addr)
	}
	if addr := st.App().AckAddr(); addr != "" {
		fmt.Fprintf(stdout, "  Ack         curl -X POST http://%s/api/v1/alerts/ALERT_ID/ack   Slack: http://%s/slack/actions\n", addr, addr)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx) }()
	if d.progress > 0 {
		go showProgress(runCtx, st, stderr, d.progress)
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		fmt.Fprintln(stderr, "\nstopping: draining the pipeline and committing offsets…")
		err = <-done
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "stopped cleanly")
	return nil
}

// devFlags is what salespulse dev's command line and --config decide.
type devFlags struct {
	stack    devstack.Config
	logLevel string
	progress time.Duration
}

// pipelineFlags are dev's flags that configure the generator or the
// pipeline: with --no-pipeline, setting one is a mistake to report, not
// to ignore.
var pipelineFlags = []string{"http-addr", "ack-addr", "console-addr", "no-generator", "format", "seed", "teams",
	"reps-per-team", "days", "speed", "start", "progress"}

// parseDev reads dev's flags and its --config file. The file's pipeline,
// sources, org_file, privacy, window, anomaly and alerts sections apply as
// in `run`; devstack fills in the embedded services' addresses, and the dev
// key and the generator's organisation where the file names no key and no
// org file.
func parseDev(args []string, stderr io.Writer) (devFlags, error) {
	fs := newFlagSet("dev [flags]", devSynopsis, stderr)
	dataDir := fs.String("data-dir", "var/dev", "where Kafka log, ClickHouse data and generator position live")
	kafkaAddr := fs.String("kafka-addr", "127.0.0.1:9092", "embedded Kafka listen address")
	chAddr := fs.String("clickhouse-addr", chdb.DefaultAddr, "embedded ClickHouse HTTP listen address")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "metrics and health listen address")
	ackAddr := fs.String("ack-addr", "127.0.0.1:8081", "alert acknowledgement endpoint listen address, unless the config sets alerts.ack.listen (\"\" turns it off)")
	consoleAddr := fs.String("console-addr", "127.0.0.1:8090", "sales console listen address, unless the config sets console.listen (\"\" turns it off)")
	lib := fs.String("libchdb", "", "path of libchdb.so (default $SALESPULSE_LIBCHDB, then the fetch-chdb.sh cache)")
	noGen := fs.Bool("no-generator", false, "run without synthetic data (feed your own events, e.g. with kcat)")
	format := fs.String("format", "canonical", "generator payloads: canonical, or vendor (each vendor's payloads on its topic: "+strings.Join(sources.Names(), ", ")+")")
	configFile := fs.String("config", "", "optional config file: its pipeline, sources, org_file, privacy, window, anomaly and alerts settings apply (Kafka and ClickHouse addresses are the embedded ones; without a privacy key the dev key, without an org file the generator's organisation)")
	gc := gen.DefaultConfig()
	fs.Uint64Var(&gc.Seed, "seed", gc.Seed, "generator seed: the same seed gives the same organisation and events")
	fs.IntVar(&gc.Teams, "teams", gc.Teams, "generated teams")
	fs.IntVar(&gc.RepsPerTeam, "reps-per-team", gc.RepsPerTeam, "generated sellers per team")
	days := fs.Int("days", 28, "calendar days of activity to generate (0: endless)")
	fs.Float64Var(&gc.Speed, "speed", 0, "event-time seconds per wall second (0: as fast as possible; 1: real time)")
	start := fs.String("start", "", "event time of day 0 (RFC 3339 or YYYY-MM-DD; default 2026-11-02, or now with --speed 1)")
	progress := fs.Duration("progress", time.Second, "progress line interval (0 disables)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	noPipeline := fs.Bool("no-pipeline", false, "run the embedded Kafka and ClickHouse only (no generator, no pipeline) and print a config for 'salespulse run'; --config names the topics to create")
	if err := parse(fs, args); err != nil {
		return devFlags{}, err
	}
	if *noPipeline {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			if slices.Contains(pipelineFlags, f.Name) {
				set = append(set, "--"+f.Name)
			}
		})
		if len(set) > 0 {
			return devFlags{}, fmt.Errorf("%s: not with --no-pipeline, which runs no generator and no pipeline", strings.Join(set, ", "))
		}
	}
	gc.Days = *days
	switch {
	case *start != "":
		t, err := parseStart(*start)
		if err != nil {
			return devFlags{}, fmt.Errorf("--start: %w", err)
		}
		gc.Start = t
	case gc.Speed == 1:
		gc.Start = time.Now().UTC()
	}
	if err := gc.Validate(); err != nil {
		return devFlags{}, err
	}
	if *format != "canonical" && *format != "vendor" {
		return devFlags{}, fmt.Errorf("--format %q: want canonical or vendor", *format)
	}

	ac := devstack.AppDefaults()
	if *configFile != "" {
		c, err := app.LoadConfig(*configFile)
		if err != nil {
			return devFlags{}, err
		}
		ac = *c
	}
	// Without the detectors (pipeline.stages) nothing reads the
	// acknowledgements, and config validation refuses the endpoint.
	if ac.Alerts.Ack.Listen == "" && *ackAddr != "" && ac.Pipeline.Runs(pipeline.StageAnomaly) {
		// Loopback by default, so no token is needed; only where the
		// config has a canonical topic for the acknowledgements.
		// Without kafka.topics every vendor's topic is consumed, the
		// canonical one too.
		if ac.Alerts.Ack.Topic != "" || len(ac.Kafka.Topics) == 0 || slices.Contains(slices.Collect(maps.Values(ac.Kafka.Topics)), canonical.Name) {
			ac.Alerts.Ack.Listen = *ackAddr
		}
	}
	if ac.Console.Listen == "" {
		// Loopback by default, so no auth is needed.
		ac.Console.Listen = *consoleAddr
	}
	if ac.Anomaly.MatrixFile == "" {
		// The example matrix matches the generator's roles, so dev shows
		// discount alerts out of the box when run from the repository.
		if _, err := os.Stat(defaultDevMatrix); err == nil {
			ac.Anomaly.MatrixFile = defaultDevMatrix
		}
	}
	return devFlags{
		stack: devstack.Config{
			DataDir: *dataDir, KafkaAddr: *kafkaAddr, ClickHouseAddr: *chAddr, HTTPAddr: *httpAddr,
			LibCHDB: *lib, Generator: !*noGen, Gen: gc, App: ac, Format: *format,
			Options:    app.Options{Version: version(), ConsoleAssets: web.Assets},
			NoPipeline: *noPipeline,
		},
		logLevel: *logLevel,
		progress: *progress,
	}, nil
}

const defaultDevMatrix = "deploy/examples/authorization-matrix.yml"

// runConfigFile is where --no-pipeline writes the config it prints, in
// the data dir.
const runConfigFile = "run.yml"

// serveServices is dev --no-pipeline: it prints where the embedded
// services listen and the config keys that point `salespulse run` at
// them (also written to the data dir), then serves until ctx ends.
func serveServices(ctx context.Context, st *devstack.Stack, cfg devstack.Config, stdout, stderr io.Writer) error {
	ac := cfg.App
	ac.SetDefaults()
	snippet := runConfig(st, ac)
	file := filepath.Join(cfg.DataDir, runConfigFile)
	if err := os.WriteFile(file, []byte(snippet), 0o644); err != nil {
		st.Run(canceled()) // closes the services
		return fmt.Errorf("write %s: %w", file, err)
	}
	fmt.Fprintf(stdout, `SalesPulse dev is running the embedded services only (--no-pipeline; data in %s)
  Kafka       %s   topics %s; dead letters %s, alerts %s
  ClickHouse  http://%s   (no tables yet: salespulse run applies the migrations)
Config for 'salespulse run --config FILE', written to %s
(merge it into your own file, or use it as it is):

%s
e.g. SALESPULSE_PRIVACY_KEY=$(openssl rand -hex 32) salespulse run --config %s
Press Ctrl-C to stop.
`, cfg.DataDir, strings.Join(st.KafkaAddrs(), ","), strings.Join(slices.Concat(devstack.DataTopics(cfg.App), cfg.Topics), ", "),
		ac.Kafka.DeadLetterTopic, ac.Alerts.Topic, st.ClickHouseAddr(), file, snippet, file)
	err := st.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "stopped cleanly")
	return nil
}

// runConfig is the YAML that points a pipeline at st: its brokers, and its
// ClickHouse over HTTP without compression (the engine is on the same
// host: lz4 would cost CPU on both sides for nothing). The database is
// the one ac names.
func runConfig(st *devstack.Stack, ac app.Config) string {
	ch := ac.ClickHouse // app.Config.SetDefaults leaves the section as given
	ch.SetDefaults()
	return fmt.Sprintf(`# The embedded services of 'salespulse dev --no-pipeline'.
kafka:
  brokers: [%s]
clickhouse:
  addresses: [%s]
  protocol: http
  compression: none
  database: %s
# privacy.key: 'salespulse run' reads the pseudonymisation key from
# $SALESPULSE_PRIVACY_KEY unless privacy.key names a file (docs/privacy.md).
`, strings.Join(st.KafkaAddrs(), ", "), st.ClickHouseAddr(), ch.Database)
}

// canceled is a cancelled context: Run on it closes a stack at once.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func parseStart(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// showProgress prints one line per interval: throughput, lag and what
// ClickHouse holds. On a terminal it rewrites the line in place.
func showProgress(ctx context.Context, st *devstack.Stack, w io.Writer, every time.Duration) {
	tty := isTerminal(w)
	t := time.NewTicker(every)
	defer t.Stop()
	var lastStored float64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// The lead hop stores each event a second time and its
			// consumers lag behind the internal topics: stored and lag are
			// the ingest flow's, so they compare with produced; the lead
			// topics' lag (every other flow's) is shown apart.
			mfs, _ := st.Registry().Gather()
			stored := metricSum(mfs, "salespulse_pipeline_interactions_stored_total", ingestFlow)
			lag := metricSum(mfs, "salespulse_kafka_consumer_lag", ingestFlow)
			hopLag := metricSum(mfs, "salespulse_kafka_consumer_lag", "") - lag
			dlq := metricSum(mfs, "salespulse_kafka_dead_letters_total", "")
			rate := (stored - lastStored) / now.Sub(last).Seconds()
			lastStored, last = stored, now
			rows := "?"
			qctx, cancel := context.WithTimeout(ctx, time.Second)
			if out, err := st.Engine().Query(qctx, "SELECT count() FROM salespulse.interactions", "TabSeparated"); err == nil {
				rows = strings.TrimSpace(string(out))
			}
			cancel()
			line := fmt.Sprintf("events/s %8.0f | produced %s | stored %s | consumer lag %s (lead topics %s) | dead letters %s | rows in ClickHouse %s",
				rate, human(float64(st.Produced())), human(stored), human(lag), human(hopLag), human(dlq), rows)
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// ingestFlow is the pipeline label of the flow that consumes the source
// topics (internal/app labels each flow's metrics with its name).
const ingestFlow = "ingest"

// metricSum adds up the series of a metric family whose pipeline label is
// flow, or every series when flow is "".
func metricSum(mfs []*dto.MetricFamily, name, flow string) float64 {
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if flow != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == "pipeline" && l.GetValue() == flow
			}) {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
