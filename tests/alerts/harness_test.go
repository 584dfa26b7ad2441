// Package alerts_test runs the alert path end to end: generator → Kafka
// (kfake) → kafka source → pipeline with the anomaly stage → ClickHouse
// (embedded chDB) and sales.alerts → Dispatcher → hook receivers.
package alerts_test

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
	"github.com/salespulse/salespulse/sources/kafka"
)

const (
	inTopic    = "sales.canonical"
	partitions = 4
	secret     = "whsec-test"
)

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newCluster(tb testing.TB) *kfake.Cluster {
	tb.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, inTopic),
		kfake.SeedTopics(2, "sales.alerts"),
		kfake.SeedTopics(1, "sales.alerts.parked", "sales.dlq"),
	)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// partitionOf is the test producer's partitioner: same key, same partition.
func partitionOf(key []byte) int32 {
	h := fnv.New32a()
	h.Write(key)
	return int32(h.Sum32() % partitions)
}

// producer writes generator events to the input topic by key.
type producer struct {
	cl  *kgo.Client
	buf []byte
}

func newProducer(tb testing.TB, c *kfake.Cluster) *producer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return &producer{cl: cl}
}

func recordFor(key []byte, i *schemas.Interaction) *kgo.Record {
	return &kgo.Record{Topic: inTopic, Partition: partitionOf(key), Key: slices.Clone(key), Value: schemas.AppendJSON(nil, i)}
}

func (p *producer) send(tb testing.TB, key []byte, i *schemas.Interaction) {
	p.cl.Produce(context.Background(), recordFor(key, i), func(_ *kgo.Record, err error) {
		if err != nil {
			tb.Errorf("produce: %v", err)
		}
	})
}

func (p *producer) flush(tb testing.TB) {
	if err := p.cl.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// countingSink writes to every sink in order and counts acknowledged
// batches and the alerts they carried.
type countingSink struct {
	sinks  []pipeline.Sink
	acked  atomic.Int64
	mu     sync.Mutex
	alerts []schemas.Alert
}

func (s *countingSink) Write(ctx context.Context, b *schemas.Batch) error {
	for _, x := range s.sinks {
		if err := x.Write(ctx, b); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.alerts = append(s.alerts, b.Alerts...)
	s.mu.Unlock()
	s.acked.Add(1)
	return nil
}

func (s *countingSink) written() []schemas.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.alerts)
}

// startPipeline runs source → anomaly stage → sinks until the test ends.
func startPipeline(tb testing.TB, c *kfake.Cluster, det *anomaly.Detector, sink pipeline.Sink) {
	tb.Helper()
	src, err := kafka.NewSource(kafka.Config{
		Brokers: c.ListenAddrs(), Topics: map[string]string{inTopic: "canonical"}, BatchLinger: 5 * time.Millisecond,
		CommitInterval: 200 * time.Millisecond,
	}, map[string]kafka.Decoder{inTopic: canonical.NewDecoder(nil)}, prometheus.NewRegistry(), testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{Workers: 2}, src, func(int) []pipeline.Stage {
		return []pipeline.Stage{det.NewStage()}
	}, sink, prometheus.NewRegistry(), testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("pipeline: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		src.Close(cctx)
	})
}

func startDispatcher(tb testing.TB, c *kfake.Cluster, cfg alert.Config, reg prometheus.Registerer) *alert.Dispatcher {
	tb.Helper()
	fcfg := cfg
	fcfg.Hooks = append([]alert.HookConfig(nil), cfg.Hooks...)
	fcfg.SetDefaults()
	feed, err := kafkaio.NewAlertFeed(fcfg, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := alert.NewDispatcher(cfg, feed, reg, testLogger(tb))
	if err != nil {
		feed.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("dispatcher: %v", err)
		}
	})
	return d
}

// receiver is an httptest hook endpoint that records (alert id, state)
// pairs after checking the payload with check.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   map[string]int // "id state" -> deliveries
	bad   []string
	hits  atomic.Int64
	delay atomic.Pointer[time.Time] // hang until this wall time
	fail  atomic.Bool
	seen  chan string
}

