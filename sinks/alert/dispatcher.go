package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Record is one record the Dispatcher consumed from the alerts or the
// park topic. Key, Value and Headers stay valid until the record's
// offset is marked (the feed does not reuse them before).
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // the produce time: alert latency is measured from it
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Feed is the Dispatcher's consumer of the alerts and park topics, in a
// consumer group of its own; internal/kafkaio implements it with
// franz-go, so this package knows no Kafka client.
type Feed interface {
	// Poll blocks until records are there or ctx ends; records of one
	// partition come in offset order. ErrFeedClosed (wrapped) means the
	// feed was closed and Poll will never return records again. Other
	// errors are per-partition fetch problems: logged, then polled again.
	Poll(ctx context.Context) ([]*Record, error)
	// MarkCommit marks r, and everything before it in its partition, for
	// the next commit. Only records this feed's Poll returned.
	MarkCommit(r *Record)
	// CommitMarked commits what was marked.
	CommitMarked(ctx context.Context) error
	// Park produces r's key and value to the park topic with headers and
	// calls done once Kafka acknowledged (err nil) or gave up.
	Park(r *Record, headers []Header, done func(err error))
	// OnLost registers what to call when partitions are revoked (after
	// the feed committed what was marked) or lost: the dispatcher forgets
	// their unfinished records. Called before the first Poll.
	OnLost(func(lost map[string][]int32))
	// Close leaves the group and closes the client.
	Close()
}

// ErrFeedClosed is returned (wrapped) by Feed.Poll once the feed is closed.
var ErrFeedClosed = errors.New("alert feed closed")

// Dispatcher consumes the alerts topic (and the park topic) in its own
// consumer group and delivers every alert to each hook whose route matches.
//
// Each hook has its own goroutine and bounded queue, so a hook that fails
// or hangs delays only itself: its queue fills, further alerts for it are
// parked at once, and the other hooks go on. A record's offset is committed
// only after every routed hook delivered it or parked it (produced it to
// the park topic, acknowledged), so a crash at any point redelivers rather
// than loses: at least once, with (alert id, state) as idempotency key.
//
// Transitions of one alert reach a hook in order: while a hook has a parked
// delivery of an alert id outstanding, later transitions of that id are
// parked behind it, and parked records are keyed by id, so they come back
// in order too.
type Dispatcher struct {
	cfg     Config
	feed    Feed
	runners []*runner
	byName  map[string]*runner
	m       *metrics
	log     *slog.Logger
	sem     chan struct{}

	mu     sync.Mutex
	tracks map[tpKey]*track
}

type tpKey struct {
	topic string
	part  int32
}

// track holds a partition's unfinished records in offset order; the done
// prefix is marked for commit.
type track struct {
	jobs []*job
	dead bool // partition revoked: nothing to mark any more
}

type job struct {
	rec      *Record
	msg      Message
	pending  atomic.Int32
	held     atomic.Int32 // deliveries of it waiting in digest groups
	done     bool
	track    *track
	fromPark bool
}

type delivery struct {
	j         *job
	notBefore time.Time
	rcpt      Recipient
}

// Park record headers.
const (
	headerHook      = "salespulse-hook"
	headerNotBefore = "salespulse-not-before" // unix ms
	headerRecipient = "salespulse-recipient"  // role:id, absent for none
)

// NewDispatcher validates cfg and returns a Dispatcher consuming feed,
// which must read cfg.Topic and cfg.ParkTopic in group cfg.Group from
// their start (internal/kafkaio.NewAlertFeed). Run closes the feed.
func NewDispatcher(cfg Config, feed Feed, reg prometheus.Registerer, log *slog.Logger) (*Dispatcher, error) {
	cfg.Hooks = append([]HookConfig(nil), cfg.Hooks...)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		cfg: cfg, m: newMetrics(reg), log: log.With("component", "alert-dispatcher"),
		sem: make(chan struct{}, cfg.MaxInFlight), byName: map[string]*runner{}, tracks: map[tpKey]*track{},
	}
	for k := range cfg.Hooks {
		h := &cfg.Hooks[k]
		r := &runner{
			cfg: h, h: newHook(h, cfg.Ack.Enabled()), d: d, q: make(chan delivery, h.QueueSize), parked: map[string]int{}, wake: make(chan struct{}, 1),
			queue: d.m.queue.WithLabelValues(h.Name), breakerG: d.m.breaker.WithLabelValues(h.Name),
			latency: d.m.latency.WithLabelValues(h.Name), out: map[string]prometheus.Counter{},
		}
		if len(h.GroupBy) > 0 {
			r.g = newGrouper(h, d.m, r.finished)
		}
		for _, o := range []string{outcomeDelivered, outcomeRetry, outcomeParked, outcomeRejected, outcomeQueueFull, outcomeBreaker} {
			r.out[o] = d.m.deliveries.WithLabelValues(h.Name, o)
		}
		r.pages = map[string]prometheus.Counter{}
		for _, role := range []string{roleNone, RecipientRep, RecipientManager, RecipientTeam} {
			r.pages[role] = d.m.pages.WithLabelValues(h.Name, role)
		}
		r.breakerG.Set(0)
		d.runners = append(d.runners, r)
		d.byName[h.Name] = r
	}
	d.feed = feed
	feed.OnLost(d.onLost)
	return d, nil
}

