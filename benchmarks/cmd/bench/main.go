// Command bench is SalesPulse's end-to-end load harness (`make bench`).
//
// Each run starts a fresh embedded stack in its own process (kfake Kafka and
// chDB behind ClickHouse's HTTP interface, through internal/devstack, in a
// temporary data dir on 127.0.0.1:0 ports), preloads it with generated
// events, then starts one or two pipeline processes (internal/app, the
// wiring `salespulse run` uses, plus the anomaly stage) and measures:
//
//   - drain: events/s from pipeline start to the last batch ClickHouse
//     acknowledged, CPU seconds per million events of the pipeline
//     processes (getrusage over the drain window only: the preload ran
//     before it) and of the stack, peak RSS, ClickHouse insert sizes;
//   - scale: the same with two pipeline processes in one consumer group;
//   - live: a target rate with event time = produce time, and the event →
//     queryable latency seen by polling ClickHouse for marker events, the
//     pipeline's own event → stored histogram, and event → alert stored;
//   - deadline-* and provisional-* (make bench-deadline): SLA deadline →
//     webhook (deadline.go) and answer → provisional fact queryable
//     (provisional.go), on an idle stream and under load;
//   - --compare-leads (make bench-hop): the scenarios with leads.disabled
//     and with the lead hop, interleaved round by round (hop.go);
//   - --ab OTHER: the scenarios with OTHER's pipeline (another build's
//     bench binary) and with this build's, interleaved round by round on
//     stacks of this build (ab.go);
//   - peer (make bench-peer): the same drain by housepower/clickhouse_sinker
//     and by SalesPulse ingest-only and default, interleaved (peer.go).
//
// Profiles of the pipeline and stack processes land in benchmarks/out/.
// benchmarks/README.md explains the figures.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

type config struct {
	childFlags
	dumpDir     string
	runs        int
	scenarios   string
	liveRate    int
	liveFor     time.Duration
	realKafka   bool
	profiles    bool
	timeout     time.Duration
	resultsFile string
	compare     bool
	tag         string // compare, ab: "-before" or "-after", in log dir names
	abBin       string // --ab: the other build's bench binary
	pipelineBin string // the pipeline children's binary ("": this one)
	// deadline scenarios (deadline.go)
	deadlineLeads int
	deadlineSpan  time.Duration
	dashScale     float64 // dashboards scenario (dashboards.go)
	dashBefore    string
	// peer scenario (peer.go)
	sinkerTarball string
	peerSystems   string
}

