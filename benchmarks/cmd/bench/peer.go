package main

// Side by side with housepower/clickhouse_sinker (issue 17, `make
// bench-peer`): the same preloaded canonical events, the same stack (kfake +
// chDB over HTTP), the same `interactions` DDL with the same rollup view,
// drained by clickhouse_sinker and by SalesPulse, interleaved round by
// round so a noisy neighbour lands on every system alike.
//
// The sinker is a benchmark peer only: it is built from a source tarball
// (the Go module proxy does not serve it) in the user's cache directory,
// with its own go.mod, and nothing of it enters this module.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/sinks/clickhouse/migrate"
	"github.com/salespulse/salespulse/sources/canonical"
)

// defaultSinkerTarball is where the peer's source is looked for, relative
// to the repository's root, when neither --sinker-tarball nor
// SALESPULSE_SINKER_TARBALL names it.
const defaultSinkerTarball = "../shared/peers/clickhouse_sinker-8091e25.tar.gz"

// sinkerDB is the database the sinker writes: the project's migrations
// rendered for it, so its interactions table and the views on it are the
// ones SalesPulse writes in its own database.
const sinkerDB = "sinker"

// ErrNoSinker: the sinker's source tarball is not where it was looked for.
var ErrNoSinker = errors.New("clickhouse_sinker source tarball not found")

// peerSystemNames are the systems of the peer scenario, in the order each
// round runs them.
var peerSystemNames = []string{"sinker", "sinker-16k", "ingest", "salespulse"}

// sinkerBufferSizes are the sinker variants' task.bufferSize (0: its
// default, 2^18 rows).
var sinkerBufferSizes = map[string]int{"sinker": 0, "sinker-16k": 16384}

// sinkerExcluded are the interactions columns the sinker cannot fill from
// the canonical JSON: they are derived (direction from type), pseudonymised
// (contact_key from contact), or about the delivery (Kafka position,
// ingestion time, schema version). Left out of its inserts, they take the
// table's defaults.
var sinkerExcluded = []string{"direction", "contact_key", "schema_version",
	"kafka_topic", "kafka_partition", "kafka_first_offset", "kafka_last_offset", "ingested_at"}

// ingestOnly makes an app.Config store raw rows only
// (`pipeline.stages: [privacy]`): one flow, no lead hop, state store,
// windows or detectors.
func ingestOnly(ac *app.Config) {
	ac.Pipeline.Stages = []string{pipeline.StagePrivacy}
}