// Run consumes and delivers until ctx is done, then stops taking records,
// gives deliveries in progress up to DrainTimeout, commits what finished
// and closes the client. It returns nil on a clean stop.
func (d *Dispatcher) Run(ctx context.Context) error {
	// Hook workers outlive ctx by the drain: cancelling them at once would
	// abandon deliveries that are nearly done (they would be redelivered,
	// which is safe but noisy).
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, r := range d.runners {
		wg.Add(1)
		go func() { defer wg.Done(); r.loop(work) }()
	}
	var err error
	for ctx.Err() == nil {
		recs, perr := d.feed.Poll(ctx)
		if errors.Is(perr, ErrFeedClosed) {
			err = fmt.Errorf("alert dispatcher: %w", perr)
			break
		}
		if perr != nil && !errors.Is(perr, context.Canceled) {
			d.log.Warn("fetch", "err", perr)
		}
		for _, r := range recs {
			d.dispatch(ctx, r)
		}
	}
	// Drain: wait until nothing is in flight but alerts held in digest
	// groups (they would wait for their flush, minutes or a quiet night:
	// the next run gets them again from Kafka), or the timeout.
	deadline := time.Now().Add(d.cfg.DrainTimeout)
	for d.busy() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stopWork()
	wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := d.feed.CommitMarked(cctx); cerr != nil {
		d.log.Warn("final commit", "err", cerr)
	}
	d.feed.Close()
	return err
}

// busy reports whether a consumed record has a delivery in progress:
// queued, being sent or being parked, rather than held in a group.
func (d *Dispatcher) busy() bool {
	if len(d.sem) == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tracks {
		for _, j := range t.jobs {
			if !j.done && j.pending.Load() != j.held.Load() {
				return true
			}
		}
	}
	return false
}

// InFlight is the number of consumed alerts not yet delivered or parked by
// every hook (for tests and health checks).
func (d *Dispatcher) InFlight() int { return len(d.sem) }

func (d *Dispatcher) dispatch(ctx context.Context, r *Record) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return // not tracked, not marked: read again next run
	}
	j := &job{rec: r}
	k := tpKey{r.Topic, r.Partition}
	d.mu.Lock()
	t := d.tracks[k]
	if t == nil {
		t = &track{}
		d.tracks[k] = t
	}
	t.jobs = append(t.jobs, j)
	j.track = t
	d.mu.Unlock()

	msg, err := Decode(r.Value)
	if err != nil {
		d.m.consumed.WithLabelValues("", "", "").Inc()
		d.log.Error("skip undecodable alert record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		d.finish(j)
		return
	}
	j.msg = msg
	type target struct {
		r    *runner
		rcpt Recipient
	}
	var targets []target
	var notBefore time.Time
	if r.Topic == d.cfg.ParkTopic {
		j.fromPark = true
		var x *runner
		var rc Recipient
		for _, h := range r.Headers {
			switch h.Key {
			case headerHook:
				x = d.byName[string(h.Value)]
			case headerRecipient:
				rc = parseRecipient(string(h.Value))
			case headerNotBefore:
				if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
					notBefore = time.UnixMilli(ms)
				}
			}
		}
		if x != nil {
			targets = append(targets, target{x, rc})
		}
	} else {
		d.m.consumed.WithLabelValues(msg.Rule, msg.State, msg.Severity).Inc()
		for _, x := range d.runners {
			for _, rc := range recipients(x.cfg, &msg) {
				targets = append(targets, target{x, rc})
			}
		}
	}
	if len(targets) == 0 {
		d.finish(j)
		return
	}
	j.pending.Store(int32(len(targets)))
	for _, t := range targets {
		t.r.enqueue(delivery{j: j, notBefore: notBefore, rcpt: t.rcpt})
	}
}

// doneOne records that one routed hook is done with j.
func (d *Dispatcher) doneOne(j *job) {
	if j.pending.Add(-1) == 0 {
		d.finish(j)
	}
}

