// Package fault is the fault suite: real `salespulse run` processes against
// a real Apache Kafka broker and the embedded ClickHouse, under kill -9,
// scale-out, broker restarts, a ClickHouse outage, poison records and a
// replay from the start. Every scenario drives the same known event set and
// ends with nothing lost and nothing counted twice (docs/fault-tolerance.md).
//
// The suite is gated by SALESPULSE_KAFKA_TESTS: unset skips it; 1/true
// makes a broker that does not answer at SALESPULSE_KAFKA_BROKERS (default
// 127.0.0.1:19092) fatal. scripts/test.sh starts the broker and sets both.
package fault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/leads"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// Environment of the suite.
const (
	// EnvKafkaTests gates the suite: unset skips, 1/true requires the broker.
	EnvKafkaTests = "SALESPULSE_KAFKA_TESTS"
	// EnvBrokers is the broker address list (comma separated).
	EnvBrokers = "SALESPULSE_KAFKA_BROKERS"
	// EnvKafkaScript is scripts/kafka.sh (default: found from the module root).
	EnvKafkaScript = "SALESPULSE_KAFKA_SCRIPT"
	// EnvEvents overrides the number of generated events (default 150000).
	EnvEvents = "SALESPULSE_FAULT_EVENTS"
	// EnvOutage overrides the ClickHouse outage of scenario 4 (default 60s).
	EnvOutage = "SALESPULSE_FAULT_CH_OUTAGE"
	// EnvBin is a prebuilt salespulse binary to run instead of building
	// ./cmd/salespulse from the module root.
	EnvBin = "SALESPULSE_FAULT_BIN"
	// EnvKeepLogs keeps the children's logs and configs after a green run.
	EnvKeepLogs = "SALESPULSE_FAULT_KEEP_LOGS"
)

const (
	partitions = 12
	privacyKey = "fault-suite-privacy-key-0123456789abcdef" // >= 32 bytes; a test key
	genSeed    = 20261126
)

var h *harness

func TestMain(m *testing.M) {
	code := m.Run()
	printSummary()
	if h != nil {
		h.close()
	}
	os.Exit(code)
}

// harness is shared by every scenario: chDB allows one engine per process,
// and building the binary and generating the events is done once.
type harness struct {
	root    string
	bin     string
	script  string
	brokers []string
	runID   string
	dir     string // logs, configs, chDB data

	engine *chdb.Engine
	chSrv  *chdb.Server
	chAddr string
	chMu   sync.Mutex
	chHTTP *http.Server

	events  []event
	want    expected
	orgFile string // the generator's organisation: teams, time zones, reps

	refOnce sync.Once
	ref     *snapshot
	refErr  error
}

// event is one generated interaction as produced to Kafka.
type event struct {
	key, value []byte
	id         string
	channel    string
	rep        string
}

// expected is what ClickHouse must hold after any scenario, computed from
// the generated events alone.
type expected struct {
	total     int64
	byChannel map[string]int64
	byRep     map[string]int64
}

var harnessOnce sync.Once
var harnessErr error

