// Package pipeline moves batches from a source through the processing stages
// to the sinks and acknowledges them only once every sink has stored them.
//
// It declares the small interfaces it calls (Source, Stage, Sink); cmd/
// hands it the concrete Kafka source and ClickHouse sink, so this package
// knows neither.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/salespulse/salespulse/schemas"
)

// Source hands out batches in offset order per partition. Next blocks until a
// batch is ready or ctx is done.
type Source interface {
	Next(ctx context.Context) (*schemas.Batch, error)
}

// Stage transforms a batch in place before it is written: pseudonymisation,
// windowed aggregation, anomaly detection. A Stage instance is used by one
// worker only and sees every batch of a partition in offset order, so it may
// keep per-partition state without locks.
type Stage interface {
	Process(ctx context.Context, b *schemas.Batch) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, b *schemas.Batch) error

// Process calls f.
func (f StageFunc) Process(ctx context.Context, b *schemas.Batch) error { return f(ctx, b) }

// Sink stores a batch durably. Write returns only when the data is
// acknowledged (or it gives up with an error); it must be safe for concurrent
// use by several workers.
type Sink interface {
	Write(ctx context.Context, b *schemas.Batch) error
}

// Config tunes the pipeline.
type Config struct {
	// Workers is the number of batches processed at once (default 2). A
	// partition is always handled by the same worker, so its batches stay in
	// offset order and stage state needs no locks.
	Workers int `yaml:"workers"`
	// Queue is the number of batches waiting per worker (default 4): bounded,
	// so a slow sink slows the source (backpressure) instead of growing memory.
	Queue int `yaml:"queue"`
}

// ErrWorkers is returned by Validate for a negative worker count.
var ErrWorkers = errors.New("workers must be >= 0")

func (c *Config) setDefaults() {
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Queue == 0 {
		c.Queue = 4
	}
}

// Validate reports the first problem in c.
func (c Config) Validate() error {
	if c.Workers < 0 {
		return fmt.Errorf("pipeline.workers: %w", ErrWorkers)
	}
	if c.Queue < 0 {
		return fmt.Errorf("pipeline.queue: must be >= 0")
	}
	return nil
}

// Pipeline is a running Source → Stages → Sink chain.
type Pipeline struct {
	cfg    Config
	src    Source
	stages func(worker int) []Stage
	sink   Sink
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
}

// New wires a pipeline. newStages is called once per worker so each worker
// owns its stage instances (their state is not shared between goroutines).
func New(cfg Config, src Source, newStages func(worker int) []Stage, sink Sink, reg prometheus.Registerer, log *slog.Logger) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if newStages == nil {
		newStages = func(int) []Stage { return nil }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{
		cfg: cfg, src: src, stages: newStages, sink: sink,
		log: log.With("component", "pipeline"),
		m:   newMetrics(reg),
		now: time.Now,
	}, nil
}

// Run consumes until ctx is cancelled or a non-recoverable error occurs.
//
// A batch that a stage or the sink fails on is acknowledged with the error,
// which makes the source deliver it again; the sink retries transient
// ClickHouse errors itself, so an error reaching here is either
// cancellation or something an operator must see, and Run returns it.
func (p *Pipeline) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	queues := make([]chan *schemas.Batch, p.cfg.Workers)
	for w := range queues {
		q := make(chan *schemas.Batch, p.cfg.Queue)
		queues[w] = q
		stages := p.stages(w)
		g.Go(func() error { return p.work(ctx, q, stages) })
	}
	g.Go(func() error {
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		for {
			b, err := p.src.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("next batch: %w", err)
			}
			// Same partition, same worker: keeps offset order per partition.
			w := int(uint32(b.Origin.Partition)+hashString(b.Origin.Topic)) % len(queues)
			select {
			case queues[w] <- b:
			case <-ctx.Done():
				b.Ack(ctx.Err())
				return nil
			}
		}
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (p *Pipeline) work(ctx context.Context, q <-chan *schemas.Batch, stages []Stage) error {
	for b := range q {
		if ctx.Err() != nil {
			// Draining after cancellation: hand the batch back unstored so its
			// offsets are not committed; the next owner reads it again.
			b.Ack(ctx.Err())
			continue
		}
		if err := p.handle(ctx, b, stages); err != nil {
			b.Ack(err)
			if ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("batch %s: %w", b.Origin, err)
		}
	}
	return nil
}

func (p *Pipeline) handle(ctx context.Context, b *schemas.Batch, stages []Stage) error {
	start := p.now()
	for _, s := range stages {
		if err := s.Process(ctx, b); err != nil {
			return fmt.Errorf("process: %w", err)
		}
	}
	if err := p.sink.Write(ctx, b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	done := p.now()
	p.m.observe(b, start, done)
	b.Ack(nil)
	return nil
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
