package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/sources/canonical"
)

// syncBuffer is a bytes.Buffer safe for the command's logger and the
// test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestIngestCommand runs `salespulse ingest` alone on kfake: no ClickHouse,
// readiness once Kafka answers, a signed canonical webhook accepted and in
// its topic, metrics served, a clean stop.
func TestIngestCommand(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "sales.canonical"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	t.Setenv("SALESPULSE_TEST_WEBHOOK_KEY", "cmd-test-key")
	hooks, admin := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "salespulse.yml")
	err = os.WriteFile(cfg, fmt.Appendf(nil, `http: {addr: %q}
kafka:
  brokers: [%s]
ingest:
  listen: %q
  vendors:
    canonical: {secret_env: SALESPULSE_TEST_WEBHOOK_KEY}
`, admin, cluster.ListenAddrs()[0], hooks), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- cmdIngest(ctx, []string{"--config", cfg}, io.Discard, &stderr) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := []byte(`{"event_id":"cmd-1","occurred_at":"2026-11-03T09:59:00Z","source":"crm","type":"lead.created","lead_id":"L-1","rep_id":"rep-1"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+hooks+"/webhooks/canonical", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(canonical.SignatureHeader, canonical.Sign([]byte("cmd-test-key"), body, time.Now().Unix()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("sales.canonical"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	recs := cl.PollFetches(pctx).Records()
	pcancel()
	if len(recs) != 1 || !bytes.Equal(recs[0].Value, body) || string(recs[0].Key) != "L-1" {
		t.Fatalf("records %v", recs)
	}
	m, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if !strings.Contains(string(mb), `salespulse_ingest_requests_total{outcome="accepted",reason="ok",vendor="canonical"} 1`) {
		t.Errorf("metrics lack the accepted request:\n%s", mb)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ingest stopped with: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "cmd-1") {
		t.Error("a request body reached the log")
	}
}
