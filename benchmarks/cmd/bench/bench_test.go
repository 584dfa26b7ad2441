package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/internal/grafana"
	"github.com/salespulse/salespulse/internal/testenv"
)

// TestBenchRuns keeps `make bench` working: the harness, built as make
// bench builds it, drains a small canonical and a small vendor preload
// through a pipeline process against its stack process, and reports every
// event stored by every flow; then make bench-hop's comparison, once, at a
// tiny size. It measures nothing; figures come from make bench.
func TestBenchRuns(t *testing.T) {
	testenv.RequireCHDB(t)
	if testing.Short() {
		t.Skip("builds and runs the benchmark harness")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	dump := filepath.Join(dir, "tables")
	cmd := exec.Command(bin, "--scenarios", "canonical,vendor", "--runs", "1", "--events", "20000", "--teams", "4", "--partitions", "4", "--profiles=false", "--out", out,
		"--dump-tables", dump)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []struct {
		Scenario string             `json:"scenario"`
		Events   int                `json:"events"`
		PerS     float64            `json:"events_per_s"`
		Flows    map[string]float64 `json:"flow_stored"`
		Inserts  map[string]struct {
			Rows int `json:"rows"`
		} `json:"inserts"`
		Groups map[string]float64 `json:"groups"`
		State  map[string]struct {
			Records float64 `json:"records"`
			Bytes   float64 `json:"bytes"`
		} `json:"state"`
	}
	if err := json.Unmarshal(raw, &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs in results.json, want canonical and vendor", len(runs))
	}
	// What the leads flow derived, for diffing two drains.
	for _, sc := range []string{"canonical-1", "vendor-1"} {
		for _, tb := range []string{"lead_response_facts", "alerts", "alert_transitions"} {
			b, err := os.ReadFile(filepath.Join(dump, sc, tb+".tsv"))
			if err != nil || len(b) == 0 {
				t.Errorf("--dump-tables: %s/%s.tsv: %d bytes, %v", sc, tb, len(b), err)
			}
		}
	}
	// The same vendor input cut into other batches (a batch limit of 97
	// rows, other lingers) derives the same facts, alerts and alert
	// transitions: the lead hop, the resolver and the stages are exact
	// whatever the batching. Provisional rows are tentative and may
	// differ.
	dump2 := filepath.Join(dir, "tables2")
	cmd = exec.Command(bin, "--scenarios", "vendor", "--runs", "1", "--events", "20000", "--teams", "4", "--partitions", "4", "--profiles=false",
		"--out", filepath.Join(dir, "out2"), "--dump-tables", dump2, "--batch-rows", "97", "--linger", "40ms", "--leads-linger", "30ms")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench, other batches: %v\n%s", err, b)
	}
	for _, tb := range []string{"lead_response_facts", "alerts", "alert_transitions"} {
		a, errA := os.ReadFile(filepath.Join(dump, "vendor-1", tb+".tsv"))
		b, errB := os.ReadFile(filepath.Join(dump2, "vendor-1", tb+".tsv"))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v, %v", tb, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: %d lines with the default batches, %d with batches of 97 rows, and they differ", tb, bytes.Count(a, []byte("\n")), bytes.Count(b, []byte("\n")))
		}
	}
	for _, r := range runs {
		// The vendor mix renders some events as several records and skips
		// none, so every scenario stores exactly its preloaded events.
		if got := r.Inserts["interactions"].Rows; got != r.Events || r.Events == 0 || r.PerS <= 0 {
			t.Errorf("%s: %d events preloaded, %d interaction rows stored, %.0f events/s", r.Scenario, r.Events, got, r.PerS)
		}
		// The run ends when every flow has committed everything: the
		// leads flow's facts are in too, not only the raw rows.
		if r.Inserts["activity_daily"].Rows == 0 || r.Flows["leads"] == 0 || r.Flows["contacts"] == 0 {
			t.Errorf("%s: flows stored %v, activity_daily rows %d: the run stopped before the lead hop drained", r.Scenario, r.Flows, r.Inserts["activity_daily"].Rows)
		}
		// Both grouped flows closed groups, each under some reason.
		closed := map[string]float64{}
		for k, n := range r.Groups {
			flow, _, _ := strings.Cut(k, "/")
			closed[flow] += n
		}
		if closed["ingest"] == 0 || closed["leads"] == 0 {
			t.Errorf("%s: groups closed %v, want some of the ingest and the leads flow", r.Scenario, r.Groups)
		}
		// What the state store produced: the lead topics' messages, and
		// the stages' records with their bytes.
		if r.State["forwarded"].Records == 0 || r.State["dedup"].Records == 0 || r.State["dedup"].Bytes == 0 || r.State["window"].Records == 0 {
			t.Errorf("%s: state written %+v, want forwarded messages and dedup and window records", r.Scenario, r.State)
		}
	}

	// make bench-hop, once, tiny: a drain and a live run without and with
	// the hop.
	cmp := filepath.Join(dir, "hop")
	cmd = exec.Command(bin, "--compare-leads", "--scenarios", "canonical,live", "--runs", "1", "--events", "5000", "--teams", "4", "--partitions", "4",
		"--live-rate", "1000", "--live-for", "2s", "--profiles=false", "--out", cmp)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench --compare-leads: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "p99 event → KBI facts stored") {
		t.Errorf("bench --compare-leads printed no before/after table:\n%s", b)
	}
	if raw, err = os.ReadFile(filepath.Join(cmp, "results.json")); err != nil {
		t.Fatal(err)
	}
	var hop []struct {
		Scenario string                         `json:"scenario"`
		Leads    bool                           `json:"leads"`
		Flows    map[string]float64             `json:"flow_stored"`
		E2E      map[string]struct{ N float64 } `json:"flow_e2e"`
	}
	if err := json.Unmarshal(raw, &hop); err != nil {
		t.Fatal(err)
	}
	if len(hop) != 4 {
		t.Fatalf("%d runs in results.json, want canonical and live, each before and after", len(hop))
	}
	for _, r := range hop {
		// Before, one flow; after, three, and the leads flow's latency is
		// measured on the live run.
		if got := len(r.Flows) > 0 && r.Flows["leads"] > 0; got != r.Leads {
			t.Errorf("%s (leads %v): flows stored %v", r.Scenario, r.Leads, r.Flows)
		}
		if r.Scenario == "live" && r.Leads && r.E2E["leads"].N == 0 {
			t.Errorf("live with the hop: no event → stored samples of the leads flow: %v", r.E2E)
		}
	}

	// --ab, twice, tiny, with this build as the other build too: every
	// round runs both sides, in alternating order, and the table prints.
	ab := filepath.Join(dir, "ab")
	cmd = exec.Command(bin, "--ab", bin, "--scenarios", "canonical", "--runs", "2", "--events", "5000", "--teams", "4", "--partitions", "4",
		"--profiles=false", "--out", ab)
	if b, err = cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench --ab: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "A/B on this machine") || !strings.Contains(string(b), "inserts into interactions") {
		t.Errorf("bench --ab printed no before/after table:\n%s", b)
	}
	if raw, err = os.ReadFile(filepath.Join(ab, "results.json")); err != nil {
		t.Fatal(err)
	}
	var sides []struct {
		Run     int    `json:"run"`
		Side    string `json:"side"`
		Inserts map[string]struct {
			Rows int `json:"rows"`
		} `json:"inserts"`
	}
	if err := json.Unmarshal(raw, &sides); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range sides {
		got = append(got, strconv.Itoa(r.Run)+r.Side)
		if r.Inserts["interactions"].Rows != 5000 {
			t.Errorf("run %d %s: %d interaction rows stored, want 5000", r.Run, r.Side, r.Inserts["interactions"].Rows)
		}
	}
	if strings.Join(got, ",") != "1before,1after,2after,2before" {
		t.Errorf("--ab ran %v, want each round both sides, the order alternating", got)
	}
}

