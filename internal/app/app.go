package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/leads"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/kafka"
)

// Options are what the caller decides beyond the config file.
type Options struct {
	Logger *slog.Logger
	// Registry receives every metric; a new one is made when nil. Never the
	// global registry: tests run several apps in one process.
	Registry *prometheus.Registry
	// Org overrides Config.OrgFile (salespulse dev passes the generator's
	// when the config names no org file).
	Org *schemas.Org
	// Privacy overrides the pseudonymiser built from Config.Privacy (the
	// benchmarks pass one with the dev key).
	Privacy *privacy.Pseudonymizer
	// Stages adds per-worker stages after pseudonymisation (windows,
	// detectors). Called once per worker.
	Stages func(worker int, sink *clickhouse.Sink) []pipeline.Stage
	// Tap, when set, adds a stage after the last of each flow's stages
	// ("ingest", "contacts", "leads"), per worker: tests inject faults
	// where a flow has done its work but not acknowledged it.
	Tap func(flow string, worker int) pipeline.Stage
	// LeadsFlowOnly runs the leads flow alone (no ingest, no contacts, no
	// ticks), on Config.Leads.LeadsTopic under its own group: with the
	// leads topic of another deployment (and its Leads.ContactsTopic's
	// name, which that topic's resolver marks carry), it derives again
	// what that deployment derived from it. Tests use it to check that a
	// replay of the log, wall-clock ticks included, decides as the live
	// run did. Ignored with leads.disabled.
	LeadsFlowOnly bool
	// ConsoleAssets is the console's browser UI (package
	// internal/console/web's Assets), served at / of console.listen. Nil:
	// the console serves its API only.
	ConsoleAssets fs.FS
	// Version is the binary's version, reported by the console.
	Version string

	// failAfter, when set, is called after each construction step of New
	// with the step's name; an error it returns fails New right there.
	// Tests use it to check that every error path closes what it opened.
	failAfter func(step string) error
}

// ErrInvalidConfig wraps every problem New finds in the config; nothing was
// started.
var ErrInvalidConfig = errors.New("invalid config")

// App is one running SalesPulse instance.
type App struct {
	cfg   Config
	log   *slog.Logger
	reg   *prometheus.Registry
	src   *kafka.Source // the source topics' (ingest)
	sink  *clickhouse.Sink
	flows []flow            // ingest first; with leads, then contacts and leads
	disp  *alert.Dispatcher // nil without hooks
	tick  *kafkaio.Ticker   // nil without the lead topics or with ticks and nudges off
	ack   *http.Server      // the acknowledgement endpoint; nil when off
	ackLn net.Listener
	// The console; nil when console.listen is empty.
	console   *http.Server
	consoleLn net.Listener
	store     *kafkaio.StateStore // nil without the window (pipeline.stages)
	ing       *Ingress            // nil without ingest.listen
	cs        *closers            // what New opened, for Close

	running atomic.Bool
}