// finish marks every finished record at the head of j's partition.
func (d *Dispatcher) finish(j *job) {
	d.mu.Lock()
	j.done = true
	t := j.track
	if !t.dead {
		n := 0
		for n < len(t.jobs) && t.jobs[n].done {
			n++
		}
		if n > 0 {
			d.feed.MarkCommit(t.jobs[n-1].rec)
			clear(t.jobs[:n])
			t.jobs = t.jobs[n:]
		}
	}
	d.mu.Unlock()
	<-d.sem
}

// onLost forgets the unfinished records of partitions this dispatcher no
// longer owns: their offsets can no longer be marked (the feed committed
// what was marked before a revoke).
func (d *Dispatcher) onLost(lost map[string][]int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ps := range lost {
		for _, p := range ps {
			if tr := d.tracks[tpKey{t, p}]; tr != nil {
				tr.dead = true
				delete(d.tracks, tpKey{t, p})
			}
		}
	}
}

// park hands a delivery to the park topic for a later try by this hook
// only; the hook is done with it once Kafka acknowledged.
func (d *Dispatcher) park(r *runner, dl delivery, outcome string) {
	r.mu.Lock()
	r.parked[dl.j.msg.ID]++
	r.mu.Unlock()
	nb := d.cfg.Now().Add(d.cfg.ParkDelay).UnixMilli()
	hs := []Header{{Key: headerHook, Value: []byte(r.cfg.Name)}, {Key: headerNotBefore, Value: []byte(strconv.FormatInt(nb, 10))}}
	if dl.rcpt.Role != "" {
		hs = append(hs, Header{Key: headerRecipient, Value: []byte(dl.rcpt.String())})
	}
	d.feed.Park(&Record{Key: []byte(dl.j.msg.ID), Value: dl.j.rec.Value}, hs, func(err error) {
		if err != nil {
			// Not done: the record is neither delivered nor parked, so
			// its offset is never committed and the next run retries.
			d.log.Error("park alert", "hook", r.cfg.Name, "alert", dl.j.msg.ID, "err", err)
			return
		}
		r.out[outcome].Inc()
		r.finished(dl)
	})
}

// runner is one hook's worker: queue, rate limit, breaker, and the
// aggregation groups of a digest hook.
type runner struct {
	cfg *HookConfig
	h   hook
	d   *Dispatcher
	q   chan delivery
	g   *grouper // nil: one notification per alert; only the loop touches it

	mu     sync.Mutex
	parked map[string]int // alert id -> parked deliveries outstanding
	retry  []delivery     // consumed from the park topic, waiting until due
	wake   chan struct{}

	next      time.Time // rate limit: earliest next attempt
	fails     int
	openUntil time.Time
	state     int // 0 closed, 1 half-open, 2 open

	queue, breakerG prometheus.Gauge
	latency         prometheus.Observer
	out             map[string]prometheus.Counter
	pages           map[string]prometheus.Counter // by recipient role; roleNone for RecipientNone
}

func (r *runner) enqueue(dl delivery) {
	if dl.j.fromPark {
		// Parked deliveries wait in memory until due (bounded by
		// MaxInFlight overall): re-parking them when the queue is full
		// would cycle them through Kafka as fast as it can.
		r.mu.Lock()
		r.retry = append(r.retry, dl)
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
		return
	}
	if r.g == nil {
		// A digest hook needs no such ordering: its group keeps the
		// highest version of each alert.
		r.mu.Lock()
		behind := r.parked[dl.j.msg.ID] > 0
		r.mu.Unlock()
		if behind {
			r.d.park(r, dl, outcomeParked)
			return
		}
	}
	select {
	case r.q <- dl:
		r.queue.Inc()
	default:
		r.d.park(r, dl, outcomeQueueFull)
	}
}

// finished ends a delivery (delivered or parked).
func (r *runner) finished(dl delivery) {
	if dl.j.fromPark {
		r.mu.Lock()
		if r.parked[dl.j.msg.ID]--; r.parked[dl.j.msg.ID] <= 0 {
			delete(r.parked, dl.j.msg.ID)
		}
		r.mu.Unlock()
	}
	r.d.doneOne(dl.j)
}

func (r *runner) loop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	take := func(dl delivery) {
		if r.g != nil {
			r.g.insert(dl, r.d.cfg.Now())
			return
		}
		r.deliverOne(ctx, dl)
	}
	for {
		dl, ok, wait := r.nextRetry()
		if ok {
			take(dl)
			continue
		}
		if r.g != nil {
			if f, gw := r.g.due(r.d.cfg.Now()); f != nil {
				if r.deliver(ctx, f.dls, nil, f.d, time.Time{}) {
					r.g.delivered(f, r.d.cfg.Now())
				}
				continue
			} else {
				wait = min(wait, gw)
			}
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case dl := <-r.q:
			r.queue.Dec()
			take(dl)
		case <-r.wake:
		case <-t.C:
		}
	}
}