// setup returns the shared harness, skipping or failing per the gate.
func setup(t *testing.T) *harness {
	t.Helper()
	brokers := strings.Split(envOr(EnvBrokers, "127.0.0.1:19092"), ",")
	if os.Getenv(EnvKafkaTests) == "" {
		t.Skipf("%s is unset: the fault suite needs a real Kafka broker (scripts/kafka.sh start; %s=1 makes a missing broker fatal)", EnvKafkaTests, EnvKafkaTests)
	}
	if !testenv.Required(EnvKafkaTests) {
		t.Skipf("%s=%q: fault suite disabled", EnvKafkaTests, os.Getenv(EnvKafkaTests))
	}
	if err := pingBroker(brokers); err != nil {
		t.Fatalf("%s is set but the Kafka broker at %v does not answer: %v (start it with scripts/kafka.sh start)", EnvKafkaTests, brokers, err)
	}
	testenv.RequireCHDB(t)
	harnessOnce.Do(func() { h, harnessErr = newHarness(brokers) })
	if harnessErr != nil {
		t.Fatalf("fault harness: %v", harnessErr)
	}
	return h
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func pingBroker(brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	return err
}

func newHarness(brokers []string) (*harness, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("module root not found from %s: %w", file, err)
	}
	dir, err := os.MkdirTemp("", "salespulse-fault-")
	if err != nil {
		return nil, err
	}
	x := &harness{
		root: root, brokers: brokers, dir: dir,
		script: envOr(EnvKafkaScript, filepath.Join(root, "scripts", "kafka.sh")),
		runID:  strconv.FormatInt(time.Now().Unix()%1_000_000, 36),
	}
	fmt.Fprintf(os.Stderr, "fault suite: logs and data in %s\n", dir)

	// Build the binary the children run: exactly what users run.
	if x.bin = os.Getenv(EnvBin); x.bin == "" {
		x.bin = filepath.Join(dir, "salespulse")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", x.bin, "./cmd/salespulse")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/salespulse: %w\n%s", err, out)
		}
		fmt.Fprintf(os.Stderr, "fault suite: built salespulse in %s\n", time.Since(start).Round(time.Millisecond))
	}

	x.engine, err = chdb.Open(chdb.Config{DataDir: filepath.Join(dir, "chdb"), Conns: 4})
	if err != nil {
		return nil, fmt.Errorf("open chdb: %w", err)
	}
	x.chSrv = chdb.NewServer(x.engine, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		x.engine.Close()
		return nil, err
	}
	x.chAddr = ln.Addr().String()
	x.serveCH(ln)

	if err := x.generate(); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

// serveCH serves the engine's HTTP interface on ln.
func (x *harness) serveCH(ln net.Listener) {
	x.chMu.Lock()
	defer x.chMu.Unlock()
	srv := &http.Server{Handler: x.chSrv, ReadHeaderTimeout: 10 * time.Second}
	x.chHTTP = srv
	go srv.Serve(ln)
}

// stopCH closes the ClickHouse endpoint: listener and every open
// connection, as a crashed server or a network partition would. The engine
// stays open (an insert it already took may still finish, as on a real
// server that dies after committing but before answering).
func (x *harness) stopCH() {
	x.chMu.Lock()
	defer x.chMu.Unlock()
	if x.chHTTP != nil {
		x.chHTTP.Close()
		x.chHTTP = nil
	}
}

