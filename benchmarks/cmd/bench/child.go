package main

// The two child roles. Each run of the harness starts one "stack" process
// (embedded Kafka + chDB behind ClickHouse's HTTP interface, via
// internal/devstack) and one or more "pipeline" processes (internal/app, the
// wiring `salespulse run` uses). Separate processes are what make the
// figures honest: getrusage of a pipeline process is the pipeline's CPU and
// memory alone, not the broker's (which holds every preloaded record in
// memory) nor chDB's, and two pipeline processes scale out the way two
// deployed instances do.
//
// The orchestrator talks to a child over fds 3 and 4, one command or one
// JSON answer per line: "go" starts the measured window (and the pipeline),
// "stat" asks for progress, "end" closes the window and answers with the
// report, "quit" (or EOF) stops cleanly.

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

// matrixYAML is the authorization matrix the detectors run with (a copy of
// pipeline/anomaly/testdata/matrix.good.yml), so the discount detectors,
// which page immediately, are on.
//
//go:embed testdata/matrix.yml
var matrixYAML []byte

// childFlags are the flags both roles understand.
type childFlags struct {
	role                string
	dir                 string
	out                 string
	instance            int
	partitions          int
	events              int64
	mix                 string
	teams               int
	seed                uint64
	brokers             string // stack: external Kafka to preload; pipeline: Kafka to consume
	clickhouse          string
	group               string
	orgFile             string
	anomaly             bool
	workers             int
	readAhead           int64         // kafka.read_ahead_bytes (0: default)
	linger              time.Duration // kafka.batch_linger: the ingest flow (0: default)
	leadsLinger         time.Duration // leads.batch_linger: the contacts and leads flows (0: default)
	batchRows           int           // kafka.batch_max_rows (0: default)
	inFlight            int           // kafka.max_in_flight_batches (0: default)
	derivedLinger       time.Duration // clickhouse.derived_group_linger (0: default)
	groupLinger         time.Duration // clickhouse.group_linger (0: default)
	groupMaxRows        int           // clickhouse.group_max_rows (0: default)
	derivedGroupMaxRows int           // clickhouse.derived_group_max_rows (0: default)
	hook                string        // pipeline: webhook URL for alert latency
	// pipeline, deadline scenarios: the rules the webhook gets (default
	// the discount rules), leads.tick_after, leads.tick_lag and
	// anomaly.out_of_orderness (0: the config's defaults).
	hookRules          string
	tickAfter, tickLag time.Duration
	alertOOO           time.Duration
	leads              bool // pipeline: route through the lead topics (false: leads.disabled, one flow)
	ingestOnly         bool // pipeline: raw rows only (ingestOnly, peer.go)
}

// readyMsg is the stack's first line.
type readyMsg struct {
	Ready      bool     `json:"ready"`
	Kafka      []string `json:"kafka"`
	ClickHouse string   `json:"clickhouse"`
	OrgFile    string   `json:"org_file"`
	Records    int64    `json:"records"`     // Kafka records preloaded
	Expected   int64    `json:"expected"`    // interactions they decode to
	ValueBytes int64    `json:"value_bytes"` // sum of record value sizes
	PreloadS   float64  `json:"preload_s"`
	Error      string   `json:"error,omitempty"`
}

// usage is a getrusage difference over the measured window.
type usage struct {
	UserS    float64 `json:"user_s"`
	SysS     float64 `json:"sys_s"`
	MaxRSSMB float64 `json:"max_rss_mb"` // peak over the process's life
	WallS    float64 `json:"wall_s"`
}

// statMsg answers "stat".
type statMsg struct {
	// Stored are the interactions the ingest flow stored: the raw rows.
	// With the lead hop the contacts and leads flows count the same
	// interactions again (and lead.created once per contact key), so the
	// sum over flows is not a count of events.
	Stored     float64 `json:"stored"`
	DeadLetter float64 `json:"dead_letters"`
	LastStored float64 `json:"last_stored"` // unix seconds of the last batch any flow stored
	Lag        float64 `json:"lag"`
	// Flows are the per-flow figures, by the metrics' pipeline label
	// (ingest; with the hop also contacts and leads).
	Flows map[string]flowStat `json:"flows,omitempty"`
}

