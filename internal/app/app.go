package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/aircall"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/graph"
	"github.com/salespulse/salespulse/sources/hubspot"
	"github.com/salespulse/salespulse/sources/kafka"
	"github.com/salespulse/salespulse/sources/salesforce"
	"github.com/salespulse/salespulse/sources/twilio"
	"github.com/salespulse/salespulse/sources/zoom"
)

// Options are what the caller decides beyond the config file.
type Options struct {
	Logger *slog.Logger
	// Registry receives every metric; a new one is made when nil. Never the
	// global registry: tests run several apps in one process.
	Registry *prometheus.Registry
	// Org overrides Config.OrgFile (salespulse dev passes the generator's).
	Org *schemas.Org
	// Privacy overrides the pseudonymiser built from Config.Privacy
	// (salespulse dev passes one with the dev key).
	Privacy *privacy.Pseudonymizer
	// Stages adds per-worker stages after pseudonymisation (windows,
	// detectors). Called once per worker.
	Stages func(worker int, sink *clickhouse.Sink) []pipeline.Stage
	// KafkaOpts are extra franz-go options for the source's client.
	KafkaOpts []kgo.Opt
}

// App is one running SalesPulse instance.
type App struct {
	cfg  Config
	log  *slog.Logger
	reg  *prometheus.Registry
	src  *kafka.Source
	sink *clickhouse.Sink
	pipe *pipeline.Pipeline
	disp *alert.Dispatcher // nil without hooks
	clog *kgo.Client       // state changelog producer

	running atomic.Bool
}