// peer runs one round of the peer scenario: every system of
// --peer-systems once, each on a fresh stack.
func peer(c config, run int) ([]result, error) {
	bin, err := sinkerBinary(c.sinkerTarball)
	if err != nil {
		return nil, err
	}
	// Profiling costs CPU the sinker does not pay.
	c.profiles = false
	var rs []result
	for _, sys := range strings.Split(c.peerSystems, ",") {
		var r result
		var err error
		switch sys {
		case "sinker", "sinker-16k":
			r, err = sinkerDrain(c, bin, sys, sinkerBufferSizes[sys], run)
		case "ingest", "salespulse":
			cs := c
			cs.ingestOnly = sys == "ingest"
			// One flow: the drain waits for no lead groups.
			cs.leads = c.leads && !cs.ingestOnly
			r, err = drain(cs, "peer-"+sys, "canonical", 1, run)
		default:
			err = fmt.Errorf("unknown peer system %q (want %s)", sys, strings.Join(peerSystemNames, ", "))
		}
		if err != nil {
			return rs, fmt.Errorf("%s: %w", sys, err)
		}
		r.Scenario = "peer-" + sys
		fmt.Fprintf(os.Stderr, "bench: %-16s run %d: %s\n", r.Scenario, run, r.brief())
		// A long run's finished systems survive its failure.
		if b, err := json.Marshal(r); err == nil {
			if f, err := os.OpenFile(filepath.Join(c.out, "peer-runs.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Write(append(b, '\n'))
				f.Close()
			}
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// sinkerDrain measures clickhouse_sinker draining the preloaded canonical
// topic into sinker.interactions.
func sinkerDrain(c config, bin, name string, bufferSize, run int) (result, error) {
	r := result{Scenario: "peer-" + name, Run: run, Instances: 1}
	e, err := setup(c, fmt.Sprintf("peer-%s-%d", name, run), "canonical", c.events, 0, false, "")
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return r, err
	}
	r.Events, r.Records = float64(e.ready.Expected), e.ready.Records
	r.AvgBytes = float64(e.ready.ValueBytes) / float64(e.ready.Records)
	ctx := context.Background()
	if err := migratePeerDB(ctx, e.ready.ClickHouse, sinkerDB); err != nil {
		return r, err
	}
	px, err := startInsertCounter(e.ready.ClickHouse)
	if err != nil {
		return r, err
	}
	defer px.close()
	cfgFile := filepath.Join(e.dir, "sinker.json")
	if err := writeSinkerConfig(cfgFile, px.addr(), e.ready.Kafka, fmt.Sprintf("sinker-%d", time.Now().UnixNano()), bufferSize); err != nil {
		return r, err
	}
	logf, err := os.Create(filepath.Join(e.logs, "sinker.log"))
	if err != nil {
		return r, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-local-cfg-file", cfgFile)
	cmd.Dir, cmd.Stdout, cmd.Stderr = e.dir, logf, logf

	t0 := e.start()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start clickhouse_sinker: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	// Done when every event is a row of sinker.interactions: count() of a
	// MergeTree is read from part metadata, so the poll costs the engine
	// next to nothing. The end time is the poll's, up to 100 ms late.
	deadline := t0.Add(c.timeout)
	q := "SELECT count() FROM " + sinkerDB + ".interactions"
	var end time.Time
	for {
		select {
		case err := <-exited:
			return r, fmt.Errorf("clickhouse_sinker exited: %v (see %s)", err, logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
		out, err := chQuery(ctx, e.ready.ClickHouse, q)
		if err != nil {
			stop()
			return r, err
		}
		n, _ := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if n >= r.Events {
			end = time.Now()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return r, fmt.Errorf("timed out after %s: %.0f of %.0f rows in %s.interactions", c.timeout, n, r.Events, sinkerDB)
		}
	}
	cpu, procErr := procCPU(cmd.Process.Pid)
	var sm endMsg
	if err := e.stack.ask("end", &sm); err != nil {
		stop()
		return r, err
	}
	stop()
	// What the sinker filled, checked after the window: a column it
	// mapped wrong would make the comparison meaningless.
	chk, err := chQuery(ctx, e.ready.ClickHouse, "SELECT countIf(event_id = ''), countIf(type = ''), countIf(rep_id = ''), countIf(toYear(occurred_at) < 2001) FROM "+sinkerDB+".interactions")
	if err != nil {
		return r, err
	}
	if f := strings.Fields(chk); len(f) != 4 || f[0] != "0" || f[1] != "0" || f[3] != "0" {
		r.Warning = "rows without event_id, type, rep_id or occurred_at: " + strings.Join(f, " ")
	}
	r.Seconds = end.Sub(t0).Seconds()
	r.EventsPS = r.Events / r.Seconds
	r.StackCPU = sm.Usage.UserS + sm.Usage.SysS
	r.StackRSS = sm.Usage.MaxRSSMB
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PipeRSS = float64(ru.Maxrss) / 1024
		if procErr != nil {
			// No /proc: the whole life, shutdown included.
			r.PipeCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		}
	}
	if procErr == nil {
		r.PipeCPU = cpu
	}
	r.Inserts = px.counts()
	ins := r.Inserts["interactions"]
	ins.Rows = r.Events
	r.Inserts["interactions"] = ins
	return r, nil
}

// migratePeerDB renders the project's migrations for database db and runs
// them over the HTTP interface: the same tables and materialized views
// SalesPulse's own sink creates in its database.
func migratePeerDB(ctx context.Context, addr, db string) error {
	stmts, err := migrate.Statements(db, "")
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := chQuery(ctx, addr, s); err != nil {
			return fmt.Errorf("migrate %s: %w", db, err)
		}
	}
	return nil
}

// writeSinkerConfig writes the sinker's configuration: its defaults except
// what it needs to find its input and output. autoSchema reads the table's
// columns and fills each from the JSON field of the same name, which is
// the canonical JSON's naming (docs/canonical-schema.md).
func writeSinkerConfig(path, chAddr string, brokers []string, group string, bufferSize int) error {
	host, port, err := net.SplitHostPort(chAddr)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	task := map[string]any{
		"name":           "salespulse-peer",
		"topic":          canonical.DefaultTopic,
		"consumerGroup":  group,
		"earliest":       true,
		"parser":         "fastjson",
		"autoSchema":     true,
		"tableName":      "interactions",
		"excludeColumns": sinkerExcluded,
	}
	if bufferSize > 0 {
		task["bufferSize"] = bufferSize
	}
	cfg := map[string]any{
		"clickhouse": map[string]any{
			"hosts":    [][]string{{host}},
			"port":     p,
			"db":       sinkerDB,
			"protocol": "http",
		},
		"kafka":    map[string]any{"brokers": strings.Join(brokers, ",")},
		"task":     task,
		"logLevel": "warn",
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// procCPU is a running process's user+sys CPU seconds, from
// /proc/<pid>/stat: the sinker is not a child that answers "end", so its
// window is read from outside, at the moment the drain is seen complete.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at
	// state, field 3; utime and stime are fields 14 and 15, in clock
	// ticks (USER_HZ, 100 on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (ut + st) / 100, nil
}

// insertCounter is a pass-through HTTP proxy in front of the stack's
// ClickHouse interface that counts INSERT statements per table: what the
// server received, independent of what the writer says it sent. It runs in
// the orchestrator, so its CPU is in neither measured figure.
type insertCounter struct {
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	inserts map[string]float64
}

func startInsertCounter(target string) (*insertCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	ic := &insertCounter{ln: ln, inserts: map[string]float64{}}
	ic.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ic.count(r)
		rp.ServeHTTP(w, r)
	})}
	go ic.srv.Serve(ln)
	return ic, nil
}

func (ic *insertCounter) addr() string { return ic.ln.Addr().String() }

func (ic *insertCounter) close() { ic.srv.Close() }

// count finds the statement in the query parameter (clickhouse-go's HTTP
// protocol puts it there, the data in the body) or else at the start of
// the body, which it puts back.
func (ic *insertCounter) count(r *http.Request) {
	q := r.URL.Query().Get("query")
	if q == "" && r.Body != nil {
		br := bufio.NewReaderSize(r.Body, 4096)
		head, _ := br.Peek(512)
		q = string(head)
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
	}
	if t := insertTable(q); t != "" {
		ic.mu.Lock()
		ic.inserts[t]++
		ic.mu.Unlock()
	}
}

func (ic *insertCounter) counts() map[string]insStat {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	out := map[string]insStat{}
	for t, n := range ic.inserts {
		out[t] = insStat{Inserts: n}
	}
	return out
}

var insertRE = regexp.MustCompile("(?is)^\\s*INSERT\\s+INTO\\s+(?:TABLE\\s+)?([^\\s(]+)")

// insertTable is the table an INSERT statement writes, without database
// and quotes; "" for anything else.
func insertTable(q string) string {
	m := insertRE.FindStringSubmatch(q)
	if m == nil {
		return ""
	}
	t := m[1]
	if k := strings.LastIndexByte(t, '.'); k >= 0 {
		t = t[k+1:]
	}
	return strings.Trim(t, "`\"")
}

// sinkerBinary builds clickhouse_sinker from its source tarball once per
// tarball content: the binary is cached under the user's cache directory
// by the tarball's SHA-256.
func sinkerBinary(tarball string) (string, error) {
	if tarball == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("%w: %v; set --sinker-tarball or SALESPULSE_SINKER_TARBALL", ErrNoSinker, err)
		}
		tarball = filepath.Join(root, defaultSinkerTarball)
	}
	f, err := os.Open(tarball)
	if err != nil {
		return "", fmt.Errorf("%w at %s: set --sinker-tarball or SALESPULSE_SINKER_TARBALL to its path (benchmarks/README.md, \"Side by side with clickhouse_sinker\"): %v", ErrNoSinker, tarball, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("read %s: %w", tarball, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "salespulse", "peers", "clickhouse_sinker-"+sum)
	bin := filepath.Join(dir, "clickhouse_sinker")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("tar", "xzf", tarball, "-C", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("extract %s: %v: %s", tarball, err, out)
	}
	mods, _ := filepath.Glob(filepath.Join(tmp, "*", "go.mod"))
	if len(mods) != 1 {
		return "", fmt.Errorf("%s: want one top directory with a go.mod, found %d", tarball, len(mods))
	}
	fmt.Fprintf(os.Stderr, "bench: building clickhouse_sinker from %s into %s (its dependencies come from the module proxy)\n", tarball, dir)
	build := exec.Command("go", "build", "-o", filepath.Join(tmp, "clickhouse_sinker"), "./cmd/clickhouse_sinker")
	// Its own module: not this repository's go.work or flags.
	build.Dir = filepath.Dir(mods[0])
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build clickhouse_sinker: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, "clickhouse_sinker"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// repoRoot is the nearest directory above the working directory holding
// this module's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/salespulse/salespulse\n") {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("not inside the salespulse repository")
		}
		dir = up
	}
}