func main() {
	var c config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&c.role, "role", "", "internal: stack or pipeline (child processes)")
	fs.StringVar(&c.dir, "dir", "", "internal: stack data dir")
	fs.IntVar(&c.instance, "instance", 0, "internal: pipeline instance number")
	fs.StringVar(&c.brokers, "brokers", "", "internal: Kafka brokers")
	fs.StringVar(&c.clickhouse, "clickhouse", "", "internal: ClickHouse HTTP address")
	fs.StringVar(&c.group, "group", "", "internal: consumer group")
	fs.StringVar(&c.orgFile, "org", "", "internal: org file")

	fs.Int64Var(&c.events, "events", 300_000, "interactions preloaded per drain run")
	fs.IntVar(&c.runs, "runs", 3, "runs per scenario; the table shows medians")
	fs.StringVar(&c.scenarios, "scenarios", "canonical,vendor,scale,live", "comma-separated: canonical (drain, canonical JSON), vendor (drain, vendor payloads), scale (drain, canonical, 1 vs 2 pipeline processes), live, deadline-idle and deadline-loaded (SLA deadline → webhook), provisional-idle and provisional-loaded (answer → provisional fact queryable), provisional-touch-idle and provisional-touch-loaded (the same with answers that name only the lead's phone, resolved by the contacts flow) (make bench-deadline; not in the default set), peer (side by side with clickhouse_sinker, make bench-peer; not in the default set)")
	fs.StringVar(&c.mix, "mix", "canonical", "internal: preload mix, canonical or vendor")
	fs.IntVar(&c.partitions, "partitions", 12, "partitions per topic")
	fs.IntVar(&c.teams, "teams", 40, "generated teams (8 reps each, 147 interactions/rep/day)")
	fs.Uint64Var(&c.seed, "seed", 1, "generator seed")
	fs.BoolVar(&c.anomaly, "matrix", true, "give the detectors an authorization matrix (discount rules on)")
	fs.StringVar(&c.hook, "hook", "", "internal: webhook URL")
	fs.IntVar(&c.workers, "workers", 0, "pipeline.workers (0: the pipeline's default)")
	fs.Int64Var(&c.readAhead, "read-ahead", 0, "kafka.read_ahead_bytes of the pipelines (0: the default, -1: off)")
	fs.DurationVar(&c.linger, "linger", 0, "kafka.batch_linger, the ingest flow's (0: the source's default)")
	fs.DurationVar(&c.leadsLinger, "leads-linger", 0, "leads.batch_linger, the contacts and leads flows' (0: the default)")
	fs.IntVar(&c.batchRows, "batch-rows", 0, "kafka.batch_max_rows (0: the source's default)")
	fs.IntVar(&c.inFlight, "in-flight-batches", 0, "kafka.max_in_flight_batches (0: the source's default)")
	fs.DurationVar(&c.derivedLinger, "derived-linger", 0, "clickhouse.derived_group_linger (0: the sink's default)")
	fs.DurationVar(&c.groupLinger, "group-linger", 0, "clickhouse.group_linger (0: the sink's default)")
	fs.IntVar(&c.groupMaxRows, "group-max-rows", 0, "clickhouse.group_max_rows (0: the sink's default)")
	fs.IntVar(&c.derivedGroupMaxRows, "derived-group-max-rows", 0, "clickhouse.derived_group_max_rows (0: the sink's default)")
	fs.IntVar(&c.liveRate, "live-rate", 30000, "live mode: events/s produced with event time = now")
	fs.DurationVar(&c.liveFor, "live-for", 10*time.Second, "live mode: how long to produce")
	fs.BoolVar(&c.realKafka, "real-kafka", false, "consume from the real Kafka broker of scripts/kafka.sh (started by the harness) instead of kfake; ClickHouse stays embedded")
	fs.StringVar(&c.out, "out", "benchmarks/out", "profiles, logs and results go here")
	fs.StringVar(&c.dumpDir, "dump-tables", "", "drains: after each run write what the pipeline derived (facts, provisional rows, alerts, alert transitions; sorted TSV, without the columns that name batches or insert times) into DIR/<scenario>-<run>/, so two drains of one input can be diffed (benchmarks/README.md, \"The hop made exact\")")
	fs.BoolVar(&c.profiles, "profiles", true, "write CPU and allocation profiles of the first run of each scenario")
	fs.BoolVar(&c.leads, "leads", true, "route through the lead topics (the default); false runs with leads.disabled: true, one flow")
	fs.BoolVar(&c.compare, "compare-leads", false, "the lead hop's cost (make bench-hop): every scenario with leads.disabled (before) and with the hop (after), interleaved round by round; prints a before/after table")
	fs.StringVar(&c.abBin, "ab", "", "another build's bench binary: every scenario with its pipeline (before) and with this build's (after), interleaved round by round, the order alternating; prints a before/after table (benchmarks/README.md, \"A/B of two builds\")")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up a run after this long")
	fs.StringVar(&c.hookRules, "hook-rules", "", "internal: comma-separated rules the webhook gets")
	fs.DurationVar(&c.tickAfter, "tick-after", 0, "leads.tick_after of the pipelines (0: the default, 1m); deadline scenarios: 5s unless set")
	fs.DurationVar(&c.tickLag, "tick-lag", 0, "leads.tick_lag of the pipelines (0: the default, 10s); deadline scenarios: 1s unless set")
	fs.DurationVar(&c.alertOOO, "alert-ooo", 0, "anomaly.out_of_orderness of the pipelines (0: the default, 1m); deadline scenarios: 1s unless set")
	fs.IntVar(&c.deadlineLeads, "deadline-leads", 200, "deadline scenarios: leads whose SLA deadlines are staggered over --deadline-span; provisional scenarios: leads answered over --deadline-span")
	fs.DurationVar(&c.deadlineSpan, "deadline-span", 40*time.Second, "deadline scenarios: the span of wall time the deadlines fall in; provisional scenarios: the span the answers fall in")
	fs.Float64Var(&c.dashScale, "dash-scale", 1, "dashboards scenario (make bench-dashboards): reps = 1,000 × this, 10 per team")
	fs.StringVar(&c.dashBefore, "dash-before", "", "dashboards scenario: also time this dashboard JSON's panels (an older sales-kbis.json), as \"before: ...\"")
	fs.BoolVar(&c.ingestOnly, "ingest-only", false, "internal: the pipeline stores raw rows only (peer scenario)")
	fs.StringVar(&c.sinkerTarball, "sinker-tarball", os.Getenv("SALESPULSE_SINKER_TARBALL"), "peer scenario: clickhouse_sinker's source tarball (default $SALESPULSE_SINKER_TARBALL, else "+defaultSinkerTarball+" next to the repository)")
	fs.StringVar(&c.peerSystems, "peer-systems", strings.Join(peerSystemNames, ","), "peer scenario: the systems run each round, in order")
	fs.Parse(os.Args[1:])

	var err error
	switch c.role {
	case "stack":
		err = runStack(c.childFlags)
	case "pipeline":
		err = runPipeline(c.childFlags)
	case "":
		err = orchestrate(c)
	default:
		err = fmt.Errorf("unknown role %q", c.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// child is a running child process and its line protocol.
type child struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// startChild runs bin ("": this binary) with args as a child process.
func startChild(bin, name, logPath string, args ...string) (*child, error) {
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = exe
	}
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Commands go on fd 3 and answers come on fd 4, never on stdin and
	// stdout: libchdb reads the data of an INSERT without inline data from
	// fd 0 (clickhouse-local's behaviour), and writes to stdout. stdin is
	// /dev/null.
	cmd.Stdout, cmd.Stderr = logf, logf
	cr, in, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	out, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{cr, w}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cr.Close()
	w.Close()
	go func() { cmd.Wait(); logf.Close() }()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &child{name: name, cmd: cmd, in: in, out: sc}, nil
}

func (c *child) send(cmd string) { io.WriteString(c.in, cmd+"\n") }

func (c *child) recv(v any) error {
	if !c.out.Scan() {
		return fmt.Errorf("%s exited (see its log)", c.name)
	}
	if err := json.Unmarshal(c.out.Bytes(), v); err != nil {
		return fmt.Errorf("%s answered %q: %w", c.name, c.out.Bytes(), err)
	}
	var e struct{ Error string }
	if json.Unmarshal(c.out.Bytes(), &e) == nil && e.Error != "" {
		return fmt.Errorf("%s: %s", c.name, e.Error)
	}
	return nil
}

func (c *child) ask(cmd string, v any) error { c.send(cmd); return c.recv(v) }

// quit asks the child to stop cleanly and kills it if it does not.
func (c *child) quit() {
	c.send("quit")
	c.in.Close()
	done := make(chan struct{})
	go func() {
		for c.out.Scan() {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		c.cmd.Process.Kill()
	}
}

// result is one run's figures.
type result struct {
	Scenario  string  `json:"scenario"`
	Run       int     `json:"run"`
	Instances int     `json:"instances"`
	Events    float64 `json:"events"`
	Records   int64   `json:"records"`
	AvgBytes  float64 `json:"avg_record_bytes"`
	Seconds   float64 `json:"seconds"`
	EventsPS  float64 `json:"events_per_s"`
	PipeCPU   float64 `json:"pipeline_cpu_s"`
	// PipeSys is PipeCPU's kernel part: page faults of a growing heap and
	// the network calls. Between machines it moved more than the user part.
	PipeSys  float64            `json:"pipeline_sys_s,omitempty"`
	StackCPU float64            `json:"stack_cpu_s"`
	PipeRSS  float64            `json:"pipeline_peak_rss_mb"`
	StackRSS float64            `json:"stack_peak_rss_mb"`
	Shares   []float64          `json:"instance_shares"`
	Inserts  map[string]insStat `json:"inserts"`
	Groups   map[string]float64 `json:"groups,omitempty"` // grouped inserts' groups by "flow/reason"
	// State is what the state store produced, by namespace ("forwarded":
	// the lead topics' messages).
	State  map[string]stateStat `json:"state,omitempty"`
	DLQ    float64              `json:"dead_letters"`
	Alerts float64              `json:"alerts"`
	// Redelivered: lead events leads.Dedup dropped as copies (vendor
	// retries, a call's second leg).
	Redelivered float64 `json:"redelivered,omitempty"`
	HeapMB      float64 `json:"pipeline_heap_inuse_mb"`
	// live
	VisP50   float64 `json:"visible_p50_s"`
	VisP99   float64 `json:"visible_p99_s"`
	VisN     int     `json:"visible_markers"`
	HistP50  float64 `json:"stored_hist_p50_s"`
	HistP99  float64 `json:"stored_hist_p99_s"`
	AlertP50 float64 `json:"alert_p50_s"`
	AlertP99 float64 `json:"alert_p99_s"`
	AlertN   float64 `json:"alerts_measured"`
	HookP50  float64 `json:"hook_p50_s"`
	HookP99  float64 `json:"hook_p99_s"`
	HookN    float64 `json:"hooks_measured"`
	// deadline scenarios: Hook* are deadline → webhook; these its range.
	DeadlineMin float64 `json:"deadline_hook_min_s,omitempty"`
	DeadlineMax float64 `json:"deadline_hook_max_s,omitempty"`
	LagAtStop   float64 `json:"ingest_lag_at_stop,omitempty"` // deadline-loaded, provisional-loaded: records behind when the traffic stopped
	// provisional scenarios: answer → provisional row seen by a poll.
	ProvP50 float64 `json:"provisional_p50_s,omitempty"`
	ProvP99 float64 `json:"provisional_p99_s,omitempty"`
	ProvMin float64 `json:"provisional_min_s,omitempty"`
	ProvMax float64 `json:"provisional_max_s,omitempty"`
	ProvN   float64 `json:"provisional_measured,omitempty"`
	Warning string  `json:"warning,omitempty"`
	// Leads: the run routed through the lead topics (three flows).
	Leads bool `json:"leads"`
	// Side: "before" (the other build's pipeline) or "after" (this
	// build's) in an --ab run.
	Side string `json:"side,omitempty"`
	// FlowE2E: event → stored per flow (live runs; see endMsg).
	FlowE2E map[string]latency `json:"flow_e2e,omitempty"`
	// Flows: interactions each flow counted as stored.
	Flows map[string]float64 `json:"flow_stored,omitempty"`
}

func (r *result) cpuPerM() float64       { return r.PipeCPU / r.Events * 1e6 }
func (r *result) stackPerM() float64     { return r.StackCPU / r.Events * 1e6 }
func (r *result) eventsPerCore() float64 { return r.Events / r.PipeCPU }

func orchestrate(c config) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if c.realKafka {
		cmd := exec.Command("scripts/kafka.sh", "start")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("scripts/kafka.sh start: %w", err)
		}
		defer exec.Command("scripts/kafka.sh", "stop").Run()
		c.brokers = "127.0.0.1:19092"
		if p := os.Getenv("KAFKA_PORT"); p != "" {
			c.brokers = "127.0.0.1:" + p
		}
	}
	fmt.Fprintf(os.Stderr, "bench: %d events per drain run, %d runs per scenario, %d partitions, authorization matrix %v, kafka %s\n",
		c.events, c.runs, c.partitions, c.anomaly, map[bool]string{false: "embedded kfake", true: "real broker " + c.brokers}[c.realKafka])
	var all []result
	if c.abBin != "" {
		var err error
		if all, err = abRounds(c); err != nil {
			return err
		}
	} else if c.compare {
		// Interleaved: each round runs every scenario once without and
		// once with the hop, so a noisy neighbour on this shared machine
		// lands on both modes alike.
		for run := 1; run <= c.runs; run++ {
			for _, sc := range strings.Split(c.scenarios, ",") {
				for _, hop := range []bool{false, true} {
					cm := c
					cm.leads, cm.tag = hop, map[bool]string{false: "-before", true: "-after"}[hop]
					rs, err := runScenario(cm, sc, run)
					if err != nil {
						return fmt.Errorf("%s%s run %d: %w", sc, cm.tag, run, err)
					}
					all = append(all, rs...)
				}
			}
		}
	} else {
		for _, sc := range strings.Split(c.scenarios, ",") {
			for run := 1; run <= c.runs; run++ {
				rs, err := runScenario(c, sc, run)
				if err != nil {
					return fmt.Errorf("%s run %d: %w", sc, run, err)
				}
				all = append(all, rs...)
			}
		}
	}
	raw, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	resFile := filepath.Join(c.out, "results.json")
	if err := os.WriteFile(resFile, raw, 0o644); err != nil {
		return err
	}
	if c.abBin != "" {
		printAB(os.Stdout, all, c)
		fmt.Printf("\nresults: %s\n", resFile)
		return nil
	}
	if c.compare {
		printCompare(os.Stdout, all, c)
		fmt.Printf("\nresults: %s\n", resFile)
		return nil
	}
	printTable(os.Stdout, all, c)
	bpl, err := openLeadBytes()
	if err == nil {
		fmt.Printf("\nbytes per open lead (anomaly stage state, 200k unanswered leads): %.0f B\n", bpl)
	}
	fmt.Println("pipeline/window (KBI pairing state): see its package benchmark (benchmarks/README.md lists the command)")
	fmt.Printf("\nresults: %s; profiles: %s/*/\n", resFile, c.out)
	printProfiles(c.out, all)
	return nil
}

