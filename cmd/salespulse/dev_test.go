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