type flowStat struct {
	Stored     float64 `json:"stored"`
	LastStored float64 `json:"last_stored"`
	Lag        float64 `json:"lag"`
}

// latency is a histogram's quantiles.
type latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	N   float64 `json:"n"`
}

// endMsg answers "end".
type endMsg struct {
	Usage   usage              `json:"usage"`
	Stat    statMsg            `json:"stat"`
	Inserts map[string]insStat `json:"inserts,omitempty"`
	// Groups are the grouped inserts' groups by "flow/reason"
	// (salespulse_clickhouse_groups_closed_total).
	Groups map[string]float64 `json:"groups,omitempty"`
	// State is what the state store produced: records and key+value bytes
	// by namespace (salespulse_state_records_written_total,
	// _bytes_written_total), and the lead topics' messages under
	// "forwarded".
	State map[string]stateStat `json:"state,omitempty"`
	// EventToStored is the pipeline's histogram (event time → ClickHouse
	// acknowledged), as quantiles.
	E2EP50, E2EP99 float64
	E2ECount       float64
	// FlowE2E is the same histogram per flow: ingest's is event → raw row
	// stored, leads' is event → KBI facts and alerts stored (with the hop
	// disabled, ingest stores both).
	FlowE2E map[string]latency `json:"flow_e2e,omitempty"`
	Alerts  float64            `json:"alerts"`
	// Redelivered is the lead events leads.Dedup dropped as copies.
	Redelivered float64 `json:"redelivered,omitempty"`
	HeapInuseMB float64 `json:"heap_inuse_mb"`
	Error       string  `json:"error,omitempty"`
}

type stateStat struct {
	Records float64 `json:"records"`
	Bytes   float64 `json:"bytes,omitempty"`
}

type insStat struct {
	Rows    float64 `json:"rows"`
	Inserts float64 `json:"inserts"`
	Seconds float64 `json:"seconds"`
	Bytes   float64 `json:"bytes"`
}

func rusage() (user, sys time.Duration, maxRSSKB int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss
}

// window measures CPU between begin and end, and profiles it when prefix
// is set.
type window struct {
	prefix   string
	u0, s0   time.Duration
	t0       time.Time
	profFile *os.File
	stopPeak func() // stops the peak-heap profiler
}

func (w *window) begin() {
	w.u0, w.s0, _ = rusage()
	w.t0 = time.Now()
	if w.prefix != "" {
		if f, err := os.Create(w.prefix + ".cpu.pprof"); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				w.profFile = f
			} else {
				f.Close()
			}
		}
		w.stopPeak = peakHeapProfiles(w.prefix)
	}
}

func (w *window) end() usage {
	u1, s1, rss := rusage()
	wall := time.Since(w.t0)
	if w.stopPeak != nil {
		w.stopPeak()
		w.stopPeak = nil
	}
	if w.profFile != nil {
		pprof.StopCPUProfile()
		w.profFile.Close()
		w.profFile = nil
		if f, err := os.Create(w.prefix + ".allocs.pprof"); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	return usage{UserS: (u1 - w.u0).Seconds(), SysS: (s1 - w.s0).Seconds(), MaxRSSMB: float64(rss) / 1024, WallS: wall.Seconds()}
}

// peakHeapProfiles watches the memory the Go runtime holds from the OS
// (mapped and not released: what RSS follows) every 200 ms and, each time
// it passes its peak so far by 16 MiB, writes the heap profile to
// prefix.heap-peak.pprof and the runtime's memory classes to
// prefix.heap-peak.txt. The profile's in-use figures are the live heap as
// of the last collection; the rest of the peak is garbage not yet
// collected (the GC goal) and runtime overhead. The returned func stops it.
func peakHeapProfiles(prefix string) func() {
	names := []string{
		"/memory/classes/total:bytes",
		"/memory/classes/heap/released:bytes",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/stacks:bytes",
		"/gc/heap/live:bytes",
		"/gc/heap/goal:bytes",
	}
	samples := make([]metrics.Sample, len(names))
	for k, n := range names {
		samples[k].Name = n
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var peak uint64
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			metrics.Read(samples)
			held := samples[0].Value.Uint64() - samples[1].Value.Uint64()
			if held < peak+16<<20 {
				continue
			}
			peak = held
			if f, err := os.Create(prefix + ".heap-peak.pprof"); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			var b strings.Builder
			fmt.Fprintf(&b, "held (total - released) %d MiB\n", held>>20)
			for k, n := range names {
				fmt.Fprintf(&b, "%s %d MiB\n", n, samples[k].Value.Uint64()>>20)
			}
			os.WriteFile(prefix+".heap-peak.txt", []byte(b.String()), 0o644)
		}
	}()
	return func() { close(stop); <-done }
}

