// Package devstack runs SalesPulse on embedded services in one process:
// franz-go's kfake cluster as Kafka, chDB served over ClickHouse's HTTP
// interface as ClickHouse, the synthetic generator, and the same app wiring
// production uses. `salespulse dev`, the end-to-end tests and the benchmarks
// all start it, so they exercise one code path.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/salespulse/salespulse/embedded/chdb"
	ekafka "github.com/salespulse/salespulse/embedded/kafka"
	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

// Config configures the embedded stack. Zero values get the defaults noted.
type Config struct {
	// DataDir holds Kafka's log, chDB's databases and the generator's
	// position, so a restarted stack resumes where it stopped. Default
	// "var/dev".
	DataDir string
	// KafkaAddr is where the embedded broker listens. Default 127.0.0.1:9092.
	KafkaAddr string
	// ClickHouseAddr serves ClickHouse's HTTP interface. Default 127.0.0.1:8123.
	ClickHouseAddr string
	// HTTPAddr serves /metrics, /healthz and /readyz. Default 127.0.0.1:8080.
	HTTPAddr string
	// LibCHDB is libchdb.so's path. Default: $SALESPULSE_LIBCHDB, then the
	// cache path scripts/fetch-chdb.sh writes.
	LibCHDB string
	// Partitions of each data topic. Default 12.
	Partitions int32
	// Topics are more data topics to create beside the ones App consumes
	// (DataTopics), as wide: for pipelines that other processes run
	// against this stack (the benchmark's).
	Topics []string
	// Generator produces synthetic interactions when true.
	Generator bool
	// Gen configures the generator; start from gen.DefaultConfig().
	Gen gen.Config
	// Format is "canonical" (default: every event as canonical JSON on the
	// canonical topic) or "vendor" (each vendor's payloads on its topic, so
	// every normaliser runs).
	Format string
	// App is the pipeline configuration; Kafka brokers, ClickHouse address
	// and protocol are filled in by the stack.
	App app.Config
	// Options are passed to app.New (stages, org, pseudonymiser).
	Options app.Options
	// NoPipeline starts the embedded services alone: Kafka with the
	// topics the pipeline would (DataTopics of App, Topics, App's dead
	// letter and alerts topics) and ClickHouse, empty. No app, no
	// generator, no admin HTTP server, no migrations: the caller's own
	// pipeline (`salespulse run` against KafkaAddrs and ClickHouseAddr)
	// applies the migrations as it starts. Registry, App and Generator
	// are nil, HTTPAddr and OrgFile "".
	NoPipeline bool
}

// Stack is a started embedded environment.
type Stack struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	kafka   *ekafka.Cluster
	engine  *chdb.Engine
	chLn    net.Listener
	httpLn  net.Listener
	app     *app.App
	produce *kafkaio.Client
	gen     *gen.Generator

	stopCH  func() error // stops the ClickHouse HTTP server
	orgFile string       // the org in use, as a file ("" when given in code)

	produced atomic.Int64 // records the generator had acknowledged, this run and before
}

// DataTopics returns the topics ac consumes: every vendor's topic
// (sources.<vendor>.topic, default its own) unless kafka.topics routes
// them. They are created in the embedded cluster with Partitions each.
func DataTopics(ac app.Config) []string {
	ac.SetDefaults()
	return slices.Sorted(maps.Keys(ac.Kafka.Topics))
}

// vendorTopics maps each vendor to the topic the generator writes its
// payloads to: the first topic ac routes to it.
func vendorTopics(ac app.Config) map[string]string {
	ac.SetDefaults()
	m := map[string]string{}
	for _, t := range slices.Sorted(maps.Keys(ac.Kafka.Topics)) {
		if v := ac.Kafka.Topics[t]; m[v] == "" {
			m[v] = t
		}
	}
	return m
}

