package kafkaio

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ticker writes wall-clock ticks into a topic's partitions while a stream
// is quiet: the lead topics' event time moves only when records arrive, so
// without ticks the KBIs of a stream that stopped never finalise and its
// deadlines never fire (docs/leads.md, "Quiet streams"). Ticks are records
// in the log, so a replay sees them where the live run did.
type Ticker struct {
	cl  *kgo.Client
	adm *kadm.Client
	cfg TickerConfig
	log *slog.Logger

	ticks prometheus.Counter
}

// TickerConfig says what to watch and where to tick.
type TickerConfig struct {
	// Groups must have no lag (every partition committed to its end)
	// before a tick: the ingest and contacts groups.
	Groups []string
	// Sources are the source topics: a new record in any resets the quiet
	// period.
	Sources []string
	// Topic and Partitions: where ticks go (every partition).
	Topic      string
	Partitions int32
	// After is the quiet period before the first tick; Every the period
	// between checks (and ticks).
	After, Every time.Duration
	// Value renders the tick record for wall time now.
	Value func(now time.Time) []byte
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
}

// NewTicker connects with conn (seed brokers, TLS, SASL).
func NewTicker(cfg TickerConfig, conn []kgo.Opt, reg prometheus.Registerer, log *slog.Logger) (*Ticker, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = 2 * time.Second
	}
	cl, err := kgo.NewClient(append(conn, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, fmt.Errorf("ticker: %w", err)
	}
	t := &Ticker{cl: cl, adm: kadm.NewClient(cl), cfg: cfg, log: log,
		ticks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_ticks_total",
			Help: "Wall-clock ticks written into the leads topic's partitions while the stream was quiet (one per partition).",
		})}
	if reg != nil {
		reg.MustRegister(t.ticks)
	}
	return t, nil
}

// Close closes the client.
func (t *Ticker) Close() { t.cl.Close() }

// Run checks every cfg.Every until ctx ends.
func (t *Ticker) Run(ctx context.Context) {
	tk := time.NewTicker(t.cfg.Every)
	defer tk.Stop()
	quietSince := t.cfg.Now()
	var lastEnds int64 = -1
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		now := t.cfg.Now()
		ends, busy, err := t.check(ctx)
		switch {
		case err != nil:
			quietSince = now // unknown: not quiet
			continue
		case busy || ends != lastEnds:
			quietSince, lastEnds = now, ends
			continue
		}
		if now.Sub(quietSince) < t.cfg.After {
			continue
		}
		v := t.cfg.Value(now)
		recs := make([]*kgo.Record, 0, t.cfg.Partitions)
		for p := range t.cfg.Partitions {
			recs = append(recs, &kgo.Record{Topic: t.cfg.Topic, Partition: p, Value: v})
		}
		if err := t.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			if ctx.Err() == nil {
				t.log.Warn("tick not written", "topic", t.cfg.Topic, "err", err)
			}
			continue
		}
		t.ticks.Add(float64(len(recs)))
	}
}

// check returns the sum of the source topics' end offsets and whether any
// group has lag.
func (t *Ticker) check(ctx context.Context) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := t.adm.ListEndOffsets(ctx, t.cfg.Sources...)
	if err != nil {
		return 0, false, err
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	done, err := GroupsCaughtUp(ctx, t.adm, t.cfg.Groups...)
	if err != nil {
		return 0, false, err
	}
	return sum, !done, nil
}

// GroupsCaughtUp reports whether every group has committed every
// partition it consumes up to the end (no lag).
func GroupsCaughtUp(ctx context.Context, adm *kadm.Client, groups ...string) (bool, error) {
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		l, ok := lags[g]
		if !ok || l.Error() != nil {
			return false, fmt.Errorf("lag of group %s unknown", g)
		}
		if l.Lag.Total() > 0 {
			return false, nil
		}
	}
	return true, nil
}
