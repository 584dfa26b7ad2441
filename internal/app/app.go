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
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
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

	stages := func(w int) []pipeline.Stage {
		// Each worker gets its own pseudonymiser: it reuses hash state.
		p := pseudo.Clone()
		s := []pipeline.Stage{pipeline.StageFunc(func(_ context.Context, b *schemas.Batch) error {
			for k := range b.Interactions {
				p.Apply(&b.Interactions[k])
			}
			return nil
		})}
		if opt.Stages != nil {
			s = append(s, opt.Stages(w, sink)...)
		}
		return s
	}
	pipe, err := pipeline.New(cfg.Pipeline, src, stages, sink, reg, log)
	if err != nil {
		src.Close(ctx)
		sink.Close()
		return nil, err
	}
	return &App{cfg: cfg, log: log, reg: reg, src: src, sink: sink, pipe: pipe}, nil
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
	runErr := a.pipe.Run(ctx)
	a.running.Store(false)

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	srcErr := a.src.Close(closeCtx)
	sinkErr := a.sink.Close()
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
