package kafkaio_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/leads"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
)

// Settings of the virtual runs: the app's tick period for this
// tick_after (internal/app newTicker: tick_after/4).
const (
	tickAfter = 5 * time.Second
	tickEvery = tickAfter / 4
	tickLag   = time.Second
	slaOOO    = time.Second // anomaly.out_of_orderness
	parts     = 3
)

// fakeLog is the Kafka a Ticker sees, in memory, and behind it the leads
// flow: every record it is given is consumed at once, one batch per
// partition, by the window and anomaly stages as the app wires them
// (the window's progress from upstream marks, the detectors following
// it). Under synctest everything it does happens at one virtual instant.
type fakeLog struct {
	t *testing.T

	mu      sync.Mutex
	ends    int64 // sum of the source topics' end offsets
	lagging bool  // a watched group has lag
	ticks   []tickCall
	offs    [parts]int64
	alerts  []firing

	win *window.Stage
	det *anomaly.Stage
}

type tickCall struct {
	at         time.Time // virtual wall time of the write
	to         time.Time // the progress it carries
	partitions []int32
}

type firing struct {
	at    time.Time // virtual wall time the detector emitted it
	alert schemas.Alert
}

func newFakeLog(t *testing.T) *fakeLog {
	t.Helper()
	org := schemas.NewIndex(&schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "m1", TeamID: "t1", Role: "manager"}}})
	var wc window.Config
	w, err := window.New(wc, window.Deps{Org: org, UpstreamMarks: true, IdleTimeout: time.Minute,
		Upstreams: []string{"src/0"}}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := anomaly.New(anomaly.Config{OutOfOrder: slaOOO}, nil, org, anomaly.Deps{Progress: true}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeLog{t: t, win: w.NewStage(), det: d.NewStage()}
}

func (f *fakeLog) EndsSum(context.Context, ...string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ends, nil
}

func (f *fakeLog) CaughtUp(context.Context, ...string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.lagging, nil
}

func (f *fakeLog) Produce(ctx context.Context, recs ...*kgo.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := tickCall{at: time.Now()}
	for _, r := range recs {
		var m schemas.Interaction
		if err := schemas.DecodeWire(&m, r.Value); err != nil {
			f.t.Errorf("tick record: %v", err)
			return err
		}
		call.to = m.OccurredAt
		call.partitions = append(call.partitions, r.Partition)
		if err := f.consume(ctx, r.Partition, m); err != nil {
			return err
		}
	}
	f.ticks = append(f.ticks, call)
	return nil
}

// consume runs records of partition p through the leads flow's stages,
// as one batch. It runs on the Ticker's goroutine: errors are reported
// with Errorf (Fatal must not be called there).
func (f *fakeLog) consume(ctx context.Context, p int32, xs ...schemas.Interaction) error {
	off := f.offs[p]
	f.offs[p] += int64(len(xs))
	b := schemas.NewBatch(schemas.Origin{Topic: "q.leads", Partition: p, FirstOffset: off, LastOffset: off + int64(len(xs)) - 1}, nil)
	b.Interactions = append(b.Interactions, xs...)
	for _, st := range []interface {
		Process(context.Context, *schemas.Batch) error
	}{f.win, f.det} {
		if err := st.Process(ctx, b); err != nil {
			f.t.Errorf("leads flow: %v", err)
			return err
		}
	}
	for _, a := range b.Alerts {
		f.alerts = append(f.alerts, firing{time.Now(), a})
	}
	return nil
}

// routed is what the router forwards to partition p for an event of
// source partition src/0 that has now consumed all its input: the event
// and the upstream's progress mark after it.
func (f *fakeLog) routed(ctx context.Context, p int32, ev schemas.Interaction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ends++
	mark := schemas.Interaction{EventID: "src/0", OccurredAt: ev.OccurredAt, Source: "salespulse", Watermark: true,
		Stage: schemas.WatermarkAtEnd, SentAt: time.Now()}
	if err := f.consume(ctx, p, ev, mark); err != nil {
		f.t.FailNow()
	}
}

func (f *fakeLog) set(lagging bool, newRecords int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lagging = lagging
	f.ends += newRecords
}

func (f *fakeLog) snapshot() ([]tickCall, []firing) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tickCall(nil), f.ticks...), append([]firing(nil), f.alerts...)
}