// commands and answers are fds 3 and 4, set up by the orchestrator (see
// startChild).
var (
	commands = os.NewFile(3, "commands")
	answers  = os.NewFile(4, "answers")
)

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(endMsg{Error: "encode answer: " + err.Error()})
	}
	answers.Write(append(b, '\n'))
}

// finite maps NaN (no samples) to 0 and +Inf (beyond the histogram's last
// bucket) to -1: JSON has neither.
func finite(f float64) float64 {
	switch {
	case math.IsNaN(f):
		return 0
	case math.IsInf(f, 0):
		return -1
	}
	return f
}

func genConfig(f childFlags) gen.Config {
	c := gen.DefaultConfig()
	c.Seed = f.seed
	c.Teams = f.teams
	c.Days = 0 // endless: the event count bounds the run
	return c
}

// runStack starts the embedded services, preloads the events and serves
// until told to quit.
func runStack(f childFlags) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	gc := genConfig(f)
	var ac app.Config
	// The stack's own app instance is never fed: it consumes a topic nobody
	// writes, in its own group, so it neither competes with the measured
	// pipeline processes nor takes their partitions. Its construction
	// applies the ClickHouse migrations once, before any pipeline starts.
	ac.Kafka.Group = "bench-idle"
	ac.Kafka.Topics = map[string]string{"bench.idle": canonical.Name}
	// Its state topic would be sized by bench.idle (1 partition): give it
	// its own, so the pipelines' topic is created at their width.
	ac.State.Topic = "bench.idle-state"
	// Nor does it run the lead hop: its contacts and leads flows would
	// consume the measured pipelines' lead topics in groups of their own
	// and forward every touch a second time.
	ac.Leads.Disabled = true
	st, err := devstack.Start(ctx, devstack.Config{
		DataDir: f.dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: int32(f.partitions), Gen: gc, App: ac,
		// The measured pipelines consume every vendor's default topic.
		Topics: slices.Collect(maps.Keys(sources.DefaultTopics())),
	}, log)
	if err != nil {
		emit(readyMsg{Error: err.Error()})
		return err
	}
	runDone := make(chan error, 1)
	go func() { runDone <- st.Run(ctx) }()

	brokers := st.KafkaAddrs()
	if f.brokers != "" {
		brokers = strings.Split(f.brokers, ",")
		if err := recreateTopics(ctx, brokers, int32(f.partitions)); err != nil {
			emit(readyMsg{Error: err.Error()})
			return err
		}
	}
	rd := readyMsg{Ready: true, Kafka: brokers, ClickHouse: st.ClickHouseAddr(), OrgFile: filepath.Join(f.dir, "org.yml")}
	if f.events > 0 {
		t0 := time.Now()
		rd.Records, rd.Expected, rd.ValueBytes, err = preload(ctx, brokers, gc, f.mix, f.events)
		if err != nil {
			emit(readyMsg{Error: err.Error()})
			return err
		}
		rd.PreloadS = time.Since(t0).Seconds()
	}
	runtime.GC() // the preload's garbage is not the window's
	emit(rd)

	w := window{}
	if f.out != "" {
		w.prefix = filepath.Join(f.out, "stack")
	}
	in := bufio.NewScanner(commands)
	for in.Scan() {
		switch in.Text() {
		case "go":
			w.begin()
		case "end":
			emit(endMsg{Usage: w.end()})
		case "quit":
			cancel()
			return <-runDone
		}
	}
	cancel()
	return <-runDone
}