// New connects to Kafka and ClickHouse (applying migrations) and builds the
// pipeline. Nothing is consumed until Run.
func New(ctx context.Context, cfg Config, opt Options) (*App, error) {
	cfg.SetDefaults()
	if err := cfg.validate(opt.Privacy == nil); err != nil {
		return nil, fmt.Errorf("invalid config:\n%w", err)
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
	if org == nil && cfg.OrgFile != "" {
		var err error
		if org, err = LoadOrg(cfg.OrgFile); err != nil {
			return nil, err
		}
	}
	if org == nil {
		org = &schemas.Org{}
	}
	idx := schemas.NewIndex(org)

	pseudo := opt.Privacy
	if pseudo == nil {
		var err error
		if pseudo, err = privacy.New(cfg.Privacy); err != nil {
			return nil, fmt.Errorf("privacy: %w", err)
		}
	}

	decoders, err := newDecoders(cfg, idx, reg)
	if err != nil {
		return nil, err
	}

	sink, err := clickhouse.NewSink(ctx, cfg.ClickHouse, reg, log)
	if err != nil {
		return nil, fmt.Errorf("clickhouse sink: %w", err)
	}

	kopts := append([]kgo.Opt{kgo.WithHooks(kprom.NewMetrics("salespulse_franz", kprom.Registerer(reg), kprom.WithClientLabel()))}, opt.KafkaOpts...)
	src, err := kafka.NewSource(cfg.Kafka, decoders, reg, log, kopts...)
	if err != nil {
		sink.Close()
		return nil, fmt.Errorf("kafka source: %w", err)
	}
	// A new consumer group (or offsets reset by a tool) replaying stored
	// offsets must cut them as they were stored, or the rollups count the
	// replay again: the sink knows the stored ranges.
	src.SetCutHistory(sink)

	win, clog, err := newWindow(ctx, cfg, idx, sink, reg, log)
	if err != nil {
		src.Close(ctx)
		sink.Close()
		return nil, err
	}

	var matrix *anomaly.Matrix
	if f := cfg.Anomaly.MatrixFile; f != "" {
		if matrix, err = anomaly.LoadMatrix(f); err != nil {
			src.Close(ctx)
			sink.Close()
			return nil, fmt.Errorf("anomaly.matrix_file: %w", err)
		}
	}
	// The detectors checkpoint to their own compacted topic through the
	// window's changelog client, partitioned like the window's changelog.
	det, err := anomaly.New(cfg.Anomaly, matrix, idx, anomaly.Deps{Changelog: clog, Committed: window.CommittedOffsets(clog, cfg.Kafka.Group)}, reg, log)
	if err == nil {
		var parts int32
		if parts, err = maxPartitions(ctx, clog, cfg.Kafka.Topics); err == nil {
			err = det.EnsureChangelog(ctx, parts, -1)
		}
		if err == nil {
			topic := cfg.Anomaly.ChangelogTopic
			if topic == "" {
				topic = "salespulse.anomaly-changelog"
			}
			err = growPartitions(ctx, clog, topic, parts)
		}
	}
	if err != nil {
		src.Close(ctx)
		sink.Close()
		return nil, fmt.Errorf("anomaly: %w", err)
	}
	var disp *alert.Dispatcher
	if len(cfg.Alerts.Hooks) > 0 {
		conn, err := cfg.Kafka.ConnOpts()
		if err == nil {
			disp, err = alert.NewDispatcher(cfg.Alerts, conn, reg, log)
		}
		if err != nil {
			src.Close(ctx)
			sink.Close()
			return nil, fmt.Errorf("alert dispatcher: %w", err)
		}
	}

	stages := func(w int) []pipeline.Stage {
		// Each worker gets its own pseudonymiser: it reuses hash state.
		p := pseudo.Clone()
		s := []pipeline.Stage{pipeline.StageFunc(func(_ context.Context, b *schemas.Batch) error {
			for k := range b.Interactions {
				p.Apply(&b.Interactions[k])
			}
			return nil
		})}
		// Windows before detectors: late events leave b.Interactions there.
		s = append(s, win.NewStage())
		if opt.Stages != nil {
			s = append(s, opt.Stages(w, sink)...)
		}
		// Detectors run last: they see pseudonymised, windowed batches.
		return append(s, det.NewStage())
	}
	alertTopic := cfg.Alerts.Topic
	if alertTopic == "" {
		alertTopic = "sales.alerts"
	}
	out := &fanout{ch: sink, alerts: alert.NewProducer(src.Client(), alertTopic)}
	pipe, err := pipeline.New(cfg.Pipeline, src, stages, out, reg, log)
	if err != nil {
		src.Close(ctx)
		sink.Close()
		return nil, err
	}
	return &App{cfg: cfg, log: log, reg: reg, src: src, sink: sink, pipe: pipe, disp: disp, clog: clog}, nil
}

// newWindow builds the KBI stage and its state changelog client: a plain
// producer (no group) with manual partitioning, because a partition's state
// must land in the changelog partition of the same number to be restored
// by whoever owns that partition next.
func newWindow(ctx context.Context, cfg Config, idx *schemas.Index, sink *clickhouse.Sink, reg prometheus.Registerer, log *slog.Logger) (*window.Window, *kgo.Client, error) {
	conn, err := cfg.Kafka.ConnOpts()
	if err != nil {
		return nil, nil, err
	}
	clog, err := kgo.NewClient(append(conn,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(4<<20),
	)...)
	if err != nil {
		return nil, nil, fmt.Errorf("state changelog client: %w", err)
	}
	topic := cfg.Window.ChangelogTopic
	if topic == "" {
		topic = "salespulse.state-changelog"
	}
	parts, err := maxPartitions(ctx, clog, cfg.Kafka.Topics)
	if err == nil {
		// Replication factor -1: the broker's default.replication.factor.
		err = window.EnsureChangelog(ctx, clog, topic, parts, -1)
	}
	if err == nil {
		err = growPartitions(ctx, clog, topic, parts)
	}
	if err == nil {
		err = ensureOutputTopics(ctx, clog, cfg, parts)
	}
	if err != nil {
		clog.Close()
		return nil, nil, fmt.Errorf("state changelog: %w", err)
	}
	win, err := window.New(cfg.Window, window.Deps{Org: idx, Changelog: clog, Committed: window.CommittedOffsets(clog, cfg.Kafka.Group)}, reg, log)
	if err != nil {
		clog.Close()
		return nil, nil, fmt.Errorf("window: %w", err)
	}
	return win, clog, nil
}

// ensureOutputTopics creates the topics SalesPulse itself produces to —
// dead letters, alerts, parked alert deliveries — when missing. Without
// them every batch with a dead letter or an alert fails to be acknowledged
// and the pipeline stalls on a fresh cluster that does not auto-create.
func ensureOutputTopics(ctx context.Context, cl *kgo.Client, cfg Config, parts int32) error {
	alerts, parked := cfg.Alerts.Topic, cfg.Alerts.ParkTopic
	if alerts == "" {
		alerts = "sales.alerts"
	}
	if parked == "" {
		parked = "sales.alerts.parked"
	}
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, parts, -1, nil, cfg.Kafka.DeadLetterTopic, alerts, parked)
	if err != nil {
		return fmt.Errorf("create output topics: %w", err)
	}
	for _, r := range resp {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// growPartitions raises topic's partition count to at least parts. A
// changelog holds partition p's state in its partition p, so it needs as
// many partitions as the widest source topic; one created earlier by an
// instance with fewer or narrower topics (or before the source topics grew)
// would make every restore of the higher partitions fail. New changelog
// partitions start empty, which is right: nothing was checkpointed there.
func growPartitions(ctx context.Context, cl *kgo.Client, topic string, parts int32) error {
	adm := kadm.NewClient(cl)
	md, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe %s: %w", topic, err)
	}
	d, ok := md[topic]
	if !ok || d.Err != nil || int32(len(d.Partitions)) >= parts {
		return nil // just created with parts partitions, or already wide enough
	}
	resp, err := adm.UpdatePartitions(ctx, int(parts), topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("grow %s from %d to %d partitions: %w", topic, len(d.Partitions), parts, err)
	}
	return nil
}

// maxPartitions is the largest partition count among the consumed topics
// that exist; the changelog needs at least that many.
func maxPartitions(ctx context.Context, cl *kgo.Client, topics map[string]string) (int32, error) {
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	md, err := kadm.NewClient(cl).ListTopics(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	n := int32(1)
	for _, t := range md {
		if t.Err == nil {
			n = max(n, int32(len(t.Partitions)))
		}
	}
	return n, nil
}

// fanout is the pipeline's sink: ClickHouse and the durable alerts topic,
// written concurrently (alert latency should not wait for a big insert);
// the batch is acknowledged only when both have it. A redelivery after a
// partial failure re-sends both, which the dedup token (ClickHouse) and the
// stable alert id (hooks) make harmless.
type fanout struct {
	ch     *clickhouse.Sink
	alerts *alert.Producer
}

func (f *fanout) Write(ctx context.Context, b *schemas.Batch) error {
	if len(b.Alerts) == 0 {
		return f.ch.Write(ctx, b)
	}
	errc := make(chan error, 1)
	go func() { errc <- f.alerts.Write(ctx, b) }()
	chErr := f.ch.Write(ctx, b)
	return errors.Join(chErr, <-errc)
}

func newDecoders(cfg Config, idx *schemas.Index, reg prometheus.Registerer) (map[string]kafka.Decoder, error) {
	byName := map[string]func() (kafka.Decoder, error){
		DecoderCanonical:  func() (kafka.Decoder, error) { return canonical.NewDecoder(reg), nil },
		DecoderSalesforce: func() (kafka.Decoder, error) { return salesforce.NewDecoder(cfg.Sources.Salesforce, idx, reg) },
		DecoderHubSpot:    func() (kafka.Decoder, error) { return hubspot.NewDecoder(cfg.Sources.HubSpot, idx, reg) },
		DecoderZoom:       func() (kafka.Decoder, error) { return zoom.NewDecoder(cfg.Sources.Zoom, idx, reg) },
		DecoderGraph:      func() (kafka.Decoder, error) { return graph.NewDecoder(cfg.Sources.Graph, idx, reg) },
		DecoderAircall:    func() (kafka.Decoder, error) { return aircall.NewDecoder(cfg.Sources.Aircall, idx, reg) },
		DecoderTwilio:     func() (kafka.Decoder, error) { return twilio.NewDecoder(cfg.Sources.Twilio, idx, reg) },
	}
	built := map[string]kafka.Decoder{} // one decoder per name, shared by its topics
	out := map[string]kafka.Decoder{}
	for topic, name := range cfg.Kafka.Topics {
		d, ok := built[name]
		if !ok {
			mk, known := byName[name]
			if !known {
				return nil, fmt.Errorf("kafka.topics.%s: %q: %w", topic, name, ErrUnknownDecoder)
			}
			var err error
			if d, err = mk(); err != nil {
				return nil, fmt.Errorf("decoder %s: %w", name, err)
			}
			built[name] = d
		}
		out[topic] = d
	}
	return out, nil
}

// Registry is the app's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// Sink is the ClickHouse sink (for erase and for stages that register
// aggregate tables).
func (a *App) Sink() *clickhouse.Sink { return a.sink }

// Source is the Kafka source.
func (a *App) Source() *kafka.Source { return a.src }

// Run consumes until ctx is cancelled, then stops in data-flow order: the
// source stops handing out batches, the pipeline writes what it already took
// (drain), the source commits every acknowledged offset and leaves the group,
// and the ClickHouse connections close last because the drain needs them.
func (a *App) Run(ctx context.Context) error {
	a.running.Store(true)
	// The dispatcher pages from the alerts topic on its own consumer group;
	// it stops with ctx after draining what it took (at least once).
	dispDone := make(chan error, 1)
	if a.disp != nil {
		go func() { dispDone <- a.disp.Run(ctx) }()
	} else {
		dispDone <- nil
	}
	runErr := a.pipe.Run(ctx)
	a.running.Store(false)
	if err := <-dispDone; err != nil && !errors.Is(err, context.Canceled) {
		runErr = errors.Join(runErr, fmt.Errorf("alert dispatcher: %w", err))
	}

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	srcErr := a.src.Close(closeCtx)
	sinkErr := a.sink.Close()
	a.clog.Close() // every checkpoint was acknowledged before its batch
	if srcErr != nil {
		srcErr = fmt.Errorf("close kafka source: %w", srcErr)
	}
	return errors.Join(runErr, srcErr, sinkErr)
}

// Ready reports whether the instance can do its job now: running, and
// ClickHouse answering. Kafka connectivity shows in consumer lag metrics;
// failing readiness on a broker blip would make Kubernetes pull every
// replica out of service at once.
func (a *App) Ready(ctx context.Context) error {
	if !a.running.Load() {
		return errors.New("not running")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return a.sink.Ping(ctx)
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