func newReceiver(tb testing.TB, check func(r *http.Request, body []byte) ([]string, error)) *receiver {
	rc := &receiver{got: map[string]int{}, seen: make(chan string, 1<<16)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		if until := rc.delay.Load(); until != nil {
			select {
			case <-time.After(time.Until(*until)):
			case <-r.Context().Done():
				return
			}
		}
		if rc.fail.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		keys, err := check(r, body)
		rc.mu.Lock()
		if err != nil {
			rc.bad = append(rc.bad, err.Error())
			rc.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, k := range keys {
			rc.got[k]++
		}
		rc.mu.Unlock()
		for _, k := range keys {
			select {
			case rc.seen <- k:
			default:
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) snapshot() (map[string]int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	m := make(map[string]int, len(rc.got))
	for k, v := range rc.got {
		m[k] = v
	}
	return m, slices.Clone(rc.bad)
}

// checkWebhook verifies the signature and decodes the Message.
func checkWebhook(r *http.Request, body []byte) ([]string, error) {
	if err := alert.Verify([]byte(secret), r.Header.Get(alert.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		return nil, err
	}
	m, err := alert.Decode(body)
	if err != nil {
		return nil, err
	}
	if r.Header.Get("X-SalesPulse-Alert-Id") != m.ID || m.Summary == "" || len(m.EventIDs) == 0 || m.ManagerID == "" {
		return nil, errf("webhook message incomplete: %s", body)
	}
	return []string{m.ID + " " + m.State}, nil
}

func checkSlack(_ *http.Request, body []byte) ([]string, error) {
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Elements []struct {
				Text string `json:"text"`
			} `json:"elements"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, err
	}
	if len(msg.Blocks) != 3 || msg.Blocks[0].Type != "header" || msg.Blocks[2].Type != "context" || msg.Text == "" {
		return nil, errf("slack blocks: %s", body)
	}
	ctx := msg.Blocks[2].Elements[0].Text // "alert `<id>` · …"
	id, _, _ := strings.Cut(strings.TrimPrefix(ctx, "alert `"), "`")
	state := strings.ToLower(strings.Fields(msg.Blocks[0].Text.Text)[1])
	return []string{id + " " + state}, nil
}

func checkPagerDuty(_ *http.Request, body []byte) ([]string, error) {
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary  string `json:"summary"`
			Source   string `json:"source"`
			Severity string `json:"severity"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, err
	}
	if ev.RoutingKey != "pd-routing-key" || ev.DedupKey == "" {
		return nil, errf("pagerduty event: %s", body)
	}
	switch ev.EventAction {
	case "trigger":
		if ev.Payload == nil || ev.Payload.Summary == "" || ev.Payload.Severity != "critical" || ev.Payload.Source != "salespulse" {
			return nil, errf("pagerduty trigger: %s", body)
		}
		return []string{ev.DedupKey + " firing"}, nil
	case "resolve":
		return []string{ev.DedupKey + " resolved"}, nil
	}
	return nil, errf("pagerduty action: %s", body)
}

func checkAlertmanager(r *http.Request, body []byte) ([]string, error) {
	if r.URL.Path != "/api/v2/alerts" {
		return nil, errf("alertmanager path %s", r.URL.Path)
	}
	var as []alert.AlertmanagerAlert
	if err := json.Unmarshal(body, &as); err != nil {
		return nil, err
	}
	var keys []string
	for _, a := range as {
		if a.Labels["alertname"] == "" || a.Labels["alert_id"] == "" || a.Annotations["summary"] == "" || a.StartsAt.IsZero() || a.EndsAt.IsZero() {
			return nil, errf("alertmanager alert: %s", body)
		}
		state := "firing"
		if !a.EndsAt.After(time.Now()) {
			state = "resolved"
		}
		keys = append(keys, a.Labels["alert_id"]+" "+state)
	}
	return keys, nil
}

type strErr string

func (e strErr) Error() string { return string(e) }

func errf(format string, args ...any) error {
	s := format
	if len(args) > 0 {
		b, _ := json.Marshal(args)
		s = format + " " + string(b)
	}
	return strErr(s)
}

// genConfig is the generator run of the end-to-end test.
func genConfig(days int) gen.Config {
	cfg := gen.DefaultConfig()
	cfg.Seed = 7
	cfg.Days = days
	// Answers come within an hour, so only the planted never-answered
	// leads break the test's SLA (16 h covers the night between two work
	// days; Days ≤ 5 keeps weekends out).
	cfg.Response.Max = time.Hour
	return cfg
}

func envTrue(name string) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes":
		return true
	}
	return false
}