// runScenario runs one round of scenario sc.
func runScenario(c config, sc string, run int) ([]result, error) {
	var rs []result
	var err error
	switch sc {
	case "canonical", "vendor":
		var r result
		r, err = drain(c, sc, sc, 1, run)
		rs = append(rs, r)
	case "scale":
		for _, n := range []int{1, 2} {
			var r result
			r, err = drain(c, fmt.Sprintf("scale-%d", n), "canonical", n, run)
			rs = append(rs, r)
			if err != nil {
				break
			}
		}
	case "live":
		var r result
		r, err = live(c, run)
		rs = append(rs, r)
	case "deadline-idle", "deadline-loaded":
		var r result
		r, err = deadline(c, run, sc == "deadline-loaded")
		rs = append(rs, r)
	case "provisional-idle", "provisional-loaded", "provisional-touch-idle", "provisional-touch-loaded":
		var r result
		r, err = provisional(c, run, strings.HasSuffix(sc, "-loaded"), strings.Contains(sc, "-touch-"))
		rs = append(rs, r)
	case "dashboards":
		var r result
		r, err = dashboards(c, run)
		rs = append(rs, r)
	case "peer":
		rs, err = peer(c, run)
	default:
		return nil, fmt.Errorf("unknown scenario %q", sc)
	}
	if err != nil {
		return nil, err
	}
	for k := range rs {
		rs[k].Leads = c.leads
		if sc == "peer" {
			continue // peer printed each system as it finished
		}
		fmt.Fprintf(os.Stderr, "bench: %-14s run %d: %s\n", rs[k].Scenario+c.tag, run, rs[k].brief())
	}
	return rs, nil
}