// New validates cfg, connects to Kafka and ClickHouse (applying migrations)
// and builds the pipeline. Nothing is consumed until Run. On error, New has
// closed everything it opened.
func New(ctx context.Context, cfg Config, opt Options) (_ *App, err error) {
	// SetDefaults fills the hooks' secrets in place: the caller's hooks stay
	// as given.
	cfg.Alerts.Hooks = slices.Clone(cfg.Alerts.Hooks)
	cfg.SetDefaults()
	// Validation reads the org and matrix files; New uses what it read, so
	// a start parses each once.
	files, err := cfg.validate(opt.Privacy == nil)
	if err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidConfig, err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	org := opt.Org
	if org == nil {
		org = files.org
	}
	if org == nil {
		org = &schemas.Org{}
	}
	idx := schemas.NewIndex(org)

	pseudo := opt.Privacy
	if pseudo == nil {
		if pseudo, err = privacy.New(cfg.Privacy); err != nil {
			return nil, fmt.Errorf("privacy: %w", err)
		}
	}
	// Team countries read national phone numbers; a given pseudonymiser
	// (benchmarks) is left unchanged and gets the same.
	pseudo = pseudo.With(privacy.WithOrg(idx), privacy.WithRegisterer(reg))

	decoders, err := newDecoders(cfg, idx, reg)
	if err != nil {
		return nil, err
	}

	// From here on New opens connections and starts clients. Each goes on
	// the closer stack as soon as it exists; an error closes the stack,
	// newest first (the reverse of the stop order's dependencies: the
	// source before the sink it writes to).
	cs := &closers{failAfter: opt.failAfter}
	defer func() {
		if err != nil {
			if cerr := cs.close(ctx); cerr != nil {
				log.Warn("closing after a failed start", "err", cerr)
			}
		}
	}()

	sink, err := clickhouse.NewSink(ctx, cfg.ClickHouse, reg, log)
	if err != nil {
		return nil, fmt.Errorf("clickhouse sink: %w", err)
	}
	if err := cs.push("clickhouse sink", func(context.Context) error { return sink.Close() }); err != nil {
		return nil, err
	}
	// The KBI views compare with the org file's targets (accounts per
	// rep); ClickHouse cannot read the file, so each start writes them.
	if err := sink.WriteTeamTargets(ctx, org.Teams, time.Now()); err != nil {
		return nil, fmt.Errorf("clickhouse sink: %w", err)
	}

	src, err := kafka.NewSource(cfg.Kafka, decoders, flowReg(reg, "ingest"), log, kafka.ClientMetrics(reg))
	if err != nil {
		return nil, fmt.Errorf("kafka source: %w", err)
	}
	if err := cs.push("kafka source", src.Close); err != nil {
		return nil, err
	}
	// A new consumer group (or offsets reset by a tool) replaying stored
	// offsets must cut them as they were stored, or the rollups count the
	// replay again: the sink knows the stored ranges.
	src.SetCutHistory(sink)

	store, parts, err := newStateStore(ctx, cfg, src, reg, log, cs)
	if err != nil {
		return nil, err
	}
	// pipeline.stages: an ingest-only deployment ([privacy]) builds
	// neither stage, nor the lead hop, nor the state store they need.
	var win *window.Window
	var lds *leads.Leads
	if cfg.Pipeline.Runs(pipeline.StageWindow) {
		wdeps := window.Deps{Org: idx, State: store}
		if cfg.leadHop() {
			if lds, err = newLeads(ctx, cfg, src, store, parts, reg, log); err != nil {
				return nil, err
			}
			// Behind the lead topics a partition merges many upstream
			// partitions: its event time is their slowest one's
			// (docs/leads.md).
			wdeps.UpstreamMarks, wdeps.IdleTimeout = true, cfg.Leads.IdleTimeout
			wdeps.Upstreams, wdeps.QuietUpstreams, wdeps.DormantUpstreams, wdeps.QuietGrace = lds.Upstreams()
			wdeps.RelayUpstreams = lds.Relays()
		}
		if win, err = window.New(cfg.Window, wdeps, reg, log); err != nil {
			return nil, fmt.Errorf("window: %w", err)
		}
		if err := cs.push("window", nil); err != nil {
			return nil, err
		}
	}
	var det *anomaly.Detectors
	if cfg.Pipeline.Runs(pipeline.StageAnomaly) {
		det, err = anomaly.New(cfg.Anomaly, files.matrix, idx, anomaly.Deps{State: store, Progress: cfg.leadHop(), Calendars: cfg.Window.Calendars, DealModel: files.deals}, reg, log)
		if err != nil {
			return nil, fmt.Errorf("anomaly: %w", err)
		}
		if err := cs.push("anomaly", nil); err != nil {
			return nil, err
		}
	}

	var disp *alert.Dispatcher
	// Without the anomaly stage nothing raises alerts: validate refused
	// hooks and the acknowledgement endpoint.
	if len(cfg.Alerts.Hooks) > 0 {
		conn, err := cfg.Kafka.ConnOpts()
		if err != nil {
			return nil, fmt.Errorf("alert dispatcher: %w", err)
		}
		feed, err := kafkaio.NewAlertFeed(cfg.Alerts, conn)
		if err != nil {
			return nil, fmt.Errorf("alert dispatcher: %w", err)
		}
		if err := cs.push("alert feed", func(context.Context) error { feed.Close(); return nil }); err != nil {
			return nil, err
		}
		if disp, err = alert.NewDispatcher(cfg.Alerts, feed, reg, log); err != nil {
			return nil, fmt.Errorf("alert dispatcher: %w", err)
		}
		// The alert budget's denominators (pages per manager per day).
		managers := map[string]bool{}
		for _, t := range org.Teams {
			if t.ManagerID != "" {
				managers[t.ManagerID] = true
			}
		}
		disp.SetRecipients(alert.RecipientRep, len(org.Reps))
		disp.SetRecipients(alert.RecipientManager, len(managers))
		disp.SetRecipients(alert.RecipientTeam, len(org.Teams))
		if err := cs.push("alert dispatcher", nil); err != nil {
			return nil, err
		}
	}

	// The KBI stages: windows before detectors (late events leave
	// b.Interactions there), detectors last: they see windowed batches.
	kbiStages := func(w int) []pipeline.Stage {
		var s []pipeline.Stage
		if win != nil {
			s = append(s, win.NewStage())
		}
		if opt.Stages != nil {
			s = append(s, opt.Stages(w, sink)...)
		}
		if det != nil {
			s = append(s, det.NewStage())
		}
		return s
	}
	// ClickHouse and, with the detectors, the durable alerts topic; the
	// batch is acknowledged only when both have it.
	var alerts pipeline.Sink
	if det != nil {
		alerts = kafkaio.NewAlertProducer(src.Client(), cfg.Alerts.Topic)
	}
	withAlerts := func(main pipeline.Sink) pipeline.Sink {
		if alerts == nil {
			return main
		}
		return pipeline.NewFanout(main, alerts)
	}

	var flows []flow
	if !cfg.leadHop() {
		// One pipeline: the stages pair within each source partition.
		stages := tapped(opt.Tap, "ingest", func(w int) []pipeline.Stage {
			// Pseudonymisation first: no later stage sees raw contact data.
			return append([]pipeline.Stage{pseudo.NewStage()}, kbiStages(w)...)
		})
		// Raw rows and the KBI facts of the tables that allow it grouped
		// across batches (Sink.Grouped); the rest of what the stages
		// derive is written per batch.
		pipe, err := pipeline.New(cfg.Pipeline, src, stages, withAlerts(sink.Grouped()), flowReg(reg, "ingest"), log)
		if err != nil {
			return nil, err
		}
		flows = append(flows, flow{"ingest", src, pipe})
	} else {
		if flows, err = leadFlows(cfg, src, store, lds, sink, withAlerts(sink.Derived()), pseudo, kbiStages, opt.Tap, opt.LeadsFlowOnly, reg, log, cs); err != nil {
			return nil, err
		}
	}
	for _, f := range flows {
		// A partition the flow's source gave up (a rebalance moved it to
		// another instance) leaves the stages' memory and the state
		// store's claims: adding instances lowers each one's memory.
		if store != nil {
			f.pipe.AlsoRelease(store)
		}
		f.src.OnRelease(f.pipe.Release)
	}
	if err := cs.push("pipeline", nil); err != nil {
		return nil, err
	}
	var tick *kafkaio.Ticker
	if cfg.leadHop() && (cfg.Leads.TickAfter >= 0 || cfg.Leads.ResolveIdle > 0) && !opt.LeadsFlowOnly {
		if tick, err = newTicker(cfg, lds, reg, log); err != nil {
			return nil, err
		}
		if err := cs.push("ticker", func(context.Context) error { tick.Close(); return nil }); err != nil {
			return nil, err
		}
	}
	var ackSrv *http.Server
	var ackLn net.Listener
	if cfg.Alerts.Ack.Enabled() {
		if ackSrv, ackLn, err = newAckServer(cfg, src, sink, idx, reg, log, cs); err != nil {
			return nil, err
		}
	}
	var conSrv *http.Server
	var conLn net.Listener
	if cfg.Console.Enabled() {
		var ackH http.Handler
		if ackSrv != nil {
			ackH = consoleAck(ackSrv.Handler, cfg.Alerts.Ack.Token)
		}
		if conSrv, conLn, err = newConsoleServer(cfg, opt, sink, org, files.matrix, ackH, reg, log, cs); err != nil {
			return nil, err
		}
	}
	var ing *Ingress
	if cfg.Ingest.Listen != "" {
		if ing, err = NewIngress(cfg, reg, log); err != nil {
			return nil, err
		}
		if err := cs.push("ingress", func(context.Context) error { ing.Close(); return nil }); err != nil {
			return nil, err
		}
	}
	return &App{cfg: cfg, log: log, reg: reg, src: src, sink: sink, flows: flows, disp: disp, tick: tick, ack: ackSrv, ackLn: ackLn,
		console: conSrv, consoleLn: conLn, store: store, ing: ing, cs: cs}, nil
}