func startTicker(t *testing.T, f *fakeLog) context.CancelFunc {
	t.Helper()
	tk := kafkaio.NewTickerOn(kafkaio.TickerConfig{Groups: []string{"q"}, Sources: []string{"q.canonical"},
		Topics: []string{"q.leads"}, Partitions: parts, After: tickAfter, Every: tickEvery,
		Value: func(now time.Time) []byte { return leads.TickValue(now.Add(-tickLag), now) },
	}, f, prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tk.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// A lead on an otherwise idle stream pages at its deadline plus tick_lag
// plus the detector's out_of_orderness, within one tick period, in
// virtual time: nothing but the ticks moves the leads partition's clock
// once the lead's upstream has gone quiet. The alert is stamped with the
// deadline.
func TestTickerFiresIdleDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeLog(t)
		stop := startTicker(t, f)
		defer stop()

		// The lead's SLA (30 min on CRM by default) runs out 20 s from now.
		start := time.Now()
		deadline := start.Add(20 * time.Second)
		lead := schemas.Interaction{EventID: "idle-lead", Type: schemas.TypeLeadCreated, OccurredAt: deadline.Add(-30 * time.Minute),
			Source: "test", RepID: "r1", TeamID: "t1", LeadID: "L1", Channel: schemas.ChannelCRM}
		f.routed(t.Context(), 1, lead)

		time.Sleep(time.Minute)
		synctest.Wait()
		ticks, alerts := f.snapshot()
		if len(ticks) == 0 {
			t.Fatal("no tick in a minute of quiet")
		}
		if first := ticks[0].at.Sub(start); first < tickAfter || first > tickAfter+tickEvery {
			t.Errorf("first tick %s after the last record, want within [tick_after, tick_after + %s]", first, tickEvery)
		}
		for _, c := range ticks {
			if len(c.partitions) != parts {
				t.Fatalf("a tick wrote partitions %v, want every one of %d", c.partitions, parts)
			}
			if got := c.at.Sub(c.to); got != tickLag {
				t.Fatalf("a tick at %s carries %s: %s behind, want tick_lag %s", c.at, c.to, got, tickLag)
			}
		}
		var sla []firing
		for _, a := range alerts {
			if a.alert.Rule == "lead_response_sla" {
				sla = append(sla, a)
			}
		}
		if len(sla) != 1 {
			t.Fatalf("%d SLA alerts, want 1: %+v", len(sla), alerts)
		}
		late := sla[0].at.Sub(deadline)
		t.Logf("fired %s after the deadline (tick_lag %s, out_of_orderness %s, tick period %s)", late, tickLag, slaOOO, tickEvery)
		if lo := tickLag + slaOOO; late < lo || late > lo+tickEvery {
			t.Errorf("fired %s after the deadline, want within [%s, %s]", late, lo, lo+tickEvery)
		}
		if !sla[0].alert.At.Equal(deadline) {
			t.Errorf("alert at %s, want the deadline %s", sla[0].alert.At, deadline)
		}
		if sla[0].alert.State != schemas.AlertFiring {
			t.Errorf("alert state %s, want firing", sla[0].alert.State)
		}
	})
}

// No tick while a watched group lags or new source records arrive: the
// pipeline's own marks are still to come, and a tick would make their
// events late. The quiet period restarts from the last change.
func TestTickerWaitsForQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeLog(t)
		f.set(true, 0)
		stop := startTicker(t, f)
		defer stop()

		time.Sleep(time.Minute)
		synctest.Wait()
		if ticks, _ := f.snapshot(); len(ticks) != 0 {
			t.Fatalf("%d ticks while a group lagged", len(ticks))
		}
		caughtUp := time.Now()
		f.set(false, 0)
		// A record arrives every 3 s (under tick_after) for 30 s.
		for range 10 {
			time.Sleep(3 * time.Second)
			f.set(false, 1)
		}
		lastRecord := time.Now()
		synctest.Wait()
		if ticks, _ := f.snapshot(); len(ticks) != 0 {
			t.Fatalf("%d ticks while records kept arriving (caught up %s ago)", len(ticks), time.Since(caughtUp))
		}
		time.Sleep(tickAfter + 2*tickEvery)
		synctest.Wait()
		ticks, _ := f.snapshot()
		if len(ticks) == 0 {
			t.Fatalf("no tick %s after the last record", time.Since(lastRecord))
		}
		if first := ticks[0].at.Sub(lastRecord); first < tickAfter || first > tickAfter+2*tickEvery {
			t.Errorf("first tick %s after the last record, want tick_after (%s) within two periods", first, tickAfter)
		}
		// A group lags again (a new batch being consumed): ticks stop.
		f.set(true, 0)
		time.Sleep(tickEvery) // a check in flight may still tick once
		synctest.Wait()
		n := len(f.ticksNow())
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := len(f.ticksNow()); got != n {
			t.Errorf("%d ticks while the group lagged again", got-n)
		}
	})
}

func (f *fakeLog) ticksNow() []tickCall { ts, _ := f.snapshot(); return ts }

// nudgeLog is a TickerLog that only records what is written, by topic.
type nudgeLog struct {
	mu     sync.Mutex
	ends   int64
	writes []nudgeWrite
}

type nudgeWrite struct {
	at, to     time.Time // virtual wall time of the write; the time it carries
	topic      string
	partitions int
}

func (l *nudgeLog) EndsSum(context.Context, ...string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ends, nil
}

func (l *nudgeLog) CaughtUp(context.Context, ...string) (bool, error) { return true, nil }

