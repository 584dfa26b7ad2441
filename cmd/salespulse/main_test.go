package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/testenv"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCommandLine(t *testing.T) {
	f := func(args string, wantCode int, wantOut string) {
		t.Helper()
		code, out, errOut := runCmd(t, strings.Fields(args)...)
		if code != wantCode {
			t.Errorf("salespulse %s: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
		}
		if !strings.Contains(out+errOut, wantOut) {
			t.Errorf("salespulse %s: output lacks %q\nstdout: %s\nstderr: %s", args, wantOut, out, errOut)
		}
	}
	f("", exitUsage, "Usage:")
	f("help", exitOK, "salespulse dev")
	f("frobnicate", exitUsage, `unknown command "frobnicate"`)
	f("dev --help", exitOK, "-no-generator")
	f("run --help", exitOK, "--config")
	f("run", exitUsage, "--config is required")
	f("ingest --help", exitOK, "/webhooks/<vendor>")
	f("ingest", exitUsage, "--config is required")
	f("gen --help", exitOK, "-format string")
	f("gen --format xml", exitError, `--format "xml"`)
	f("config", exitUsage, "config validate FILE")
	f("config validate /nonexistent.yml", exitError, "no such file")
	f("privacy erase", exitUsage, "--subject")
	f("alerts", exitUsage, "alerts budget")
	f("alerts budget --help", exitOK, "-clickhouse-addr")
	f("alerts budget", exitUsage, "exactly one of --config and --dev")
	f("alerts budget --dev --from tomorrow", exitError, "--from")
	f("alerts budget --dev --from 2026-11-30 --to 2026-11-02", exitError, "is not after")
	f("alerts budget --dev --data-dir /nonexistent", exitError, "is --data-dir the one")
	f("score", exitUsage, "score (train|evaluate)")
	f("score evaluate", exitUsage, "exactly one of --config, --dev and --generate")
	f("score evaluate --generate 40 --teams 1", exitOK, "base rate")
	f("version", exitOK, "salespulse")
}

// TestScoreTrainIsReproducible trains twice on the same generated deals
// and compares the model files byte for byte.
func TestScoreTrainIsReproducible(t *testing.T) {
	dir := t.TempDir()
	var files [2][]byte
	for k := range files {
		out := filepath.Join(dir, fmt.Sprint(k, ".json"))
		if code, o, e := runCmd(t, "score", "train", "--generate", "40", "--teams", "1", "--out", out); code != exitOK {
			t.Fatalf("score train: exit %d\n%s%s", code, o, e)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files[k] = b
	}
	if !bytes.Equal(files[0], files[1]) || !bytes.Contains(files[0], []byte(`"coef"`)) {
		t.Fatalf("two trainings differ:\n%s\n%s", files[0], files[1])
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv("SALESPULSE_PRIVACY_KEY", strings.Repeat("k", 32))
	code, out, _ := runCmd(t, "config", "example")
	if code != exitOK {
		t.Fatal("config example failed")
	}
	p := filepath.Join(t.TempDir(), "salespulse.yml")
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, "config", "validate", p); code != exitOK || !strings.Contains(out, "is valid") {
		t.Errorf("the printed example does not validate: exit %d\n%s%s", code, out, errOut)
	}
}

// TestPrivacyErase stores a contact through the real pipeline on embedded
// services, then erases the subject with the CLI and checks that exactly
// that subject's rows are gone.
func TestPrivacyErase(t *testing.T) {
	testenv.RequireCHDB(t)
	dir := t.TempDir()
	st, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Partitions: 2,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack: %v", err)
		}
	})

	ev := func(id, email string) *kgo.Record {
		return &kgo.Record{Topic: "sales.canonical", Key: []byte(id), Value: []byte(fmt.Sprintf(
			`{"event_id":%q,"occurred_at":"2026-11-03T10:00:00Z","source":"crm","type":"message.inbound","lead_id":"L-%s","contact":{"email":%q,"name":"Some Body"}}`, id, id, email))}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, ev("a1", "Ada@Example.com"), ev("a2", " ada@example.com "), ev("b1", "bob@example.com")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	count := func(where string) string {
		out, err := st.Engine().Query(ctx, "SELECT count() FROM salespulse.interactions WHERE "+where, "TabSeparated")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(30 * time.Second)
	for count("1") != "3" {
		if time.Now().After(deadline) {
			t.Fatalf("rows did not arrive: %s", count("1"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := count("contact_key != ''"); n != "3" {
		t.Fatalf("rows with a contact key: %s, want 3", n)
	}

	cfg := filepath.Join(dir, "erase.yml")
	os.WriteFile(cfg, []byte("clickhouse:\n  protocol: http\n  addresses: ["+st.ClickHouseAddr()+"]\n"), 0o600)
	code, out, errOut := runCmd(t, "privacy", "erase", "--dev", "--config", cfg, "--subject", "ADA@example.com")
	if code != exitOK {
		t.Fatalf("erase: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "erased 2 rows") {
		t.Errorf("erase said %q, want 2 rows (both spellings of Ada's address)", out)
	}
	if n := count("1"); n != "1" {
		t.Errorf("rows after erase: %s, want 1 (Bob's)", n)
	}
	if n := count("event_id = 'b1'"); n != "1" {
		t.Errorf("Bob's row was erased too")
	}
}