// closers is New's closer stack: what it opened, to close again, newest
// first, when a later step fails.
type closers struct {
	fns       []func(context.Context) error
	failAfter func(step string) error // Options.failAfter
}

// push records close (nil: the step opened nothing), then lets a test fail
// New right after step.
func (c *closers) push(step string, close func(context.Context) error) error {
	if close != nil {
		c.fns = append(c.fns, close)
	}
	if c.failAfter != nil {
		if err := c.failAfter(step); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}

// close runs the stack in reverse and joins the errors. It outlives ctx:
// a cancelled start must still close its clients.
func (c *closers) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var errs []error
	for k := len(c.fns) - 1; k >= 0; k-- {
		errs = append(errs, c.fns[k](ctx))
	}
	c.fns = nil
	return errors.Join(errs...)
}

// newStateStore creates the topics SalesPulse itself produces to — dead
// letters and, with the detectors, alerts and parked alert deliveries —
// when missing (without them every batch with a dead letter or an alert
// fails to be acknowledged and the pipeline stalls on a fresh cluster
// that does not auto-create), then builds the stages' state store: one
// compacted topic with as many partitions as the widest source topic,
// because the state of source partition p lives in its partition p. The
// store goes on cs as soon as it exists. An ingest-only deployment
// (pipeline.stages without window) has no state: the store is nil.
func newStateStore(ctx context.Context, cfg Config, src *kafka.Source, reg prometheus.Registerer, log *slog.Logger, cs *closers) (*kafkaio.StateStore, int32, error) {
	names := make([]string, 0, len(cfg.Kafka.Topics))
	for t := range cfg.Kafka.Topics {
		names = append(names, t)
	}
	parts, err := kafkaio.MaxPartitions(ctx, src.Client(), names)
	if err == nil {
		own := []string{cfg.Kafka.DeadLetterTopic}
		if cfg.Pipeline.Runs(pipeline.StageAnomaly) {
			own = append(own, cfg.Alerts.Topic, cfg.Alerts.ParkTopic)
		}
		if cfg.leadHop() {
			// The lead topics are partitioned like the source topics: the
			// same parallelism, and their state fits the state topic.
			own = append(own, cfg.Leads.ContactsTopic, cfg.Leads.LeadsTopic)
		}
		err = kafkaio.EnsureTopics(ctx, src.Client(), parts, own...)
	}
	if err == nil && cfg.leadHop() {
		// Lead topics made wider by hand: the state topic must cover them.
		parts, err = kafkaio.MaxPartitions(ctx, src.Client(), append(names, cfg.Leads.ContactsTopic, cfg.Leads.LeadsTopic))
	}
	if err != nil {
		return nil, 0, err
	}
	if err := cs.push("topics", nil); err != nil {
		return nil, 0, err
	}
	if !cfg.Pipeline.Runs(pipeline.StageWindow) { // anomaly needs window
		return nil, parts, nil
	}
	conn, err := cfg.Kafka.ConnOpts()
	if err != nil {
		return nil, 0, err
	}
	// conn carries no kprom hook: the store opens and closes a producer
	// per partition it owns, and kprom unregisters its metrics when any
	// hooked client closes.
	store, err := kafkaio.NewStateStore(cfg.State, cfg.Kafka.Group, conn, reg, log)
	if err != nil {
		return nil, 0, fmt.Errorf("state store: %w", err)
	}
	if err := cs.push("state store", func(context.Context) error { store.Close(); return nil }); err != nil {
		return nil, 0, err
	}
	if err := store.Ensure(ctx, parts); err != nil {
		return nil, 0, fmt.Errorf("state store: %w", err)
	}
	return store, parts, nil
}