func (r result) brief() string {
	s := fmt.Sprintf("%.0f events in %.2fs = %.0f events/s", r.Events, r.Seconds, r.EventsPS)
	if r.PipeCPU > 0 && r.Events > 0 {
		s += fmt.Sprintf(", pipeline %.2f CPU-s/M (%.0f events/s per core), stack %.2f CPU-s/M", r.cpuPerM(), r.eventsPerCore(), r.stackPerM())
	}
	if len(r.Shares) > 1 {
		s += fmt.Sprintf(", shares %.2f", r.Shares)
	}
	if r.VisN > 0 {
		s += fmt.Sprintf(", visible p50 %.3fs p99 %.3fs", r.VisP50, r.VisP99)
	}
	if strings.HasPrefix(r.Scenario, "deadline") {
		s += fmt.Sprintf(", deadline → hook p50 %.3fs p99 %.3fs (min %.3fs, max %.3fs, %.0f alerts), ingest lag at the end %.0f",
			r.HookP50, r.HookP99, r.DeadlineMin, r.DeadlineMax, r.HookN, r.LagAtStop)
	}
	if strings.HasPrefix(r.Scenario, "provisional") {
		s += fmt.Sprintf(", answer → provisional row p50 %.3fs p99 %.3fs (min %.3fs, max %.3fs, %.0f answers), ingest lag at the end %.0f",
			r.ProvP50, r.ProvP99, r.ProvMin, r.ProvMax, r.ProvN, r.LagAtStop)
	}
	if r.Warning != "" {
		s += " (" + r.Warning + ")"
	}
	return s
}