// TestBenchDashboards keeps make bench-dashboards working at a small
// scale: the year is loaded by SQL for 20 reps, every ClickHouse query of
// the Sales KBIs dashboard runs at 30 and 365 days for all teams and one
// team, read_rows comes back from X-ClickHouse-Summary, and the one-team
// read ratio is printed. It measures nothing.
func TestBenchDashboards(t *testing.T) {
	testenv.RequireCHDB(t)
	if testing.Short() {
		t.Skip("builds and runs the benchmark harness")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	b, err := exec.Command(bin, "--scenarios", "dashboards", "--runs", "1", "--dash-scale", "0.02", "--profiles=false", "--out", out).CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "one/all 365 d") || !strings.Contains(string(b), "full load, all teams") {
		t.Errorf("no dashboard table printed:\n%s", b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "dashboards.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep dashReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Interactions != 20*dashDays*dashPerRepDay || rep.Teams != 2 {
		t.Errorf("%d interactions in %d teams, want %d in 2", rep.Interactions, rep.Teams, 20*dashDays*dashPerRepDay)
	}
	ds, err := grafana.Load("../../../deploy/grafana/dashboards")
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, tm := range rep.Timings {
		runs[tm.Panel]++
	}
	for _, p := range ds["sales-kbis.json"].Panels {
		for _, tg := range p.Targets {
			if tg.RawSQL != "" && runs[p.Title] != 4 {
				t.Errorf("panel %q ran %d times, want 30 and 365 days × all teams and one team", p.Title, runs[p.Title])
			}
		}
	}
	for _, tm := range rep.Timings {
		if tm.Panel == "Interactions" && tm.ReadRows == 0 {
			t.Errorf("Interactions (%d days, %s): read_rows 0: X-ClickHouse-Summary not read", tm.Days, tm.Team)
		}
	}
	if rep.AccountsReps != 20 || rep.FullLoad[365] <= 0 {
		t.Errorf("accounts compared for %d reps, full 365-day load %.3fs", rep.AccountsReps, rep.FullLoad[365])
	}
	if rep.AccountsMonthlyDiffer != 0 {
		t.Errorf("%d reps: rep_accounts_monthly's year differs from rep_activity_daily's", rep.AccountsMonthlyDiffer)
	}
	for _, d := range rep.CopiesDiffer {
		t.Errorf("team-first copy differs from its source: %s", d)
	}
}

// TestBenchPeer keeps make bench-peer working: one round of the peer
// scenario at a tiny size, where the sinker's source tarball is present.
// SALESPULSE_PEER_TESTS=1 (CI) makes a missing tarball a failure instead
// of a skip.
func TestBenchPeer(t *testing.T) {
	testenv.RequireCHDB(t)
	if testing.Short() {
		t.Skip("builds clickhouse_sinker and runs the benchmark harness")
	}
	tarball := os.Getenv("SALESPULSE_SINKER_TARBALL")
	if tarball == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		tarball = filepath.Join(root, defaultSinkerTarball)
	}
	if _, err := os.Stat(tarball); err != nil {
		if os.Getenv("SALESPULSE_PEER_TESTS") == "1" {
			t.Fatalf("SALESPULSE_PEER_TESTS=1 but the clickhouse_sinker tarball is missing (set SALESPULSE_SINKER_TARBALL): %v", err)
		}
		t.Skipf("no clickhouse_sinker tarball (%v); SALESPULSE_PEER_TESTS=1 makes this a failure", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	const events = 20000
	cmd := exec.Command(bin, "--scenarios", "peer", "--runs", "1", "--events", strconv.Itoa(events), "--teams", "4", "--partitions", "4",
		"--out", out, "--sinker-tarball", tarball)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "Side by side with clickhouse_sinker") {
		t.Errorf("no peer table printed:\n%s", b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []struct {
		Scenario string  `json:"scenario"`
		Events   int     `json:"events"`
		PipeCPU  float64 `json:"pipeline_cpu_s"`
		Inserts  map[string]struct {
			Rows    int     `json:"rows"`
			Inserts float64 `json:"inserts"`
		} `json:"inserts"`
	}
	if err := json.Unmarshal(raw, &runs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Scenario)
		// Every system stores every event as a row of its interactions
		// table, in at least one insert, and used some CPU.
		ins := r.Inserts["interactions"]
		if r.Events != events || ins.Rows != events || ins.Inserts < 1 || r.PipeCPU <= 0 {
			t.Errorf("%s: %d events, %d rows in %v inserts, %.2f CPU-s", r.Scenario, r.Events, ins.Rows, ins.Inserts, r.PipeCPU)
		}
	}
	if want := "peer-sinker,peer-sinker-16k,peer-ingest,peer-salespulse"; strings.Join(got, ",") != want {
		t.Errorf("runs %v, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(out, "peer.md")); err != nil {
		t.Error(err)
	}
}

// TestLatCell: the live table says what results.json's 0 and -1 mean
// (no samples; beyond the histogram's last bucket) instead of printing
// them as latencies, and a run without samples does not drag the median.
func TestLatCell(t *testing.T) {
	type run struct{ v, n float64 }
	cell := func(rs ...run) string {
		res := make([]result, len(rs))
		for k, r := range rs {
			res[k].HookP99, res[k].HookN = r.v, r.n
		}
		return latCell(res, func(r *result) (float64, float64) { return r.HookP99, r.HookN })
	}
	for _, c := range []struct {
		got, want string
	}{
		{cell(run{0, 0}), "n/a (no samples)"},
		{cell(run{-1, 10}), "> last bucket"},
		{cell(run{0, 0}, run{1.5, 10}), "1.500s"},
		{cell(run{1, 10}, run{3, 10}, run{-1, 10}), "3.000s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