// nextRetry pops the first due parked delivery, else says how long until
// the earliest one is due.
func (r *runner) nextRetry() (delivery, bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.d.cfg.Now()
	wait := time.Hour
	for k, dl := range r.retry {
		if d := dl.notBefore.Sub(now); d <= 0 {
			r.retry = append(r.retry[:k], r.retry[k+1:]...)
			return dl, true, 0
		} else if d < wait {
			wait = d
		}
	}
	return delivery{}, false, wait
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliverOne sends one alert to its recipient.
func (r *runner) deliverOne(ctx context.Context, dl delivery) {
	m := dl.j.msg
	if dl.rcpt.Role != "" {
		rc := dl.rcpt
		m.Recipient = &rc
	}
	r.deliver(ctx, []delivery{dl}, &m, nil, dl.notBefore)
}

// deliver sends one notification — the alert m, or the digest d — which
// finishes dls when delivered or parked (each delivery is parked on its
// own and comes back to this hook: a digest hook puts it into its group
// again). It reports whether the hook took it; on a stop it returns false
// with dls unfinished, so they are redelivered next run.
func (r *runner) deliver(ctx context.Context, dls []delivery, m *Message, d *Digest, notBefore time.Time) bool {
	now := r.d.cfg.Now
	if !sleepCtx(ctx, notBefore.Sub(now())) {
		return false // stopping: unfinished, redelivered next run
	}
	park := func(outcome string) {
		for _, dl := range dls {
			r.d.park(r, dl, outcome)
		}
	}
	what := func() string {
		if d != nil {
			return "digest " + d.GroupKey
		}
		return m.ID
	}
	for attempt := 1; ; attempt++ {
		switch {
		case r.state == 2 && now().Before(r.openUntil):
			park(outcomeBreaker)
			return false
		case r.state == 2:
			r.setState(1) // one trial
		}
		wait := r.next.Sub(now())
		if !sleepCtx(ctx, wait) {
			return false
		}
		r.next = now().Add(time.Duration(float64(time.Second) / r.cfg.RatePerSecond))
		actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		err := send(actx, r.d.cfg.HTTPClient, r.h, m, d, now())
		cancel()
		if err == nil {
			r.fails = 0
			r.setState(0)
			for _, dl := range dls {
				if ts := dl.j.rec.Timestamp; !ts.IsZero() {
					r.latency.Observe(now().Sub(ts).Seconds())
				}
			}
			r.out[outcomeDelivered].Inc()
			if c := r.pages[pageRole(m, d)]; c != nil { // roles are validated; no panic if not
				c.Inc()
			}
			for _, dl := range dls {
				r.finished(dl)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.fails++
		if r.state == 1 || r.fails >= r.cfg.BreakerFailures {
			r.openUntil = now().Add(r.cfg.BreakerCooldown)
			r.setState(2)
		}
		r.d.log.Warn("deliver alert", "hook", r.cfg.Name, "alert", what(), "attempt", attempt, "err", err)
		if !retryable(err) {
			park(outcomeRejected)
			return false
		}
		if attempt >= r.cfg.MaxAttempts {
			park(outcomeParked)
			return false
		}
		r.out[outcomeRetry].Inc()
		if !sleepCtx(ctx, backoff(r.cfg.BackoffMin, r.cfg.BackoffMax, attempt)) {
			return false
		}
	}
}

// pageRole is the recipient role of a notification, the pages' label.
func pageRole(m *Message, d *Digest) string {
	var rc *Recipient
	if d != nil {
		rc = d.Recipient
	} else {
		rc = m.Recipient
	}
	if rc == nil || rc.Role == RecipientNone {
		return roleNone
	}
	return rc.Role
}

// SetRecipients sets how many people of a recipient role (RecipientRep,
// RecipientManager, RecipientTeam) the org has:
// salespulse_alert_recipients, which the dashboards divide
// salespulse_alert_pages_total by for pages per recipient.
func (d *Dispatcher) SetRecipients(role string, n int) {
	d.m.recipients.WithLabelValues(role).Set(float64(n))
}

func (r *runner) setState(s int) {
	r.state = s
	r.breakerG.Set(float64(s))
}

// backoff is the jittered exponential wait after attempt n (1-based):
// uniformly in [d/2, d] with d = min(max, min·2^(n−1)), so retries of many
// alerts spread out instead of hammering a recovering receiver together.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo << min(n-1, 30)
	if d > hi || d <= 0 {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}