type runEnv struct {
	dir   string
	logs  string
	stack *child
	ready readyMsg
	pipes []*child
	group string // the pipelines' consumer group (the ingest flow's)
	leads bool   // the pipelines run the lead hop
	adm   *kadm.Client
}

func (e *runEnv) close() {
	for _, p := range e.pipes {
		p.quit()
	}
	if e.adm != nil {
		e.adm.Close()
	}
	if e.stack != nil {
		e.stack.quit()
	}
	os.RemoveAll(e.dir)
}

// setup starts a stack (preloaded with events interactions of mix) and n
// pipeline processes, ready but not consuming yet.
func setup(c config, name, mix string, events int64, n int, profile bool, hook string) (*runEnv, error) {
	dir, err := os.MkdirTemp("", "salespulse-bench-")
	if err != nil {
		return nil, err
	}
	e := &runEnv{dir: dir, logs: filepath.Join(c.out, name)}
	os.RemoveAll(e.logs)
	if err := os.MkdirAll(e.logs, 0o755); err != nil {
		return e, err
	}
	args := []string{"-role=stack", "-dir", dir, "-partitions", strconv.Itoa(c.partitions), "-events", strconv.FormatInt(events, 10),
		"-mix", mix, "-teams", strconv.Itoa(c.teams), "-seed", strconv.FormatUint(c.seed, 10), "-brokers", c.brokers}
	if profile {
		args = append(args, "-out", e.logs)
	}
	if e.stack, err = startChild("", "stack", filepath.Join(e.logs, "stack.log"), args...); err != nil {
		return e, err
	}
	if err := e.stack.recv(&e.ready); err != nil {
		return e, fmt.Errorf("stack: %w", err)
	}
	if e.ready.Error != "" {
		return e, fmt.Errorf("stack: %s", e.ready.Error)
	}
	group := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	e.group, e.leads = group, c.leads
	for i := range n {
		args := []string{"-role=pipeline", "-instance", strconv.Itoa(i), "-brokers", strings.Join(e.ready.Kafka, ","),
			"-clickhouse", e.ready.ClickHouse, "-group", group, "-org", e.ready.OrgFile,
			"-matrix=" + strconv.FormatBool(c.anomaly), "-hook", hook, "-workers", strconv.Itoa(c.workers), "-read-ahead", strconv.FormatInt(c.readAhead, 10), "-linger", c.linger.String(), "-leads-linger", c.leadsLinger.String(),
			"-batch-rows", strconv.Itoa(c.batchRows), "-in-flight-batches", strconv.Itoa(c.inFlight), "-derived-linger", c.derivedLinger.String(), "-group-linger", c.groupLinger.String(), "-group-max-rows", strconv.Itoa(c.groupMaxRows),
			"-leads=" + strconv.FormatBool(c.leads), "-hook-rules", c.hookRules,
			"-tick-after", c.tickAfter.String(), "-tick-lag", c.tickLag.String(), "-alert-ooo", c.alertOOO.String(),
			"-ingest-only=" + strconv.FormatBool(c.ingestOnly)}
		if c.derivedGroupMaxRows != 0 {
			// Only when set: a pipeline child of a build before the flag
			// (bench --ab) does not know it.
			args = append(args, "-derived-group-max-rows", strconv.Itoa(c.derivedGroupMaxRows))
		}
		if profile {
			args = append(args, "-out", e.logs)
		}
		p, err := startChild(c.pipelineBin, fmt.Sprintf("pipeline-%d", i), filepath.Join(e.logs, fmt.Sprintf("pipeline-%d.log", i)), args...)
		if err != nil {
			return e, err
		}
		e.pipes = append(e.pipes, p)
		var rd readyMsg
		if err := p.recv(&rd); err != nil {
			return e, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return e, nil
}

// start opens the measured window in every process and starts consuming.
func (e *runEnv) start() time.Time {
	e.stack.send("go")
	t0 := time.Now()
	for _, p := range e.pipes {
		p.send("go")
	}
	return t0
}

func (e *runEnv) stats() (statMsg, []statMsg, error) {
	var tot statMsg
	var each []statMsg
	for _, p := range e.pipes {
		var s statMsg
		if err := p.ask("stat", &s); err != nil {
			return tot, nil, err
		}
		tot.Stored += s.Stored
		tot.DeadLetter += s.DeadLetter
		tot.Lag += s.Lag
		tot.LastStored = math.Max(tot.LastStored, s.LastStored)
		if tot.Flows == nil {
			tot.Flows = map[string]flowStat{}
		}
		for name, f := range s.Flows {
			a := tot.Flows[name]
			a.Stored += f.Stored
			a.Lag += f.Lag
			a.LastStored = math.Max(a.LastStored, f.LastStored)
			tot.Flows[name] = a
		}
		each = append(each, s)
	}
	return tot, each, nil
}

// finish closes the measured window and folds the reports into r.
func (e *runEnv) finish(r *result) error {
	var sm endMsg
	if err := e.stack.ask("end", &sm); err != nil {
		return err
	}
	r.StackCPU = sm.Usage.UserS + sm.Usage.SysS
	r.StackRSS = sm.Usage.MaxRSSMB
	r.Inserts, r.Groups, r.State = map[string]insStat{}, map[string]float64{}, map[string]stateStat{}
	var stored []float64
	var total float64
	for _, p := range e.pipes {
		var m endMsg
		if err := p.ask("end", &m); err != nil {
			return err
		}
		r.PipeCPU += m.Usage.UserS + m.Usage.SysS
		r.PipeSys += m.Usage.SysS
		r.PipeRSS = math.Max(r.PipeRSS, m.Usage.MaxRSSMB)
		r.HeapMB = math.Max(r.HeapMB, m.HeapInuseMB)
		r.DLQ += m.Stat.DeadLetter
		r.Alerts += m.Alerts
		r.Redelivered += m.Redelivered
		for k, n := range m.Groups {
			r.Groups[k] += n
		}
		for ns, st := range m.State {
			a := r.State[ns]
			a.Records += st.Records
			a.Bytes += st.Bytes
			r.State[ns] = a
		}
		for t, s := range m.Inserts {
			a := r.Inserts[t]
			a.Rows += s.Rows
			a.Inserts += s.Inserts
			a.Seconds += s.Seconds
			a.Bytes += s.Bytes
			r.Inserts[t] = a
		}
		stored = append(stored, m.Stat.Stored)
		total += m.Stat.Stored
		r.HistP50, r.HistP99 = m.E2EP50, m.E2EP99 // one instance in live mode
		r.FlowE2E = m.FlowE2E
		if r.Flows == nil {
			r.Flows = map[string]float64{}
		}
		for name, f := range m.Stat.Flows {
			r.Flows[name] += f.Stored
		}
	}
	for _, s := range stored {
		r.Shares = append(r.Shares, s/total)
	}
	return nil
}

// drainPoll is how often drain asks the pipelines for progress.
const drainPoll = 500 * time.Millisecond

// drain measures how fast n pipeline processes empty a preloaded topic set.
func drain(c config, scenario, mix string, n, run int) (result, error) {
	r := result{Scenario: scenario, Run: run, Instances: n}
	e, err := setup(c, fmt.Sprintf("%s%s-%d", scenario, c.tag, run), mix, c.events, n, c.profiles && run == 1, "")
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return r, err
	}
	r.Events, r.Records = float64(e.ready.Expected), e.ready.Records
	r.AvgBytes = float64(e.ready.ValueBytes) / float64(e.ready.Records)
	t0 := e.start()
	deadline := t0.Add(c.timeout)
	var tot statMsg
	var still time.Time
	var last float64
	var hopLag int64
	for {
		// Each stat is a Gather of the pipeline's registry, counted in
		// its CPU (~2 % of a drain's at 10 a second); the measured time
		// ends at the pipeline's own last stored batch, not at this
		// poll, so polling less often loses nothing.
		time.Sleep(drainPoll)
		if tot, _, err = e.stats(); err != nil {
			return r, err
		}
		// Done when every event is a raw row (or a dead letter) and every
		// flow's group has committed everything: with the hop, the
		// contacts and leads flows are still at work when the last raw
		// row is stored.
		if tot.Stored+tot.DeadLetter >= r.Events {
			ok, lag, err := e.caughtUp(context.Background())
			if err != nil {
				return r, err
			}
			if ok {
				break
			}
			hopLag = lag
		}
		// The expected count is exact for both mixes; this only guards
		// against a decoder that starts skipping records: lag gone and
		// nothing stored for 5s means the topics are drained.
		if tot.Stored != last {
			last, still = tot.Stored, time.Now()
		} else if tot.Stored > 0 && tot.Stored+tot.DeadLetter < r.Events && tot.Lag == 0 && time.Since(still) > 5*time.Second {
			r.Warning = fmt.Sprintf("stopped at %.0f of %.0f expected", tot.Stored+tot.DeadLetter, r.Events)
			r.Events = tot.Stored + tot.DeadLetter
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("timed out after %s: %.0f of %.0f stored, flows %+v, groups' lag %d", c.timeout, tot.Stored, r.Events, tot.Flows, hopLag)
		}
	}
	if c.dumpDir != "" {
		if err := dumpTables(e.ready.ClickHouse, filepath.Join(c.dumpDir, fmt.Sprintf("%s%s-%d", scenario, c.tag, run))); err != nil {
			return r, err
		}
	}
	// The pipeline's own wall time of its last stored batch: the poll
	// interval above does not add to the measured time.
	end := time.Unix(0, int64(tot.LastStored*1e9))
	r.Seconds = end.Sub(t0).Seconds()
	r.EventsPS = r.Events / r.Seconds
	if err := e.finish(&r); err != nil {
		return r, err
	}
	return r, nil
}

// dumpedTables are what --dump-tables writes: what the leads flow
// derives, which a drain of the same input must reproduce exactly, with
// the columns left out that name the batch (its cut is the pace's) or
// the insert time.
var dumpedTables = []struct{ name, query string }{
	{"lead_response_facts", "SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) FROM salespulse.lead_response_facts ORDER BY ALL"},
	{"lead_response_provisional", "SELECT lead_id, trigger_event_id, response_event_id FROM salespulse.lead_response_provisional FINAL WHERE is_deleted = 0 ORDER BY ALL"},
	{"alerts", "SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, mapSort(`values`), at, ends_at FROM salespulse.alerts FINAL ORDER BY ALL"},
	{"alert_transitions", "SELECT id, rule, state, at FROM salespulse.alert_transitions ORDER BY ALL"},
}

// dumpTables writes dumpedTables into dir, one sorted TSV each.
func dumpTables(addr, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range dumpedTables {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := chQuery(ctx, addr, t.query+" FORMAT TSV")
		cancel()
		if err != nil {
			return fmt.Errorf("dump %s: %w", t.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, t.name+".tsv"), []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// chQuery runs a query over ClickHouse's HTTP interface.
func chQuery(ctx context.Context, addr, q string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/?"+url.Values{"query": {q}}.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("clickhouse: %s: %s", resp.Status, b)
	}
	return string(b), err
}

// ---- table

func printTable(w io.Writer, all []result, c config) {
	by := map[string][]result{}
	var order []string
	for _, r := range all {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	med := func(rs []result, f func(*result) float64) float64 {
		var xs []float64
		for k := range rs {
			if v := f(&rs[k]); !math.IsNaN(v) && !math.IsInf(v, 0) {
				xs = append(xs, v)
			}
		}
		return median(xs)
	}
	if c.scenarios == "peer" {
		printPeer(w, all, c)
		return
	}
	fmt.Fprintf(w, "\nSalesPulse end to end on this machine (%d cores), medians of %d runs\n\n", numCPU(), c.runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tevents\tavg B/rec\tevents/s\tpipeline CPU-s/M\tevents/s per pipeline core\tstack CPU-s/M\tpipeline RSS MB\tstack RSS MB\trows/insert\tinserts/s\tshares\t")
	for _, s := range order {
		rs := by[s]
		if s == "live" || strings.HasPrefix(s, "deadline") || strings.HasPrefix(s, "provisional") || strings.HasPrefix(s, "peer") {
			continue
		}
		ins := func(r *result) insStat { return r.Inserts["interactions"] }
		var shares string
		if len(rs[0].Shares) > 1 {
			var parts []string
			for k := range rs[0].Shares {
				parts = append(parts, fmt.Sprintf("%.2f", med(rs, func(r *result) float64 {
					if k < len(r.Shares) {
						return r.Shares[k]
					}
					return math.NaN()
				})))
			}
			shares = strings.Join(parts, "/")
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.0f\t%.0f\t%.1f\t%s\t\n", s,
			med(rs, func(r *result) float64 { return r.Events }),
			med(rs, func(r *result) float64 { return r.AvgBytes }),
			med(rs, func(r *result) float64 { return r.EventsPS }),
			med(rs, (*result).cpuPerM),
			med(rs, (*result).eventsPerCore),
			med(rs, (*result).stackPerM),
			med(rs, func(r *result) float64 { return r.PipeRSS }),
			med(rs, func(r *result) float64 { return r.StackRSS }),
			med(rs, func(r *result) float64 { i := ins(r); return i.Rows / i.Inserts }),
			med(rs, func(r *result) float64 { return ins(r).Inserts / r.Seconds }),
			shares)
	}
	tw.Flush()
	printDeadline(w, by, c)
	printProvisional(w, by, c)
	printPeer(w, all, c)
	if rs := by["live"]; len(rs) > 0 {
		fmt.Fprintf(w, "\nlive at %d events/s for %s (event time = produce time), medians of %d runs:\n", c.liveRate, c.liveFor, len(rs))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "latency\tp50\tp99\tsamples\t")
		fmt.Fprintf(tw, "event → queryable (marker events polled in ClickHouse every 100ms)\t%s\t%s\t%.0f\t\n",
			latCell(rs, func(r *result) (float64, float64) { return r.VisP50, float64(r.VisN) }), latCell(rs, func(r *result) (float64, float64) { return r.VisP99, float64(r.VisN) }),
			med(rs, func(r *result) float64 { return float64(r.VisN) }))
		fmt.Fprintf(tw, "event → ClickHouse ack (pipeline histogram, every event)\t%s\t%s\t%.0f\t\n",
			latCell(rs, func(r *result) (float64, float64) { return r.HistP50, r.Events }), latCell(rs, func(r *result) (float64, float64) { return r.HistP99, r.Events }),
			med(rs, func(r *result) float64 { return r.Events }))
		fmt.Fprintf(tw, "event → alert row stored (discount alerts)\t%s\t%s\t%.0f\t\n",
			latCell(rs, func(r *result) (float64, float64) { return r.AlertP50, r.AlertN }), latCell(rs, func(r *result) (float64, float64) { return r.AlertP99, r.AlertN }),
			med(rs, func(r *result) float64 { return r.AlertN }))
		fmt.Fprintf(tw, "event → webhook received (discount alerts, signed POST from the dispatcher)\t%s\t%s\t%.0f\t\n",
			latCell(rs, func(r *result) (float64, float64) { return r.HookP50, r.HookN }), latCell(rs, func(r *result) (float64, float64) { return r.HookP99, r.HookN }),
			med(rs, func(r *result) float64 { return r.HookN }))
		tw.Flush()
	}
}

// latCell is the median over rs of a latency whose results.json form went
// through finite (no samples: 0; beyond the histogram's last bucket: -1),
// printed as what it means rather than as 0.000s or -1.000s. f gives the
// figure and its sample count.
func latCell(rs []result, f func(*result) (v, n float64)) string {
	var vs []float64
	for k := range rs {
		v, n := f(&rs[k])
		switch {
		case n == 0:
			continue // no samples in this run
		case v < 0:
			v = math.Inf(1)
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return "n/a (no samples)"
	}
	return secs(median(vs))
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	if math.IsInf(s, 1) {
		return "> last bucket"
	}
	return fmt.Sprintf("%.3fs", s)
}

// printProfiles prints the top of the first profiled run's profiles.
func printProfiles(out string, all []result) {
	if _, err := exec.LookPath("go"); err != nil {
		return
	}
	seen := map[string]bool{}
	var dirs []string
	for _, r := range all {
		if r.Run == 1 && !seen[r.Scenario] {
			seen[r.Scenario] = true
			dirs = append(dirs, filepath.Join(out, r.Scenario+"-1"))
		}
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		for _, p := range []string{"pipeline-0.cpu.pprof", "stack.cpu.pprof"} {
			f := filepath.Join(d, p)
			if _, err := os.Stat(f); err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			b, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=12", f).Output()
			cancel()
			if err != nil {
				continue
			}
			fmt.Printf("\n== %s (go tool pprof -top)\n%s", f, trimPprof(string(b)))
		}
	}
}

// trimPprof drops pprof's header lines up to "Showing".
func trimPprof(s string) string {
	if k := strings.Index(s, "Showing top"); k >= 0 {
		if j := strings.LastIndex(s[:k], "\n"); j >= 0 {
			return s[j+1:]
		}
	}
	return s
}