func (l *nudgeLog) Produce(_ context.Context, recs ...*kgo.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	byTopic := map[string]*nudgeWrite{}
	for _, r := range recs {
		var m schemas.Interaction
		if err := schemas.DecodeWire(&m, r.Value); err != nil {
			return err
		}
		w := byTopic[r.Topic]
		if w == nil {
			w = &nudgeWrite{at: time.Now(), to: m.OccurredAt, topic: r.Topic}
			byTopic[r.Topic] = w
		}
		w.partitions++
	}
	for _, w := range byTopic {
		l.writes = append(l.writes, *w)
	}
	return nil
}

func (l *nudgeLog) record() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ends++
}

// of returns the writes into topic so far.
func (l *nudgeLog) of(topic string) []nudgeWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []nudgeWrite
	for _, w := range l.writes {
		if w.topic == topic {
			out = append(out, w)
		}
	}
	return out
}

// runNudgeTicker runs a Ticker on l that ticks after `after` (negative:
// never) and nudges after resolveIdle, checking every `every`, until the
// function it returns is called.
func runNudgeTicker(l *nudgeLog, after, every, resolveIdle time.Duration) (stop func()) {
	tk := kafkaio.NewTickerOn(kafkaio.TickerConfig{Groups: []string{"q"}, Sources: []string{"q.canonical"},
		Topics: []string{"q.contacts", "q.leads"}, Partitions: parts, After: after, Every: every,
		Value:      func(now time.Time) []byte { return leads.TickValue(now.Add(-tickLag), now) },
		NudgeAfter: resolveIdle, NudgeTopics: []string{"q.contacts"},
		NudgeValue: func(now time.Time) []byte { return leads.NudgeValue(now.Add(-resolveIdle), now) },
	}, l, prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tk.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// Once the stream went quiet for NudgeAfter, one nudge goes into every
// partition of the contacts topic, carrying wall time minus resolve_idle,
// and no second until new records arrived and the stream went quiet
// again; the ticks still wait for tick_after.
func TestTickerNudgesOncePerQuietPeriod(t *testing.T) {
	const resolveIdle = 2 * time.Second
	synctest.Test(t, func(t *testing.T) {
		l := &nudgeLog{}
		defer runNudgeTicker(l, tickAfter, tickEvery, resolveIdle)()

		// Records every second for 5 s: no nudge.
		for range 5 {
			l.record()
			time.Sleep(time.Second)
		}
		synctest.Wait()
		if n := len(l.writes); n != 0 {
			t.Fatalf("%d writes while records arrived", n)
		}
		stopped := time.Now()
		time.Sleep(tickAfter - tickEvery) // quiet, before the first tick
		synctest.Wait()
		nudges := l.of("q.contacts")
		if len(nudges) != 1 {
			t.Fatalf("%d nudges in %s of quiet, want 1", len(nudges), time.Since(stopped))
		}
		if w := nudges[0]; w.partitions != parts || w.at.Sub(stopped) < resolveIdle || w.at.Sub(stopped) > resolveIdle+2*tickEvery ||
			w.at.Sub(w.to) != resolveIdle {
			t.Errorf("nudge %s after the stop into %d partitions carrying %s before its write; want within two periods of %s, %d partitions, %s",
				w.at.Sub(stopped), w.partitions, w.at.Sub(w.to), resolveIdle, parts, resolveIdle)
		}
		if n := len(l.of("q.leads")); n != 0 {
			t.Fatalf("%d writes into the leads topic before tick_after", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(l.of("q.leads")); n == 0 {
			t.Fatal("no tick a minute into the quiet")
		}
		if n := len(l.of("q.contacts")) - len(l.of("q.leads")); n != 1 {
			t.Fatalf("%d nudges beside the ticks, want the one", n)
		}
		// New records, then quiet again: one more nudge.
		before := len(l.of("q.contacts"))
		l.record()
		time.Sleep(resolveIdle + 2*tickEvery)
		synctest.Wait()
		if n := len(l.of("q.contacts")) - before; n != 1 {
			t.Fatalf("%d writes into contacts after a new record and %s of quiet, want 1 nudge", n, resolveIdle+2*tickEvery)
		}
	})
}

// With ticks off (After negative) the Ticker still nudges once per quiet
// period, and never ticks: a backfill's last touches are resolved, its
// event time is left alone.
func TestTickerNudgesWithTicksOff(t *testing.T) {
	const resolveIdle = 2 * time.Second
	synctest.Test(t, func(t *testing.T) {
		l := &nudgeLog{}
		defer runNudgeTicker(l, -time.Second, resolveIdle/4, resolveIdle)()

		l.record()
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := len(l.of("q.contacts")); n != 1 {
			t.Fatalf("%d nudges in an hour of quiet with ticks off, want 1", n)
		}
		if n := len(l.of("q.leads")); n != 0 {
			t.Fatalf("%d ticks with ticks off", n)
		}
		l.record()
		time.Sleep(resolveIdle + resolveIdle/2)
		synctest.Wait()
		if n := len(l.of("q.contacts")); n != 2 {
			t.Fatalf("%d nudges after a new record and a second quiet period, want 2", n)
		}
	})
}