// Registry is the app's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// Sink is the ClickHouse sink (for erase and for stages that register
// aggregate tables).
func (a *App) Sink() *clickhouse.Sink { return a.sink }

// Source is the Kafka source.
func (a *App) Source() *kafka.Source { return a.src }

// Close releases an App that will not Run (its caller failed to start
// something else); Run closes everything itself.
func (a *App) Close(ctx context.Context) error { return a.cs.close(ctx) }

// Run consumes until ctx is cancelled, then stops in data-flow order: the
// source stops handing out batches, the pipeline writes what it already took
// (drain), the source commits every acknowledged offset and leaves the group,
// and the ClickHouse connections close last because the drain needs them.
func (a *App) Run(ctx context.Context) error {
	a.running.Store(true)
	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	// The dispatcher pages from the alerts topic on its own consumer group;
	// it stops with ctx after draining what it took (at least once).
	dispDone := make(chan error, 1)
	if a.disp != nil {
		go func() { dispDone <- a.disp.Run(runCtx) }()
	} else {
		dispDone <- nil
	}
	if a.tick != nil {
		go a.tick.Run(runCtx)
	}
	if a.ack != nil {
		go a.ack.Serve(a.ackLn)
	}
	// The console's alert streams run until the viewer leaves; this
	// context ends them at shutdown, which would otherwise wait for them.
	conCtx, stopStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStreams()
	if a.console != nil {
		a.console.BaseContext = func(net.Listener) context.Context { return conCtx }
		go a.console.Serve(a.consoleLn)
	}
	// The webhook ingress writes to the source topics through Kafka, not
	// to the pipeline: it stops on its own (requests in flight finish
	// their produce) and what it wrote after the pipeline stopped is read
	// on the next start. A failed listener stops everything, as a failed
	// pipeline does: a deployment that expects webhooks must not run
	// without them.
	ingDone := make(chan error, 1)
	if a.ing != nil {
		go func() {
			err := a.ing.Run(runCtx)
			if err != nil {
				stopAll()
			}
			ingDone <- err
		}()
	} else {
		ingDone <- nil
	}
	// The pipelines run side by side and stop together: each drains what
	// it took. A failed one stops the others (ctx of the group).
	var g errgroup.Group
	for _, f := range a.flows {
		g.Go(func() error {
			err := f.pipe.Run(runCtx)
			stopAll()
			if err != nil {
				return fmt.Errorf("%s pipeline: %w", f.name, err)
			}
			return nil
		})
	}
	runErr := g.Wait()
	a.running.Store(false)
	if a.ack != nil {
		// Before the source's client closes: the endpoint produces with
		// it, and a call in progress gets its answer (202 or 503).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		a.ack.Shutdown(sctx)
		cancel()
	}
	if a.console != nil {
		// Before the sink closes: the console reads ClickHouse through
		// it, and a request in progress gets its answer.
		stopStreams()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		a.console.Shutdown(sctx)
		cancel()
	}
	if err := <-dispDone; err != nil && !errors.Is(err, context.Canceled) {
		runErr = errors.Join(runErr, fmt.Errorf("alert dispatcher: %w", err))
	}
	if err := <-ingDone; err != nil {
		runErr = errors.Join(runErr, err)
	}

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var srcErr error
	ingest := false
	for _, f := range a.flows {
		if err := f.src.Close(closeCtx); err != nil {
			srcErr = errors.Join(srcErr, fmt.Errorf("%s: %w", f.name, err))
		}
		ingest = ingest || f.src == a.src
	}
	if !ingest { // Options.LeadsFlowOnly: the source topics' client, never run
		if err := a.src.Close(closeCtx); err != nil {
			srcErr = errors.Join(srcErr, fmt.Errorf("ingest: %w", err))
		}
	}
	sinkErr := a.sink.Close()
	if a.store != nil {
		a.store.Close() // every checkpoint was acknowledged before its batch
	}
	if a.tick != nil {
		a.tick.Close()
	}
	if srcErr != nil {
		srcErr = fmt.Errorf("close kafka source: %w", srcErr)
	}
	return errors.Join(runErr, srcErr, sinkErr)
}

// Ready reports whether the instance can do its job now: running, and
// ClickHouse answering. Kafka connectivity shows in consumer lag metrics;
// failing readiness on a broker blip would make Kubernetes pull every
// replica out of service at once. With the webhook ingress on, Kafka
// must answer too: a replica that cannot produce answers every webhook
// 503, and the load balancer should send vendors to one that can.
func (a *App) Ready(ctx context.Context) error {
	if !a.running.Load() {
		return errors.New("not running")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if a.ing != nil {
		if err := a.ing.Ready(ctx); err != nil {
			return err
		}
	}
	return a.sink.Ping(ctx)
}

// IngressAddr is where the webhook ingress listens, "" when it is off.
func (a *App) IngressAddr() string {
	if a.ing == nil {
		return ""
	}
	return a.ing.Addr()
}

// Handler serves /metrics, /healthz and /readyz.
func (a *App) Handler() http.Handler {
	return AdminHandler(a.reg, a.Ready)
}

// AdminHandler serves /metrics from reg, /healthz (the process answers) and
// /readyz (ready returns nil).
func AdminHandler(reg *prometheus.Registry, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
