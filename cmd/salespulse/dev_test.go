package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/testenv"
)

// TestDevNoPipeline starts `salespulse dev --no-pipeline`, takes the
// config it prints, and runs the pipeline (app.New and Run, what
// `salespulse run` does) with it: events produced to the embedded Kafka
// arrive as rows in the embedded ClickHouse.
func TestDevNoPipeline(t *testing.T) {
	testenv.RequireCHDB(t)
	t.Setenv("SALESPULSE_PRIVACY_KEY", "0123456789abcdef0123456789abcdef-dev-test")
	dir := t.TempDir()
	devCtx, stopDev := context.WithCancel(context.Background())
	defer stopDev()
	var stdout, stderr syncBuffer
	devDone := make(chan error, 1)
	go func() {
		devDone <- cmdDev(devCtx, []string{"--no-pipeline", "--data-dir", dir, "--log-level", "warn",
			"--kafka-addr", "127.0.0.1:0", "--clickhouse-addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(stdout.String(), "Press Ctrl-C"); {
		select {
		case err := <-devDone:
			t.Fatalf("dev stopped: %v\n%s%s", err, stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev did not start:\n%s%s", stdout.String(), stderr.String())
		}
	}
	out := stdout.String()
	t.Log(out)
	// The snippet printed is the file written.
	start := strings.Index(out, "# The embedded services")
	end := strings.Index(out, "\ne.g. ")
	if start < 0 || end < start {
		t.Fatalf("no config snippet in:\n%s", out)
	}
	snippet := out[start:end]
	file, err := os.ReadFile(filepath.Join(dir, runConfigFile))
	if err != nil || string(file) != snippet {
		t.Fatalf("%s = %q (%v), printed %q", runConfigFile, file, err, snippet)
	}
	cfg, err := app.ParseConfig([]byte(snippet))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the printed config is invalid: %v", err)
	}

	// salespulse run, with the printed config as it is.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := app.New(ctx, *cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(runCtx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for k := range 10 {
		id := fmt.Sprintf("d%02d", k)
		recs = append(recs, &kgo.Record{Topic: "sales.canonical", Key: []byte(id), Value: fmt.Appendf(nil,
			`{"event_id":%q,"occurred_at":"2026-11-03T09:%02d:00Z","source":"crm","type":"lead.created","lead_id":"L-%d","contact":{"email":"lead%d@example.com"}}`,
			id, k, k, k)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	count := func() string {
		t.Helper()
		// Over ClickHouse's HTTP interface, as any client would.
		u := "http://" + cfg.ClickHouse.Addresses[0] + "/?query=" + url.QueryEscape("SELECT count() FROM salespulse.interactions")
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	for deadline := time.Now().Add(time.Minute); count() != "10"; {
		if time.Now().After(deadline) {
			t.Fatalf("rows in interactions: %s, want 10", count())
		}
		time.Sleep(100 * time.Millisecond)
	}

	stopRun()
	if err := <-runDone; err != nil {
		t.Errorf("run: %v", err)
	}
	stopDev()
	if err := <-devDone; err != nil {
		t.Errorf("dev: %v", err)
	}
	if !strings.Contains(stderr.String(), "stopped cleanly") {
		t.Errorf("dev stderr: %s", stderr.String())
	}
}

func TestDevNoPipelineRefusesPipelineFlags(t *testing.T) {
	code, out, errOut := runCmd(t, "dev", "--no-pipeline", "--seed", "7", "--format", "vendor")
	if code != exitError || !strings.Contains(errOut, "--format, --seed: not with --no-pipeline") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestDevProgress runs `salespulse dev` with a small generated
// organisation and reads its progress lines: once the generator is done
// and the pipeline has caught up, stored equals produced and the rows in
// ClickHouse, though the lead hop stores lead events a second time (its
// flow is not counted), and the source topics' lag is zero. The lead
// topics' lag is shown apart and not asserted: while the stream is quiet
// a tick goes into each of their partitions every minute (docs/leads.md,
// "Quiet streams") and counts until the leads flow has committed it.
func TestDevProgress(t *testing.T) {
	testenv.RequireCHDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cmdDev(ctx, []string{"--data-dir", t.TempDir(), "--log-level", "info",
			"--kafka-addr", "127.0.0.1:0", "--clickhouse-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
			"--ack-addr", "", "--console-addr", "",
			"--teams", "2", "--reps-per-team", "3", "--days", "3", "--progress", "200ms"}, &stdout, &stderr)
	}()
	line := regexp.MustCompile(`produced (\S+) \| stored (\S+) \| consumer lag (\S+) \(lead topics (\S+)\) \| dead letters (\S+) \| rows in ClickHouse (\S+)`)
	var last []string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		select {
		case err := <-done:
			t.Fatalf("dev stopped: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		// A line printed after the generator finished, so produced is final.
		out := stderr.String()
		fin := strings.Index(out, "generator finished")
		if ms := line.FindAllStringSubmatch(out, -1); fin >= 0 && len(ms) > 0 && strings.LastIndex(out, ms[len(ms)-1][0]) > fin {
			last = ms[len(ms)-1]
			produced, stored, lag, rows := last[1], last[2], last[3], last[6]
			if produced != "0" && stored == produced && rows == produced && lag == "0" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress line with stored = produced = rows and no lag; last %q\n%s", last, stderr.String())
		}
	}
	t.Logf("progress: %s", last[0])
	// The lead hop runs: its flow stores the lead events a second time,
	// which the progress line leaves out.
	series := `salespulse_pipeline_interactions_stored_total{pipeline="leads"}`
	for deadline := time.Now().Add(time.Minute); scrape(t, stdout.String(), series) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the leads flow stored nothing: the test would not tell the flows apart")
		}
	}
	time.Sleep(time.Second) // two more progress lines
	ms := line.FindAllStringSubmatch(stderr.String(), -1)
	if got := ms[len(ms)-1]; got[2] != last[1] {
		t.Errorf("after the leads flow stored: %s (stored is not produced, %s)", got[0], last[1])
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("dev: %v", err)
	}
}

// scrape reads one series from the metrics endpoint dev printed; 0 while
// it is not there.
func scrape(t *testing.T, banner, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`Metrics +(http://\S+/metrics)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no metrics address in:\n%s", banner)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	return 0 // not registered yet
}