// startCH reopens the endpoint on the same port.
func (x *harness) startCH() error {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after close
		if ln, err = net.Listen("tcp", x.chAddr); err == nil {
			x.serveCH(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("reopen clickhouse on %s: %w", x.chAddr, err)
}

func (x *harness) close() {
	x.stopCH()
	if x.engine != nil {
		x.engine.Close()
	}
	if os.Getenv(EnvKeepLogs) == "" && !failed {
		os.RemoveAll(x.dir)
	} else {
		fmt.Fprintf(os.Stderr, "fault suite: logs kept in %s\n", x.dir)
	}
}

// failed is set by any failing scenario so the logs are kept.
var failed bool

// generate makes the known event set: a fixed generator seed, keyed by
// lead, exactly as `salespulse gen` produces them.
func (x *harness) generate() error {
	n := 150_000
	if v := os.Getenv(EnvEvents); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			return fmt.Errorf("%s=%q: want a positive number", EnvEvents, v)
		}
	}
	cfg := gen.DefaultConfig()
	cfg.Seed = genSeed
	cfg.Teams = 6
	cfg.Days = 3650
	g, err := gen.New(cfg)
	if err != nil {
		return err
	}
	x.orgFile = filepath.Join(x.dir, "org.yml")
	f, err := os.Create(x.orgFile)
	if err != nil {
		return err
	}
	if err := gen.WriteOrg(f, g.Org()); err != nil {
		f.Close()
		return fmt.Errorf("write org file: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	x.want = expected{byChannel: map[string]int64{}, byRep: map[string]int64{}}
	seen := make(map[string]bool, n)
	x.events = make([]event, 0, n)
	for len(x.events) < n {
		var i schemas.Interaction
		key, ok := g.Next(&i)
		if !ok {
			return fmt.Errorf("generator ran out after %d events", len(x.events))
		}
		i.Normalize()
		ev := event{
			key: bytes.Clone(key), value: schemas.AppendJSON(nil, &i),
			id: i.EventID, channel: i.Channel.String(), rep: i.RepID,
		}
		x.events = append(x.events, ev)
		if seen[ev.id] {
			continue // a repeated id is one event (the raw table keys on it)
		}
		seen[ev.id] = true
		x.want.total++
		x.want.byChannel[ev.channel]++
		x.want.byRep[ev.rep]++
	}
	return nil
}

// query runs sql on the engine directly (not through the HTTP endpoint,
// which a scenario may have closed) and returns TabSeparated output.
func (x *harness) query(ctx context.Context, sql string) (string, error) {
	out, err := x.engine.Query(ctx, sql, "TabSeparated")
	return string(out), err
}

func (x *harness) queryInt(t *testing.T, sql string) int64 {
	t.Helper()
	out, err := x.query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	s := strings.TrimSpace(out)
	if s == "" || s == `\N` {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %q: %v", sql, s, err)
	}
	return n
}

// --- scenarios -------------------------------------------------------------

// scenario is one fault scenario's Kafka topics, group, ClickHouse database
// and child processes. Names carry the run id so reruns against the same
// broker never see earlier data.
type scenario struct {
	t      *testing.T
	h      *harness
	name   string
	topic  string
	dlq    string
	alerts string
	group  string
	db     string
	start  time.Time
	cl     *kgo.Client
	adm    *kadm.Client
	mu     sync.Mutex
	procs  []*proc
	nextID int
}

func (x *harness) newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	base := "fault_" + x.runID + "_" + name
	s := &scenario{
		t: t, h: x, name: name, start: time.Now(),
		topic: base + ".canonical", dlq: base + ".dlq", alerts: base + ".alerts", group: base, db: base,
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(x.brokers...), kgo.ProducerBatchMaxBytes(4<<20),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50_000))
	if err != nil {
		t.Fatal(err)
	}
	s.cl = cl
	s.adm = kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	compact := "compact"
	for _, topic := range []string{s.topic, s.dlq, s.alerts, s.alerts + ".parked", s.changelog()} {
		var cfg map[string]*string
		if topic == s.changelog() {
			// Created here, not by the first instance, so that every
			// scenario starts with the topic at full width and leaders
			// in place (the store also waits and grows it itself).
			cfg = map[string]*string{"cleanup.policy": &compact}
		}
		resp, err := s.adm.CreateTopic(ctx, partitions, 1, cfg, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	// A new topic's partitions get leaders a moment after CreateTopic
	// returns; wait for all of them, or the window stage's changelog
	// restore finds partitions missing and stops the instance.
	topics := []string{s.topic, s.dlq, s.alerts, s.alerts + ".parked", s.changelog()}
	for {
		ends, err := s.adm.ListEndOffsets(ctx, topics...)
		n := 0
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					n++
				}
			})
		}
		if n == len(topics)*partitions {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics of %s: %d of %d partitions have a leader: %v", name, n, len(topics)*partitions, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		for _, p := range s.procs {
			p.kill()
		}
		if t.Failed() {
			failed = true
			for _, p := range s.procs {
				t.Logf("log of %s (%s), last lines:\n%s", p.name, p.logPath, tail(p.logPath, 25))
			}
		}
		cl.Close()
	})
	return s
}

// changelog is the scenario's state topic (window and detector state).
func (s *scenario) changelog() string { return s.group + ".state" }

// proc is one `salespulse run` child process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	admin   string // host:port of /metrics
	done    chan struct{}
	err     error
}

// childConfig is the generated salespulse.yml of an instance. Small
// batches and a short linger put many batches in flight, so a crash always
// lands among unacknowledged work; the short session timeout moves a
// killed instance's partitions within seconds.
func (s *scenario) childConfig(group, clientID string) string {
	return fmt.Sprintf(`log:
  format: json
  level: info
http:
  addr: 127.0.0.1:0
kafka:
  brokers: [%s]
  group: %s
  client_id: %s
  topics:
    %s: canonical
  dead_letter_topic: %s
  batch_max_rows: 2000
  batch_linger: 150ms
  max_in_flight_batches: 8
  commit_interval: 500ms
  session_timeout: 6s
  revoke_timeout: 5s
clickhouse:
  addresses: [%s]
  protocol: http
  database: %s
  compression: lz4
  retry_backoff_min: 100ms
  retry_backoff_max: 2s
pipeline:
  workers: 2
org_file: %s
state:
  topic: %s
# The suite replays a month of November into streams it pauses on purpose
# (ClickHouse down a minute): wall-clock ticks would move the lead topics'
# time to today during a pause and make the rest of November late
# (docs/leads.md, "Quiet streams"). The nudge at the stream's end still
# resolves its last touches; waitCommitted waits for it.
leads:
  tick_after: -1s
alerts:
  topic: %s
  park_topic: %s.parked
  group: %s-alerts
`, strings.Join(s.h.brokers, ", "), group, clientID, s.topic, s.dlq, s.h.chAddr, s.db,
		s.h.orgFile, s.changelog(), s.alerts, s.alerts, group)
}

