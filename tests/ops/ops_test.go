// Package ops tests what operators run: the config files, the Grafana
// dashboards' SQL against ClickHouse holding generated data, the Prometheus
// rules and scrape config against a real Prometheus scraping a running
// stack, the deployment manifests (statically: docker and Kubernetes are not
// available to tests), the metrics catalogue and the logs.
package ops

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// repoRoot is the repository's top directory (tests run in tests/ops).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// genConfig is the generated organisation every stack test reads: two teams
// of four sellers, Monday to Thursday. Small enough to run in seconds, big
// enough that every KBI, every channel and SLA alerts have rows.
func genConfig() gen.Config {
	c := gen.DefaultConfig()
	c.Seed = 20261102
	c.Teams = 2
	c.RepsPerTeam = 4
	c.Days = 4
	c.Signals.PerDay = 40 // market signals for their panels, a few unmatched
	return c
}

// Fixed Grafana time range covering the generated days in every time zone.
var (
	rangeFrom = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rangeTo   = time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
)

// logBuffer collects the stack's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// opsStack is the package's one embedded stack (chDB allows one data dir
// per process), with the generator, the window and anomaly stages, and a
// JSON logger whose output the log tests read.
type opsStack struct {
	*devstack.Stack
	logs   *logBuffer
	events []schemas.Interaction // what the generator produced, raw (before pseudonymisation)
}

var (
	stackOnce sync.Once
	stack     *opsStack
	stackErr  error
	stopStack func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopStack != nil {
		stopStack()
	}
	os.Exit(code)
}

// startStack starts the stack once and waits until every generated event
// is stored and the consumer lag is zero.
func startStack(t *testing.T) *opsStack {
	t.Helper()
	testenv.RequireCHDB(t)
	stackOnce.Do(func() { stack, stackErr = newStack() })
	if stackErr != nil {
		t.Fatalf("embedded stack: %v", stackErr)
	}
	return stack
}

func newStack() (*opsStack, error) {
	gc := genConfig()
	g, err := gen.New(gc)
	if err != nil {
		return nil, err
	}
	var events []schemas.Interaction
	for {
		var i schemas.Interaction
		if _, ok := g.Next(&i); !ok {
			break
		}
		events = append(events, i)
	}
	matrix, err := filepath.Abs("testdata/matrix.yml")
	if err != nil {
		return nil, err
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The app wires the window and anomaly stages itself; the matrix makes
	// the discount detectors run too.
	var ac app.Config
	ac.Anomaly.MatrixFile = matrix
	// The console too, so the metrics catalogue covers its metrics.
	ac.Console.Listen = "127.0.0.1:0"

	dir, err := os.MkdirTemp("", "salespulse-ops-")
	if err != nil {
		return nil, err
	}
	// A deal score model trained on other generated days, so deal_scores
	// (the dashboard's deals-at-risk panel) fills.
	mc := genConfig()
	mc.Seed, mc.Days = 7, 60
	ac.Anomaly.DealRisk.ModelFile = filepath.Join(dir, "deal-model.json")
	if err := app.WriteGeneratedDealModel(mc, ac.Anomaly.DealRisk.ModelFile); err != nil {
		return nil, err
	}
	st, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 4, Generator: true, Gen: gc,
		App: ac, Options: app.Options{Registry: reg},
	}, log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	stopStack = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "ops stack stopped with:", err)
		}
		os.RemoveAll(dir)
	}
	s := &opsStack{Stack: st, logs: logs, events: events}
	want := fmt.Sprint(len(events))
	deadline := time.Now().Add(3 * time.Minute)
	adm, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	for {
		got := s.queryString("SELECT count() FROM salespulse.interactions")
		// The raw rows are the ingest flow's; the KBI facts come from the
		// leads flow behind the lead topics (docs/leads.md): done when all
		// three groups committed everything.
		if got == want && gatherSum(reg, "salespulse_kafka_consumer_lag") == 0 && flowsDone(kadm.NewClient(adm)) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out waiting for %s generated interactions in ClickHouse (have %s, lag %v)",
				want, got, gatherSum(reg, "salespulse_kafka_consumer_lag"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s, nil
}

// flowsDone reports whether the three flows' groups (the default group
// salespulse and its lead flows) committed every partition of their
// topics up to the end.
func flowsDone(adm *kadm.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done, err := kafkaio.GroupsCaughtUp(ctx, adm, "salespulse", "salespulse.contacts", "salespulse.leads")
	return err == nil && done
}

// queryString runs sql on the embedded engine and returns its trimmed
// TabSeparated output ("" on error).
func (s *opsStack) queryString(sql string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.Engine().Query(ctx, sql, "TabSeparated")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// gatherSum adds the series of a metric family in g (testenv.SumMetric).
func gatherSum(g prometheus.Gatherer, name string, labels ...string) float64 {
	return testenv.SumMetric(g, name, labels...)
}