// recreateTopics gives a run on a real broker empty data topics.
func recreateTopics(ctx context.Context, brokers []string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("real kafka: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var topics []string
	for t := range sources.DefaultTopics() {
		topics = append(topics, t)
	}
	topics = append(topics, "sales.dlq")
	adm.DeleteTopics(ctx, topics...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
		if err == nil && res.Error() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("real kafka: create topics: %w", errors.Join(err, res.Error()))
		}
		// Deletion is asynchronous on a real broker: retry the ones not
		// created yet.
		topics = topics[:0]
		for _, r := range res.Sorted() {
			if r.Err != nil {
				topics = append(topics, r.Topic)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// preload produces n interactions of the mix and returns the records
// produced, the interactions they decode to and their value bytes.
func preload(ctx context.Context, brokers []string, gc gen.Config, mix string, n int64) (records, expected, bytes int64, err error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(4<<20),
		kgo.MaxBufferedRecords(50000),
		// Count what is produced: bytes in, as the broker sees them.
		kgo.WithHooks(&valueCounter{bytes: &bytes}),
	)
	if err != nil {
		return 0, 0, 0, err
	}
	defer cl.Close()
	g, err := gen.New(gc)
	if err != nil {
		return 0, 0, 0, err
	}
	switch mix {
	case "canonical":
		records, err = kafkaio.Produce(ctx, cl, canonical.DefaultTopic, g, kafkaio.ProduceOptions{Limit: n})
		return records, records, bytes, err
	case "vendor":
		records, err = kafkaio.ProduceVendor(ctx, cl, nil, g, kafkaio.ProduceOptions{Limit: n})
		if err != nil {
			return records, 0, bytes, err
		}
		// The interactions the decoders will emit: the same deterministic
		// stream again, with the encoder's expectations.
		g2, _ := gen.New(gc)
		enc := gen.NewVendorEncoder(g2, true)
		var in schemas.Interaction
		for k := int64(0); k < n; k++ {
			key, ok := g2.Next(&in)
			if !ok {
				break
			}
			for _, r := range enc.Encode(&in, key) {
				expected += int64(len(r.Expected))
			}
		}
		return records, expected, bytes, nil
	}
	return 0, 0, 0, fmt.Errorf("unknown mix %q (want canonical or vendor)", mix)
}

type valueCounter struct{ bytes *int64 }

var _ kgo.HookProduceRecordUnbuffered = (*valueCounter)(nil)

// OnProduceRecordUnbuffered runs once per record on the client's
// goroutines, serially per partition only: hence no plain += from several.
func (v *valueCounter) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err == nil {
		atomicAdd(v.bytes, int64(len(r.Value)))
	}
}

// runPipeline runs one SalesPulse instance (internal/app) against the
// stack's Kafka and ClickHouse.
func runPipeline(f childFlags) error {
	// What cmd/salespulse's main does: measure the binary's GC settings.
	app.SetGCDefaults(os.Getenv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("instance", f.instance)
	// The app's metrics only: the harness reads nothing of the Go and
	// process collectors, and every "stat" gathers the whole registry.
	reg := prometheus.NewRegistry()

	var ac app.Config
	ac.Kafka.Brokers = strings.Split(f.brokers, ",")
	ac.Kafka.Group = f.group
	ac.Kafka.ClientID = fmt.Sprintf("bench-%d", f.instance)
	ac.Kafka.BatchLinger = f.linger
	ac.Leads.BatchLinger = f.leadsLinger
	ac.Kafka.BatchMaxRows = f.batchRows
	ac.Kafka.MaxInFlightBatches = f.inFlight
	ac.ClickHouse.DerivedGroupLinger = f.derivedLinger
	ac.ClickHouse.GroupLinger = f.groupLinger
	ac.ClickHouse.GroupMaxRows = f.groupMaxRows
	ac.ClickHouse.DerivedGroupMaxRows = f.derivedGroupMaxRows
	ac.ClickHouse.Addresses = []string{f.clickhouse}
	ac.ClickHouse.Protocol = "http"
	ac.Pipeline.Workers = f.workers
	ac.Kafka.ReadAheadBytes = f.readAhead
	ac.Leads.Disabled = !f.leads
	org, err := app.LoadOrg(f.orgFile)
	if err != nil {
		emit(endMsg{Error: err.Error()})
		return err
	}
	pseudo, err := privacy.New(privacy.Config{Key: privacy.DevKey()})
	if err != nil {
		return err
	}
	opts := app.Options{Logger: log, Registry: reg, Org: org, Privacy: pseudo}
	// app.New wires the KBI windows, the detectors and the alert producer
	// itself; the bench only adds the authorization matrix (so the discount
	// detectors, which page at once, are on) and, in live mode, a webhook.
	if f.anomaly {
		mf := filepath.Join(filepath.Dir(f.orgFile), "matrix.yml")
		if err := os.WriteFile(mf, matrixYAML, 0o644); err != nil {
			return err
		}
		ac.Anomaly.MatrixFile = mf
	}
	ac.Leads.TickAfter, ac.Leads.TickLag = f.tickAfter, f.tickLag
	ac.Anomaly.OutOfOrder = f.alertOOO
	if f.ingestOnly {
		ingestOnly(&ac)
	}
	if f.hook != "" {
		rules := []string{anomaly.RuleDiscountBeyondAuthority, anomaly.RuleDiscountWithoutApproval}
		if f.hookRules != "" {
			rules = strings.Split(f.hookRules, ",")
		}
		ac.Alerts.Hooks = []alert.HookConfig{{
			Name: "bench", Type: alert.HookWebhook, URL: f.hook, Secret: "bench",
			Rules: rules,
			// The default 10/s protects real pagers; here it would queue.
			RatePerSecond: 100000,
		}}
	}
	a, err := app.New(ctx, ac, opts)
	if err != nil {
		emit(endMsg{Error: err.Error()})
		return err
	}
	emit(readyMsg{Ready: true})

	w := window{}
	if f.out != "" {
		w.prefix = filepath.Join(f.out, fmt.Sprintf("pipeline-%d", f.instance))
	}
	runDone := make(chan error, 1)
	started := false
	quit := func() error {
		cancel()
		if !started {
			return nil
		}
		return <-runDone
	}
	in := bufio.NewScanner(commands)
	for in.Scan() {
		switch in.Text() {
		case "go":
			w.begin()
			started = true
			go func() { runDone <- a.Run(ctx) }()
		case "stat":
			select {
			case err := <-runDone:
				// The instance stopped on its own: say why instead of
				// letting the orchestrator wait for its timeout.
				emit(endMsg{Error: fmt.Sprintf("pipeline stopped: %v", err)})
				started = false
				continue
			default:
			}
			emit(stat(gather(reg)))
		case "end":
			u := w.end()
			fams := gather(reg)
			m := endMsg{Usage: u, Stat: stat(fams), Inserts: inserts(fams), Groups: groups(fams), State: stateWritten(fams)}
			p50, p99, n := histQuantiles(fams, "salespulse_pipeline_event_to_stored_seconds", map[string]string{"pipeline": "ingest"})
			m.E2EP50, m.E2EP99, m.E2ECount = finite(p50), finite(p99), n
			m.FlowE2E = map[string]latency{}
			for _, fl := range flowNames {
				p50, p99, n := histQuantiles(fams, "salespulse_pipeline_event_to_stored_seconds", map[string]string{"pipeline": fl})
				if n > 0 {
					m.FlowE2E[fl] = latency{finite(p50), finite(p99), n}
				}
			}
			m.Alerts = sum(fams, "salespulse_pipeline_alerts_total", nil)
			m.Redelivered = sum(fams, "salespulse_leads_redeliveries_dropped_total", nil)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			m.HeapInuseMB = float64(ms.HeapInuse) / (1 << 20)
			emit(m)
		case "quit":
			return quit()
		}
	}
	if err := in.Err(); err != nil && !errors.Is(err, io.EOF) {
		log.Warn("stdin", "err", err)
	}
	return quit()
}

// flowNames are the pipeline labels of internal/app's flows.
var flowNames = []string{"ingest", "contacts", "leads"}

// gather is one Gather of the pipeline's registry, for stat and the
// end report to read every figure from.
func gather(reg *prometheus.Registry) []*dto.MetricFamily {
	fams, _ := reg.Gather()
	return fams
}

func stat(fams []*dto.MetricFamily) statMsg {
	s := statMsg{
		Stored:     sum(fams, "salespulse_pipeline_interactions_stored_total", map[string]string{"pipeline": "ingest"}),
		DeadLetter: sum(fams, "salespulse_kafka_dead_letters_total", nil),
		LastStored: sum(fams, "salespulse_pipeline_last_stored_timestamp_seconds", nil),
		Lag:        sum(fams, "salespulse_kafka_consumer_lag", nil),
		Flows:      map[string]flowStat{},
	}
	for _, fl := range flowNames {
		l := map[string]string{"pipeline": fl}
		s.Flows[fl] = flowStat{
			Stored:     sum(fams, "salespulse_pipeline_interactions_stored_total", l),
			LastStored: sum(fams, "salespulse_pipeline_last_stored_timestamp_seconds", l),
			Lag:        sum(fams, "salespulse_kafka_consumer_lag", l),
		}
	}
	return s
}

// groups counts the closed groups by "flow/reason" (the reasons of
// sinks/clickhouse's group.go).
func groups(fams []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, mf := range fams {
		if mf.GetName() != "salespulse_clickhouse_groups_closed_total" {
			continue
		}
		// Every flow and reason the sink reports, not a copy of its list:
		// a reason added there shows up here.
		for _, m := range mf.GetMetric() {
			if n := m.GetCounter().GetValue(); n > 0 {
				out[label(m, "flow")+"/"+label(m, "reason")] += n
			}
		}
	}
	return out
}

// stateWritten sums what the state store produced, by namespace.
func stateWritten(fams []*dto.MetricFamily) map[string]stateStat {
	out := map[string]stateStat{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			n := m.GetCounter().GetValue()
			ns := label(m, "namespace")
			s := out[ns]
			switch mf.GetName() {
			case "salespulse_state_records_written_total":
				s.Records += n
			case "salespulse_state_bytes_written_total":
				s.Bytes += n
			case "salespulse_state_forwarded_messages_total":
				ns = "forwarded"
				s = out[ns]
				s.Records += n
			default:
				continue
			}
			if n > 0 {
				out[ns] = s
			}
		}
	}
	return out
}

func inserts(fams []*dto.MetricFamily) map[string]insStat {
	out := map[string]insStat{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			table := label(m, "table")
			if table == "" {
				continue
			}
			s := out[table]
			switch mf.GetName() {
			case "salespulse_clickhouse_rows_inserted_total":
				s.Rows += m.GetCounter().GetValue()
			case "salespulse_clickhouse_bytes_inserted_total":
				s.Bytes += m.GetCounter().GetValue()
			case "salespulse_clickhouse_insert_duration_seconds":
				s.Inserts += float64(m.GetHistogram().GetSampleCount())
				s.Seconds += m.GetHistogram().GetSampleSum()
			default:
				continue
			}
			out[table] = s
		}
	}
	return out
}