// Start brings every embedded service up. On error everything already
// started is stopped again.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Stack, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "var/dev"
	}
	if cfg.KafkaAddr == "" {
		cfg.KafkaAddr = "127.0.0.1:9092"
	}
	if cfg.ClickHouseAddr == "" {
		cfg.ClickHouseAddr = chdb.DefaultAddr
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8080"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 12
	}
	s := &Stack{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}

	// ClickHouse first: it is the piece most likely to be missing (libchdb),
	// and failing before Kafka binds its port gives the clearest message.
	s.engine, err = chdb.Open(chdb.Config{DataDir: filepath.Join(cfg.DataDir, "clickhouse"), LibPath: cfg.LibCHDB, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("embedded clickhouse: %w", err)
	}
	if s.chLn, err = net.Listen("tcp", cfg.ClickHouseAddr); err != nil {
		return nil, fmt.Errorf("embedded clickhouse: listen: %w", err)
	}

	var topics []ekafka.Topic
	names := slices.Concat(DataTopics(cfg.App), cfg.Topics)
	slices.Sort(names)
	for _, t := range slices.Compact(names) {
		topics = append(topics, ekafka.Topic{Name: t, Partitions: cfg.Partitions})
	}
	// The dead-letter and alert topics under the names the config gives
	// (the packages' defaults otherwise), as wide as the data topics: app.New
	// would create missing ones only as wide as the widest topic it consumes.
	named := cfg.App
	named.SetDefaults()
	for _, t := range []string{named.Kafka.DeadLetterTopic, named.Alerts.Topic} {
		topics = append(topics, ekafka.Topic{Name: t, Partitions: cfg.Partitions})
	}
	s.kafka, err = ekafka.Start(ekafka.Config{
		Addr: cfg.KafkaAddr, DataDir: filepath.Join(cfg.DataDir, "kafka"),
		Topics: topics, DefaultPartitions: cfg.Partitions,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	if !cfg.NoPipeline {
		if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("admin http: listen: %w", err)
		}
	}

	// The ClickHouse HTTP server must answer before the sink connects.
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	chSrv := chdb.NewServer(s.engine, log)
	chDone := make(chan error, 1)
	go func() { chDone <- chSrv.Serve(srvCtx, s.chLn) }()
	s.stopCH = func() error { stopSrv(); return <-chDone }
	if cfg.NoPipeline {
		return s, nil
	}

	s.reg = cfg.Options.Registry
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	ac := cfg.App
	ac.Kafka.Brokers = s.kafka.Addrs()
	ac.ClickHouse.Addresses = []string{s.chLn.Addr().String()}
	ac.ClickHouse.Protocol = "http"
	if ac.ClickHouse.Compression == "" {
		// Loopback to an in-process engine: lz4 costs ~5 % of pipeline CPU
		// to compress what chDB decompresses a microsecond later.
		ac.ClickHouse.Compression = "none"
	}
	if ac.Log.Format == "" {
		ac.Log.Format = "text"
	}
	opts := cfg.Options
	opts.Logger = log
	opts.Registry = s.reg
	if opts.Privacy == nil && ac.Privacy.Key == (privacy.KeyRef{}) {
		// No key configured: the dev key, which is public by design; its
		// pseudonyms start with "dev:" so dev data can never pass for
		// production data. The config's other privacy settings (attribute
		// lists, previous keys) still apply, and a key it names wins.
		ac.Privacy.Key = privacy.DevKey()
	}
	// The config's org file wins; without one (and without Options.Org) the
	// generator's organisation is the org, so its events resolve.
	genOrg := opts.Org == nil && ac.OrgFile == ""
	if cfg.Generator || genOrg {
		gc := cfg.Gen
		if gc.Seed == 0 && gc.Teams == 0 {
			gc = gen.DefaultConfig()
		}
		if s.gen, err = gen.New(gc); err != nil {
			return nil, fmt.Errorf("generator: %w", err)
		}
	}
	if genOrg && len(ac.Window.Calendars) == 0 && (cfg.Generator || ac.Anomaly.SLA.Clock == anomaly.ClockBusiness) {
		// The generator's reps work their site's hours: business-hours
		// response times and SLA clocks count those (a business clock
		// without calendars would not start). Not for stacks without the
		// generator and the business clock (tests/e2e, the benchmarks):
		// their measurements stay as they were.
		ac.Window.Calendars = GeneratorCalendars(s.gen)
	}
	if genOrg {
		opts.Org = s.gen.Org()
		s.orgFile = filepath.Join(cfg.DataDir, "org.yml")
		if err := s.writeOrg(); err != nil {
			return nil, err
		}
	} else {
		s.orgFile = ac.OrgFile
	}
	if s.app, err = app.New(ctx, ac, opts); err != nil {
		return nil, err
	}
	if cfg.Generator {
		if s.produce, err = kafkaio.NewGeneratorClient(s.kafka.Addrs()); err != nil {
			return nil, fmt.Errorf("generator producer: %w", err)
		}
	}
	return s, nil
}

// AppDefaults is the configuration salespulse dev runs without --config:
// the packages' defaults, except that lead SLAs count business hours
// (anomaly.sla.clock: business) in the generator's team calendars, which
// Start adds. On the wall clock the generator's leads of an evening page
// through the night: 10 pages per rep per working day (docs/alerts.md,
// "Alert budget").
func AppDefaults() app.Config {
	var ac app.Config
	ac.Anomaly.SLA.Clock = anomaly.ClockBusiness
	return ac
}

// GeneratorCalendars are window.calendars matching g's teams: each team's
// site hours and work days in its zone.
func GeneratorCalendars(g *gen.Generator) map[string]window.Calendar {
	out := map[string]window.Calendar{}
	for team, h := range g.TeamHours() {
		out[team] = window.Calendar{TimeZone: h.TimeZone, Start: h.Open, End: h.Close, Weekdays: h.WorkDays}
	}
	return out
}

func (s *Stack) writeOrg() error {
	f, err := os.Create(s.orgFile)
	if err != nil {
		return fmt.Errorf("write org file: %w", err)
	}
	if err := gen.WriteOrg(f, s.gen.Org()); err != nil {
		f.Close()
		return fmt.Errorf("write org file: %w", err)
	}
	return f.Close()
}

// KafkaAddrs, ClickHouseAddr and HTTPAddr say where the services listen.
func (s *Stack) KafkaAddrs() []string   { return s.kafka.Addrs() }
func (s *Stack) ClickHouseAddr() string { return s.chLn.Addr().String() }
func (s *Stack) HTTPAddr() string {
	if s.httpLn == nil { // NoPipeline
		return ""
	}
	return s.httpLn.Addr().String()
}

// OrgFile is the org file in use: the config's org_file, or the
// generator's organisation written to the data dir ("" when the caller
// passed Options.Org).
func (s *Stack) OrgFile() string { return s.orgFile }

// Registry holds every metric of the stack.
func (s *Stack) Registry() *prometheus.Registry { return s.reg }

// App is the running pipeline instance.
func (s *Stack) App() *app.App { return s.app }

// Engine is the embedded ClickHouse engine, for direct queries.
func (s *Stack) Engine() *chdb.Engine { return s.engine }

// Produced is the number of generated events Kafka acknowledged, including
// those of earlier runs on the same data dir.
func (s *Stack) Produced() int64 { return s.produced.Load() }

// Generator is the synthetic generator (nil without one).
func (s *Stack) Generator() *gen.Generator { return s.gen }

// Run runs the generator, the pipeline and the admin HTTP server until ctx
// is cancelled, then stops in data-flow order: generator (no new input),
// pipeline drain and offset commit, ClickHouse server, Kafka, admin HTTP
// last so /metrics stays scrapeable until the very end.
//
// With NoPipeline it serves Kafka and ClickHouse until ctx is cancelled,
// then closes them.
func (s *Stack) Run(ctx context.Context) error {
	if s.app == nil { // NoPipeline
		<-ctx.Done()
		return s.closeAll()
	}
	adminSrv := &http.Server{Handler: s.app.Handler(), ReadHeaderTimeout: 5 * time.Second}
	adminDone := make(chan error, 1)
	go func() { adminDone <- adminSrv.Serve(s.httpLn) }()

	g, gctx := errgroup.WithContext(ctx)
	if s.produce != nil {
		g.Go(func() error { return s.runGenerator(gctx) })
	}
	g.Go(func() error { return s.app.Run(gctx) })
	err := g.Wait()

	if cerr := s.closeAll(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adminSrv.Shutdown(sctx)
	<-adminDone
	return err
}

const genStateFile = "generator.position"

// runGenerator resumes from the position a previous run saved: the
// generator is deterministic, so skipping the events already produced
// continues the same stream instead of producing duplicates.
func (s *Stack) runGenerator(ctx context.Context) error {
	statePath := filepath.Join(s.cfg.DataDir, genStateFile)
	var done int64
	if raw, err := os.ReadFile(statePath); err == nil {
		done, _ = strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	}
	if done > 0 {
		if err := s.skip(done); err != nil {
			return err
		}
	}
	s.produced.Store(done)
	// The position is counted in generated interactions (not Kafka records:
	// a vendor interaction can be several records, plus noise), because
	// that is what skip replays.
	// Stats copies the truth lists; every 10000 records that is cheap.
	save := func() int64 {
		n := s.gen.Stats().Events // skip's Next calls count too
		os.WriteFile(statePath, []byte(strconv.FormatInt(n, 10)+"\n"), 0o644)
		return n
	}
	// A paced stream (Speed > 0) is slow: report often enough that the
	// progress line's "produced" moves; flat out, every 10000 records keeps
	// the Stats copy off the hot path.
	every := int64(10000)
	if s.gen.Config().Speed > 0 {
		every = 10
	}
	opts := kafkaio.ProduceOptions{
		ProgressEvery: every,
		Progress: func(kafkaio.Progress) {
			s.produced.Store(save())
		},
	}
	var err error
	topics := vendorTopics(s.cfg.App)
	if s.cfg.Format == "vendor" {
		// A vendor the config does not consume gets its default topic.
		_, err = kafkaio.ProduceVendor(ctx, s.produce, topics, s.gen, opts)
	} else {
		t := topics[canonical.Name]
		if t == "" {
			t = canonical.DefaultTopic
		}
		_, err = kafkaio.Produce(ctx, s.produce, t, s.gen, opts)
	}
	s.produced.Store(save())
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("generator: %w", err)
	}
	if err == nil {
		s.log.Info("generator finished: the configured days are produced; the pipeline keeps running", "events", s.produced.Load())
	}
	return nil
}

func (s *Stack) skip(n int64) error {
	s.log.Info("generator resuming", "skipping", n)
	var i schemas.Interaction
	for k := int64(0); k < n; k++ {
		if _, ok := s.gen.Next(&i); !ok {
			return nil
		}
		i.Reset()
	}
	return nil
}

func (s *Stack) closeAll() error {
	var errs []error
	if s.produce != nil {
		s.produce.Close()
		s.produce = nil
	}
	if s.stopCH != nil {
		errs = append(errs, s.stopCH())
		s.stopCH = nil
	} else if s.chLn != nil {
		s.chLn.Close()
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Close())
		s.engine = nil
	}
	if s.kafka != nil {
		errs = append(errs, s.kafka.Close())
		s.kafka = nil
	}
	if s.httpLn != nil && s.app == nil {
		s.httpLn.Close()
	}
	return errors.Join(errs...)
}