// ---- table

// peerLabels describe the systems in the table.
var peerLabels = map[string]string{
	"sinker":     "clickhouse_sinker (defaults: bufferSize 2^18, flushInterval 10s)",
	"sinker-16k": "clickhouse_sinker, bufferSize 16384",
	"ingest":     "SalesPulse ingest-only",
	"salespulse": "SalesPulse default",
}

// printPeer prints the peer scenario's table (medians over rounds; ratios
// are the medians of each round's ratio to that round's sinker run) and
// writes it, as Markdown, to <out>/peer.md.
func printPeer(w io.Writer, all []result, c config) {
	by := map[string][]result{}
	var order []string
	for _, r := range all {
		sys, ok := strings.CutPrefix(r.Scenario, "peer-")
		if !ok {
			continue
		}
		if by[sys] == nil {
			order = append(order, sys)
		}
		by[sys] = append(by[sys], r)
	}
	if len(order) == 0 {
		return
	}
	med := func(rs []result, f func(*result) float64) float64 {
		var xs []float64
		for k := range rs {
			if v := f(&rs[k]); !math.IsNaN(v) && !math.IsInf(v, 0) {
				xs = append(xs, v)
			}
		}
		if len(xs) == 0 {
			return math.NaN()
		}
		return median(xs)
	}
	total := func(r *result) float64 { return r.cpuPerM() + r.stackPerM() }
	// ratio is the median over rounds of f(system) / f(sinker) in the
	// same round.
	ratio := func(sys string, f func(*result) float64) float64 {
		base := map[int]*result{}
		for k := range by["sinker"] {
			base[by["sinker"][k].Run] = &by["sinker"][k]
		}
		var xs []float64
		for k := range by[sys] {
			if b := base[by[sys][k].Run]; b != nil {
				xs = append(xs, f(&by[sys][k])/f(b))
			}
		}
		if len(xs) == 0 {
			return math.NaN()
		}
		return median(xs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nSide by side with clickhouse_sinker: %d canonical events, %d partitions, %d rounds (systems interleaved in each), %d cores, load average at the end %s\n\n",
		c.events, c.partitions, c.runs, numCPU(), loadAvg())
	b.WriteString("| system | events/s | pipeline CPU-s/M | stack CPU-s/M | total CPU-s/M | pipeline peak RSS | stack peak RSS | inserts into interactions | rows/insert | inserts, all tables | pipeline CPU ÷ sinker's | total CPU ÷ sinker's |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, sys := range order {
		rs := by[sys]
		label := peerLabels[sys]
		if label == "" {
			label = sys
		}
		insAll := func(r *result) float64 {
			var n float64
			for _, s := range r.Inserts {
				n += s.Inserts
			}
			return n
		}
		ins := func(r *result) float64 { return r.Inserts["interactions"].Inserts }
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %.2f | %.0f MB | %.0f MB | %.0f | %s | %.0f | %s | %s |\n", label,
			thousands(med(rs, func(r *result) float64 { return r.EventsPS })),
			med(rs, (*result).cpuPerM), med(rs, (*result).stackPerM), med(rs, total),
			med(rs, func(r *result) float64 { return r.PipeRSS }),
			med(rs, func(r *result) float64 { return r.StackRSS }),
			med(rs, ins),
			thousands(med(rs, func(r *result) float64 { return r.Events / ins(r) })),
			med(rs, insAll),
			twoPlaces(ratio(sys, (*result).cpuPerM)), twoPlaces(ratio(sys, total)))
	}
	io.WriteString(w, b.String())
	if err := os.WriteFile(filepath.Join(c.out, "peer.md"), []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench: write peer table:", err)
	}
}

// thousands formats a rounded number with thousands separators.
func thousands(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Round(f), 'f', 0, 64)
	for k := len(s) - 3; k > 0 && s[k-1] != '-'; k -= 3 {
		s = s[:k] + "," + s[k:]
	}
	return s
}

// twoPlaces formats a ratio; n/a without a sinker run to compare with.
func twoPlaces(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", f)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
