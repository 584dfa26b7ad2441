// Package kbi tests the event-time KBIs end to end: kfake → sources/kafka →
// pipeline with the window stage → sinks/clickhouse → embedded chDB, against
// a brute-force computation over the same events.
package kbi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/window"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/kafka"
)

const topic = "sales.canonical"

var (
	sharedMu   sync.Mutex
	sharedDir  string
	sharedEng  *chdb.Engine
	sharedAddr string
)

// chDB allows one engine per process: every test shares it, each with its
// own database.
func TestMain(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if sharedEng != nil {
		sharedEng.Close()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	sharedMu.Unlock()
	os.Exit(code)
}

func chAddr(t *testing.T) string {
	t.Helper()
	p := chdb.ResolveLibPath("")
	if _, err := os.Stat(p); err != nil {
		switch strings.ToLower(os.Getenv("SALESPULSE_EMBEDDED_TESTS")) {
		case "1", "true":
			t.Fatalf("SALESPULSE_EMBEDDED_TESTS is set but libchdb.so is missing at %s: run scripts/fetch-chdb.sh", p)
		default:
			t.Skipf("libchdb.so not found at %s: run scripts/fetch-chdb.sh (SALESPULSE_EMBEDDED_TESTS=1 makes this fatal)", p)
		}
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedEng != nil {
		return sharedAddr
	}
	d, err := os.MkdirTemp("", "kbi-test-")
	if err != nil {
		t.Fatal(err)
	}
	sharedDir = d
	e, err := chdb.Open(chdb.Config{DataDir: d, Conns: 3})
	if err != nil {
		t.Fatalf("open chdb: %v", err)
	}
	sharedEng = e
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sharedAddr = ln.Addr().String()
	go chdb.NewServer(e, nil).Serve(context.Background(), ln)
	return sharedAddr
}

type env struct {
	t       *testing.T
	cluster *kfake.Cluster
	addr    string
	db      string
	org     *schemas.Org
	index   *schemas.Index
	adm     *kadm.Client
	admCl   *kgo.Client
	ends    map[int32]int64
}

func newEnv(t *testing.T) *env {
	addr := chAddr(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic), kfake.SeedTopics(1, "sales.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	org := testOrg()
	return &env{t: t, cluster: c, addr: addr, db: fmt.Sprintf("kbi_%s_%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")), time.Now().UnixNano()%1e6),
		org: org, index: schemas.NewIndex(org), adm: kadm.NewClient(cl), admCl: cl, ends: map[int32]int64{}}
}

// store is one instance's Kafka state store, as `salespulse run` builds
// it: every instance of a test shares the env's state topic, claims the
// partitions it is assigned (fencing the previous owner) and reads its
// group's committed offsets, refreshed every 100ms.
func (e *env) store(ctx context.Context, group string) (*kafkaio.StateStore, error) {
	st, err := kafkaio.NewStateStore(kafkaio.StateConfig{Topic: "kbi.state", CommitPollInterval: 100 * time.Millisecond},
		group, []kgo.Opt{kgo.SeedBrokers(e.cluster.ListenAddrs()...)}, prometheus.NewRegistry(), testLogger(e.t))
	if err != nil {
		return nil, err
	}
	if err := st.Ensure(ctx, partitions); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func (e *env) produce(parts [][]delivery) {
	var recs []*kgo.Record
	for p, ds := range parts {
		for _, d := range ds {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: schemas.AppendJSON(nil, &d.ev)})
		}
		e.ends[int32(p)] = int64(len(ds))
	}
	if err := e.admCl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// done reports whether the group committed every produced record.
func (e *env) done(group string) bool {
	resp, err := e.adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return false
	}
	for p, end := range e.ends {
		o, ok := resp.Lookup(topic, p)
		if !ok || o.At < end {
			return false
		}
	}
	return true
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var errCrash = errors.New("simulated crash")

// crashSink fails every write from the crash point on; at the crash point
// it sometimes stores the batch first (crash between store and ack).
type crashSink struct {
	inner   *clickhouse.Sink
	after   int64 // writes allowed; < 0: never crash
	n       atomic.Int64
	crashed atomic.Bool
	rng     *rand.Rand
	mu      sync.Mutex
}

func (s *crashSink) Write(ctx context.Context, b *schemas.Batch) error {
	if s.crashed.Load() {
		return errCrash
	}
	n := s.n.Add(1)
	if s.after >= 0 && n > s.after {
		s.crashed.Store(true)
		s.mu.Lock()
		storeFirst := s.rng.IntN(2) == 0
		s.mu.Unlock()
		if storeFirst {
			s.inner.Write(ctx, b)
		}
		return errCrash
	}
	return s.inner.Write(ctx, b)
}

// instance is one consumer process: source, window stage, sink, pipeline.
// It runs until the group committed everything, ctx ends, or it crashes.
func (e *env) instance(ctx context.Context, group string, crashAfter int64, seed uint64) error {
	return e.runUntil(ctx, group, crashAfter, seed, func() bool { return e.done(group) })
}

// runUntil is instance, stopping when until says so (polled every 100ms).
func (e *env) runUntil(ctx context.Context, group string, crashAfter int64, seed uint64, until func() bool) error {
	t := e.t
	src, err := kafka.NewSource(kafka.Config{
		Brokers: e.cluster.ListenAddrs(), Group: group, Topics: map[string]string{topic: "canonical"},
		BatchMaxRows: 20, BatchLinger: 20 * time.Millisecond, CommitInterval: 200 * time.Millisecond,
		RevokeTimeout: 2 * time.Second, SessionTimeout: 6 * time.Second, MaxInFlightBatches: 4,
	}, map[string]kafka.Decoder{topic: canonical.NewDecoder(prometheus.NewRegistry())}, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sink, err := clickhouse.NewSink(sctx, clickhouse.Config{Addresses: []string{e.addr}, Protocol: "http", Database: e.db,
		RetryBackoffMin: 5 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond}, nil, testLogger(t))
	if err != nil {
		src.Close(ctx)
		return err
	}
	defer sink.Close()
	st, err := e.store(ctx, group)
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := window.New(window.Config{
		OutOfOrderness: bound, AllowedLateness: lateness, LeadExpiry: leadExp, ApprovalExpiry: apprExp,
	}, window.Deps{Org: e.index, State: st}, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		return err
	}
	cs := &crashSink{inner: sink, after: crashAfter, rng: rand.New(rand.NewPCG(seed, 1))}
	p, err := pipeline.New(pipeline.Config{Workers: 2, DrainTimeout: time.Second}, src,
		func(int) []pipeline.Stage { return []pipeline.Stage{w.NewStage()} }, cs, nil, testLogger(t))
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(rctx) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var res error
loop:
	for {
		select {
		case err := <-runErr:
			res = err
			runErr = nil
			break loop
		case <-tick.C:
			if cs.crashed.Load() {
				break loop
			}
			if until() {
				break loop
			}
		case <-ctx.Done():
			break loop
		}
	}
	stop()
	if runErr != nil {
		if err := <-runErr; res == nil {
			res = err
		}
	}
	// A crash does not commit: close the client without Source.Close's
	// final commit (leaving the group only commits what was acknowledged
	// before the crash, which is what a periodic commit could have done).
	src.Client().Close()
	t.Logf("instance wrote %d batches", cs.n.Load())
	if cs.crashed.Load() {
		return errCrash
	}
	if errors.Is(res, errCrash) {
		return errCrash
	}
	return nil
}

func (e *env) conn() driver.Conn {
	c, err := ch.Open(&ch.Options{Addr: []string{e.addr}, Protocol: ch.HTTP})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// query reads every KBI view into the brute-force format, and the t-digest
// quantiles' largest relative deviation from the exact ones.
func (e *env) query() (kbis, float64) {
	c := e.conn()
	ctx := context.Background()
	out := kbis{}
	tdErr := 0.0
	rows := func(name, q string, scan func(r driver.Rows) string) {
		rs, err := c.Query(ctx, q)
		if err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		defer rs.Close()
		for rs.Next() {
			out[name] = append(out[name], scan(rs))
		}
		if err := rs.Err(); err != nil {
			e.t.Fatal(err)
		}
		slices.Sort(out[name])
	}
	must := func(err error) {
		if err != nil {
			e.t.Helper()
			e.t.Fatal(err)
		}
	}
	rows("response", "SELECT toString(day), team_id, owner_rep_id, responder_rep_id, channel, leads, answered, unanswered, response_avg_s, response_max_s, response_q_exact_s, response_q_tdigest_s FROM "+e.db+".kbi_response_time_daily WHERE provisional = 0", func(r driver.Rows) string {
		var day, team, owner, responder, chn string
		var leads, ans, unans uint64
		var avg *float64
		var mx float64
		var q, td []float64
		must(r.Scan(&day, &team, &owner, &responder, &chn, &leads, &ans, &unans, &avg, &mx, &q, &td))
		if ans > 0 {
			for k := range q {
				if d := math.Abs(td[k]-q[k]) / math.Max(q[k], 1); d > tdErr {
					tdErr = d
				}
			}
		}
		return fmt.Sprintf("%s|%s|%s|%s|%s | %d %d %d %s %s %s", day, team, owner, responder, chn, leads, ans, unans, fptr(avg), fnum(mx), fqs(q))
	})
	rows("approvals", "SELECT toString(day), team_id, rep_id, approver_id, requests, decided, approved, rejected, expired, decided_within_24h, latency_avg_s, latency_max_s, latency_q_exact_s FROM "+e.db+".kbi_approvals_daily WHERE provisional = 0", func(r driver.Rows) string {
		var day, team, rep, appr string
		var req, dec, ok, rej, exp, within uint64
		var avg *float64
		var mx float64
		var q []float64
		must(r.Scan(&day, &team, &rep, &appr, &req, &dec, &ok, &rej, &exp, &within, &avg, &mx, &q))
		return fmt.Sprintf("%s|%s|%s|%s | %d %d %d %d %d %d %s %s %s", day, team, rep, appr, req, dec, ok, rej, exp, within, fptr(avg), fnum(mx), fqs(q))
	})
	rows("activity", "SELECT toString(day), team_id, rep_id, interactions, inbound, outbound, emails, calls, meetings, social, chats, call_minutes, accounts_touched FROM "+e.db+".kbi_activity_daily", func(r driver.Rows) string {
		var day, team, rep string
		var n, in, outb, em, calls, meet, soc, chat, accts uint64
		var mins float64
		must(r.Scan(&day, &team, &rep, &n, &in, &outb, &em, &calls, &meet, &soc, &chat, &mins, &accts))
		return fmt.Sprintf("%s|%s|%s | %d %d %d %d %d %d %d %d %s %d", day, team, rep, n, in, outb, em, calls, meet, soc, chat, fnum(mins), accts)
	})
	rows("discounts", "SELECT toString(day), team_id, rep_id, currency, quotes, quotes_with_discount, discount_avg_pct, discount_q_exact_pct, quoted_amount FROM "+e.db+".kbi_discounts_daily", func(r driver.Rows) string {
		var day, team, rep, cur string
		var n, nd uint64
		var avg *float64
		var q []float64
		var amt float64
		must(r.Scan(&day, &team, &rep, &cur, &n, &nd, &avg, &q, &amt))
		if nd == 0 {
			q = nil
		}
		return fmt.Sprintf("%s|%s|%s|%s | %d %d %s %s %s", day, team, rep, cur, n, nd, fptr(avg), fqs(q), fnum(amt))
	})
	rows("deals", "SELECT toString(day), team_id, rep_id, currency, won, lost, won_amount, lost_amount FROM "+e.db+".kbi_deals_daily", func(r driver.Rows) string {
		var day, team, rep, cur string
		var won, lost uint64
		var wa, la float64
		must(r.Scan(&day, &team, &rep, &cur, &won, &lost, &wa, &la))
		return fmt.Sprintf("%s|%s|%s|%s | %d %d %s %s", day, team, rep, cur, won, lost, fnum(wa), fnum(la))
	})
	rows("provisional", "SELECT lead_id, trigger_event_id, response_event_id, response_s FROM "+e.db+".lead_response_provisional FINAL", func(r driver.Rows) string {
		var lead, trig, resp string
		var secs *float64
		must(r.Scan(&lead, &trig, &resp, &secs))
		return fmt.Sprintf("L|%s|%s | %s %s", lead, trig, resp, fptr(secs))
	})
	rows("provisional", "SELECT approval_id, request_event_id, decision_event_id, latency_s, outcome FROM "+e.db+".approval_provisional FINAL", func(r driver.Rows) string {
		var appr, req, dec, outcome string
		var secs *float64
		must(r.Scan(&appr, &req, &dec, &secs, &outcome))
		return fmt.Sprintf("A|%s|%s | %s %s %s", appr, req, dec, fptr(secs), outcome)
	})
	return out, tdErr
}

func fptr(f *float64) string {
	if f == nil {
		return "null"
	}
	return fnum(*f)
}

func fqs(q []float64) string {
	if len(q) == 0 {
		return "[0.000,0.000,0.000]"
	}
	var s []string
	for _, x := range q {
		s = append(s, fnum(x))
	}
	return "[" + strings.Join(s, ",") + "]"
}

// compare compares the final KBI views (provisional = 0) and the pairs
// in the provisional tables that are not final yet.
func compare(t *testing.T, got, want kbis) {
	t.Helper()
	compareViews(t, got, want, "response", "approvals", "activity", "discounts", "deals")
	compareProvisional(t, got, want)
}

// compareProvisional: the provisional tables read with FINAL hold exactly
// the pairs the brute force finds among the events not final yet.
func compareProvisional(t *testing.T, got, want kbis) {
	t.Helper()
	if !slices.Equal(got["provisional"], want["provisional"]) {
		t.Errorf("provisional pairs:\n got  %d %q\n want %d %q", len(got["provisional"]), got["provisional"],
			len(want["provisional"]), want["provisional"])
		return
	}
	t.Logf("provisional: %d pairs equal", len(want["provisional"]))
}

func compareViews(t *testing.T, got, want kbis, views ...string) {
	t.Helper()
	for _, view := range views {
		g, w := got[view], want[view]
		if len(w) == 0 {
			t.Errorf("%s: brute force produced no rows: the generator is broken", view)
		}
		gs, ws := map[string]string{}, map[string]string{}
		for _, x := range g {
			k, v, _ := strings.Cut(x, " | ")
			gs[k] = v
		}
		for _, x := range w {
			k, v, _ := strings.Cut(x, " | ")
			ws[k] = v
		}
		bad := 0
		for k, v := range ws {
			if gv, ok := gs[k]; !ok || !sameValues(gv, v) {
				if bad < 10 {
					t.Errorf("%s %s:\n got  %s\n want %s", view, k, gv, v)
				}
				bad++
			}
		}
		for k, v := range gs {
			if _, ok := ws[k]; !ok {
				if bad < 10 {
					t.Errorf("%s %s: unexpected row %s", view, k, v)
				}
				bad++
			}
		}
		if bad == 0 {
			t.Logf("%s: %d rows equal", view, len(w))
		} else {
			t.Errorf("%s: %d rows differ (%d in ClickHouse, %d by brute force)", view, bad, len(g), len(w))
		}
	}
}

// sameValues compares rendered values: integers (counts) exactly, numbers
// with decimals to the millisecond, since sums of float64 seconds depend
// on the order ClickHouse adds them in.
func sameValues(a, b string) bool {
	fa, fb := strings.FieldsFunc(a, sep), strings.FieldsFunc(b, sep)
	if len(fa) != len(fb) {
		return false
	}
	for k := range fa {
		if fa[k] == fb[k] {
			continue
		}
		x, err1 := strconv.ParseFloat(fa[k], 64)
		y, err2 := strconv.ParseFloat(fb[k], 64)
		if err1 != nil || err2 != nil || !strings.Contains(fa[k], ".") || math.Abs(x-y) > 0.0015 {
			return false
		}
	}
	return true
}

func sep(r rune) bool { return r == ' ' || r == '[' || r == ']' || r == ',' }

func seedOf(t *testing.T) uint64 {
	if s := os.Getenv("KBI_SEED"); s != "" {
		v, _ := strconv.ParseUint(s, 10, 64)
		return v
	}
	return uint64(time.Now().UnixNano())
}

// TestKBIsMatchBruteForce: one uninterrupted consumer.
func TestKBIsMatchBruteForce(t *testing.T) {
	seed := seedOf(t)
	t.Logf("KBI_SEED=%d", seed)
	e := newEnv(t)
	parts := genStream(seed, 6)
	e.produce(parts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := e.instance(ctx, "g1", -1, seed); err != nil {
		t.Fatal(err)
	}
	if !e.done("g1") {
		t.Fatal("not everything was committed in time")
	}
	got, tdErr := e.query()
	compare(t, got, brute(parts, e.index))
	t.Logf("t-digest p50/p90/p99 largest relative deviation from exact: %.4f", tdErr)
}

// TestKBIsSurviveCrashesAndRebalances: consumers crash at random batches
// (state in the store ahead of the committed offsets, batches stored
// but not acknowledged) and run two at a time (rebalances), then the KBIs
// equal the brute force, which equals an uninterrupted run (above).
func TestKBIsSurviveCrashesAndRebalances(t *testing.T) {
	seed := seedOf(t)
	t.Logf("KBI_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	e := newEnv(t)
	parts := genStream(seed, 6)
	e.produce(parts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crashes := 0
	for round := 0; !e.done("g2"); round++ {
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
		last := round >= 4
		n := 1 + rng.IntN(2)
		var wg sync.WaitGroup
		for k := range n {
			after := int64(1 + rng.IntN(6))
			if last && k == 0 {
				after = -1
			}
			s := rng.Uint64()
			delay := time.Duration(k) * time.Duration(200+rng.IntN(800)) * time.Millisecond
			wg.Go(func() {
				time.Sleep(delay)
				err := e.instance(ctx, "g2", after, s)
				t.Logf("round %d instance %d (crash after %d writes): %v", round, k, after, err)
				switch {
				case errors.Is(err, errCrash):
					sharedMu.Lock()
					crashes++
					sharedMu.Unlock()
				case err != nil:
					t.Errorf("instance: %v", err)
				}
			})
		}
		wg.Wait()
	}
	t.Logf("%d crashes", crashes)
	got, _ := e.query()
	compare(t, got, brute(parts, e.index))
}

// TestReplayByNewGroup: a second consumer group replays the topic from
// the start into the same database and state store (fault suite scenario
// 6): the KBIs stay the brute force's and no replayed event goes to
// late_events that the first run did not put there.
func TestReplayByNewGroup(t *testing.T) {
	seed := seedOf(t)
	t.Logf("KBI_SEED=%d", seed)
	e := newEnv(t)
	parts := genStream(seed, 6)
	e.produce(parts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lateRows := func() uint64 {
		var n uint64
		if err := e.conn().QueryRow(ctx, "SELECT count() FROM "+e.db+".late_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := e.instance(ctx, "g3", -1, seed); err != nil || !e.done("g3") {
		t.Fatalf("first run: %v, done %v", err, e.done("g3"))
	}
	before := lateRows()
	if err := e.instance(ctx, "g3-replay", -1, seed); err != nil || !e.done("g3-replay") {
		t.Fatalf("replay: %v, done %v", err, e.done("g3-replay"))
	}
	if after := lateRows(); after != before {
		t.Errorf("late_events: %d rows after the replay, %d before", after, before)
	} else {
		t.Logf("late_events: %d rows before and after the replay", after)
	}
	got, _ := e.query()
	compare(t, got, brute(parts, e.index))
}
