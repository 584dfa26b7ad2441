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

// Ticker writes wall-clock ticks into topics' partitions while a stream
// is quiet: the lead topics' event time moves only when records arrive, so
// without ticks the KBIs of a stream that stopped never finalise and its
// deadlines never fire (docs/leads.md, "Quiet streams"). Ticks are records
// in the log, so a replay sees them where the live run did.
type Ticker struct {
	k     TickerLog
	close func()
	cfg   TickerConfig
	log   *slog.Logger

	ticks, nudges prometheus.Counter
}

// TickerConfig says what to watch and where to tick.
type TickerConfig struct {
	// Groups must have no lag (every partition committed to its end)
	// before a tick: the ingest group. (Not the contacts group: it gets
	// the ticks too, so it lags after each; the resolvers relay the
	// ticks to the leads topic after what they release at them.)
	Groups []string
	// Sources are the source topics: a new record in any resets the quiet
	// period.
	Sources []string
	// Topics and Partitions: where ticks go (every partition of each).
	Topics     []string
	Partitions int32
	// After is the quiet period before the first tick (negative: no
	// ticks, nudges only); Every the period between checks (and ticks).
	After, Every time.Duration
	// Value renders the tick record for wall time now.
	Value func(now time.Time) []byte
	// NudgeAfter, when positive, is the quiet period before a nudge: one
	// record per quiet period into every partition of NudgeTopics
	// (NudgeValue renders it), long before the first tick. The lead
	// resolvers take it as their cue to resolve the touches a stopped
	// stream left waiting (docs/leads.md, "Quiet streams").
	NudgeAfter  time.Duration
	NudgeTopics []string
	NudgeValue  func(now time.Time) []byte
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
}

// TickerLog is what a Ticker asks of Kafka. NewTicker's clients
// implement it; NewTickerOn takes another (tests drive the Ticker's
// timing under testing/synctest with a fake, which real network clients
// cannot join).
type TickerLog interface {
	// EndsSum is the sum of topics' end offsets: it changes when any
	// gets a new record.
	EndsSum(ctx context.Context, topics ...string) (int64, error)
	// CaughtUp reports whether every group has committed every
	// partition it consumes up to the end.
	CaughtUp(ctx context.Context, groups ...string) (bool, error)
	// Produce writes recs (their Partition set) and waits for the acks.
	Produce(ctx context.Context, recs ...*kgo.Record) error
}

// NewTicker connects with conn (seed brokers, TLS, SASL).
func NewTicker(cfg TickerConfig, conn []kgo.Opt, reg prometheus.Registerer, log *slog.Logger) (*Ticker, error) {
	cl, err := kgo.NewClient(append(conn, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, fmt.Errorf("ticker: %w", err)
	}
	t := NewTickerOn(cfg, clientLog{cl, kadm.NewClient(cl)}, reg, log)
	t.close = cl.Close
	return t, nil
}

// NewTickerOn is a Ticker that talks to Kafka through k; Close leaves k
// alone.
func NewTickerOn(cfg TickerConfig, k TickerLog, reg prometheus.Registerer, log *slog.Logger) *Ticker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Ticker{k: k, close: func() {}, cfg: cfg, log: log,
		ticks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_ticks_total",
			Help: "Wall-clock ticks written into the lead topics' partitions while the stream was quiet (one per partition).",
		}),
		nudges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "salespulse_leads_nudges_total",
			Help: "Nudges written into the contacts topic's partitions once a stream went quiet, so the resolvers resolve the touches it left waiting (one per partition).",
		})}
	if reg != nil {
		reg.MustRegister(t.ticks, t.nudges)
	}
	return t
}

// Close closes the client NewTicker made.
func (t *Ticker) Close() { t.close() }

// clientLog is TickerLog on the real clients.
type clientLog struct {
	cl  *kgo.Client
	adm *kadm.Client
}

func (c clientLog) EndsSum(ctx context.Context, topics ...string) (int64, error) {
	ends, err := c.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0, err
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

func (c clientLog) CaughtUp(ctx context.Context, groups ...string) (bool, error) {
	return GroupsCaughtUp(ctx, c.adm, groups...)
}

func (c clientLog) Produce(ctx context.Context, recs ...*kgo.Record) error {
	return c.cl.ProduceSync(ctx, recs...).FirstErr()
}

// Run checks every cfg.Every until ctx ends.
func (t *Ticker) Run(ctx context.Context) {
	tk := time.NewTicker(t.cfg.Every)
	defer tk.Stop()
	quietSince := t.cfg.Now()
	var lastEnds int64 = -1
	nudged := false // this quiet period's nudge is written
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
			quietSince, lastEnds, nudged = now, ends, false
			continue
		}
		quiet := now.Sub(quietSince)
		if t.cfg.NudgeAfter > 0 && !nudged && quiet >= t.cfg.NudgeAfter {
			n, err := t.write(ctx, t.cfg.NudgeTopics, t.cfg.NudgeValue(now))
			if err == nil {
				nudged = true
				t.nudges.Add(float64(n))
			} else if ctx.Err() == nil {
				t.log.Warn("nudge not written", "topics", t.cfg.NudgeTopics, "err", err)
			}
		}
		if t.cfg.After < 0 || quiet < t.cfg.After {
			continue
		}
		n, err := t.write(ctx, t.cfg.Topics, t.cfg.Value(now))
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("tick not written", "topics", t.cfg.Topics, "err", err)
			}
			continue
		}
		t.ticks.Add(float64(n))
	}
}

// write writes v into every partition of topics and returns how many
// records that was.
func (t *Ticker) write(ctx context.Context, topics []string, v []byte) (int, error) {
	recs := make([]*kgo.Record, 0, int(t.cfg.Partitions)*len(topics))
	for _, topic := range topics {
		for p := range t.cfg.Partitions {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
		}
	}
	return len(recs), t.k.Produce(ctx, recs...)
}

// check returns the sum of the source topics' end offsets and whether any
// group has lag.
func (t *Ticker) check(ctx context.Context) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sum, err := t.k.EndsSum(ctx, t.cfg.Sources...)
	if err != nil {
		return 0, false, err
	}
	done, err := t.k.CaughtUp(ctx, t.cfg.Groups...)
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