// run starts one instance in group and waits until its admin endpoint
// answers (it has connected to ClickHouse, applied migrations and started
// consuming).
func (s *scenario) run(group string) *proc {
	t := s.t
	t.Helper()
	s.mu.Lock()
	s.nextID++
	name := fmt.Sprintf("%s-%d", s.name, s.nextID)
	s.mu.Unlock()
	cfgPath := filepath.Join(s.h.dir, name+".yml")
	if err := os.WriteFile(cfgPath, []byte(s.childConfig(group, name)), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(s.h.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd := exec.Command(s.h.bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "SALESPULSE_PRIVACY_KEY="+privacyKey)
	cmd.Stdout = logf
	cmd.Stderr = io.MultiWriter(logf, pw)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	adminCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			if sent {
				continue
			}
			line := sc.Text()
			if k := strings.Index(line, `"admin":"`); k >= 0 {
				rest := line[k+len(`"admin":"`):]
				if e := strings.IndexByte(rest, '"'); e > 0 {
					adminCh <- rest[:e]
					sent = true
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		logf.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	select {
	case p.admin = <-adminCh:
	case <-p.done:
		t.Fatalf("%s exited at start: %v\n%s", name, p.err, tail(logPath, 30))
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not start within 90s\n%s", name, tail(logPath, 30))
	}
	return p
}

// kill is kill -9: no drain, no commit, no leave-group.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// stop is SIGTERM (the orderly stop) and waits for the exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v\n%s", p.name, p.err, tail(p.logPath, 20))
		}
	case <-time.After(90 * time.Second):
		t.Errorf("%s did not stop within 90s of SIGTERM; killing it", p.name)
		p.kill()
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// metric reads a metric from the child's /metrics: its one unlabelled
// sample, or the sum of its labelled ones.
func (p *proc) metric(name string) (float64, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sum, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
		if rest, ok := strings.CutPrefix(line, name+"{"); ok {
			_, val, _ := strings.Cut(rest, "} ")
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", line, err)
			}
			sum, found = sum+v, true
		}
	}
	if found {
		return sum, nil
	}
	return 0, fmt.Errorf("%s not in /metrics", name)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// produce writes evs keyed (the default franz-go partitioner hashes keys
// like Java's: a lead's events share a partition) and waits for every ack.
func (s *scenario) produce(evs []event) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for k := range evs {
		wg.Add(1)
		s.cl.Produce(ctx, &kgo.Record{Topic: s.topic, Key: evs[k].key, Value: evs[k].value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if first != nil {
		s.t.Fatalf("produce: %v", first)
	}
}

// produceSlowly produces evs in chunks spread over d, so the pipeline is
// consuming while faults happen. It returns when everything is acked.
func (s *scenario) produceSlowly(evs []event, chunks int, d time.Duration) {
	s.t.Helper()
	per := (len(evs) + chunks - 1) / chunks
	tick := d / time.Duration(chunks)
	for k := 0; k < len(evs); k += per {
		next := time.Now().Add(tick)
		s.produce(evs[k:min(k+per, len(evs))])
		time.Sleep(time.Until(next))
	}
}

// produceKcat produces evs with kcat (librdkafka), the non-Go client
// users feed SalesPulse with: key TAB value per line, murmur2 partitioning
// as Java and franz-go do.
func (s *scenario) produceKcat(evs []event) {
	t := s.t
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (apt-get install kcat; scripts/test.sh installs it): %v", err)
	}
	var in bytes.Buffer
	for _, e := range evs {
		if bytes.ContainsAny(e.key, "\t\n") || bytes.ContainsAny(e.value, "\n") {
			t.Fatalf("event %s cannot be written as a kcat line", e.id)
		}
		in.Write(e.key)
		in.WriteByte('\t')
		in.Write(e.value)
		in.WriteByte('\n')
	}
	cmd := exec.Command(kcat, "-P", "-b", strings.Join(s.h.brokers, ","), "-t", s.topic, "-K", "\t",
		"-X", "partitioner=murmur2_random", "-X", "acks=all", "-X", "enable.idempotence=true")
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
}

// endOffsets sums the topic's end offsets: the records in it.
func (s *scenario) records(topic string) int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		s.t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// waitCommitted waits until group has committed every partition of the
// topic up to its end, and so have the group's lead flows their lead
// topics (docs/leads.md: <group>.contacts and <group>.leads, groups and
// topics alike): every record is stored (or dead-lettered), routed,
// resolved, paired and acknowledged.
//
// Then it waits for the stream's nudge (docs/leads.md, "Quiet streams"):
// once the ingest group has consumed everything and the source topic has
// been quiet for leads.resolve_idle, the app writes one into every
// contacts partition, and the resolvers resolve the touches the stream
// left pending. Read before it, a run's tables would depend on whether
// its nudge had come yet.
func (s *scenario) waitCommitted(group string, timeout time.Duration) {
	s.t.Helper()
	hops := []string{group + ".contacts", group + ".leads"}
	s.waitGroup(group, s.topic, timeout)
	for _, hop := range hops {
		s.waitGroup(hop, hop, timeout)
	}
	s.waitNudged(group+".contacts", timeout)
	for _, hop := range hops {
		s.waitGroup(hop, hop, timeout)
	}
}

// waitNudged waits until the last record of every partition of topic is a
// nudge (leads.NudgeID). The app writes nudges only once the ingest group
// has committed everything, after the records it forwarded, and not
// transactionally, so nothing follows a nudge that came after the whole
// stream.
func (s *scenario) waitNudged(topic string, timeout time.Duration) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing, err := s.unnudged(topic)
		switch {
		case err == nil && missing == 0:
			return
		case time.Now().After(deadline):
			t.Fatalf("%s: %d partitions do not end with a nudge after %s (err %v)", topic, missing, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// unnudged counts the partitions of topic whose last record is no nudge.
func (s *scenario) unnudged(topic string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return -1, err
	}
	from := map[int32]kgo.Offset{}
	last := map[int32]int64{} // the offset a nudge must be at
	ends.Each(func(o kadm.ListedOffset) {
		last[o.Partition] = o.Offset - 1
		from[o.Partition] = kgo.NewOffset().At(max(0, o.Offset-64))
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.h.brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	nudged := map[int32]bool{}
	reached := 0
	for reached < len(last) {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		if fs.NumRecords() == 0 {
			break // the rest end with a control record (a transaction's), or are empty
		}
		fs.EachRecord(func(r *kgo.Record) {
			var i schemas.Interaction
			nudged[r.Partition] = schemas.DecodeWire(&i, r.Value) == nil && i.Watermark && i.EventID == leads.NudgeID
			if r.Offset == last[r.Partition] {
				reached++
			}
		})
	}
	missing := 0
	for p, off := range last {
		if off < 0 || !nudged[p] {
			missing++
		}
	}
	return missing, nil
}

func (s *scenario) waitGroup(group, topic string, timeout time.Duration) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lag int64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err1 := s.adm.ListEndOffsets(ctx, topic)
		offs, err2 := s.adm.FetchOffsets(ctx, group)
		cancel()
		if err := errors.Join(err1, err2); err == nil {
			lag = 0
			ends.Each(func(e kadm.ListedOffset) {
				c, ok := offs.Lookup(e.Topic, e.Partition)
				switch {
				case !ok || c.At < 0:
					lag += e.Offset
				case e.Offset > c.At:
					lag += e.Offset - c.At
				}
			})
			if lag == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: committed lag still %d after %s", group, lag, timeout)
		}
		alive := 0
		s.mu.Lock()
		for _, p := range s.procs {
			if p.alive() {
				alive++
			}
		}
		s.mu.Unlock()
		if alive == 0 {
			t.Fatalf("group %s: committed lag %d and no instance is running", group, lag)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// seeded returns the scenario's random source: fault moments are random
// but reproducible.
func seeded(name string) *rand.Rand {
	var h uint64 = genSeed
	for _, c := range name {
		h = h*31 + uint64(c)
	}
	return rand.New(rand.NewPCG(h, h^0x9e3779b97f4a7c15))
}
