package ingress_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/ingress"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/sources"
)

// now is the clock of every handler test: timestamps are signed relative
// to it.
var now = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

const public = "https://hooks.example.com"

// secrets are each vendor's current and previous secrets. The current one
// comes from the environment, the previous from a file.
var secrets = map[string][2]string{
	"hubspot":   {"hs-client-secret", "hs-old-secret"},
	"zoom":      {"zoom-secret-token", "zoom-old-token"},
	"aircall":   {"df76g76dpziygs567f0", "aircall-old-token"},
	"twilio":    {"twilio-auth-token", "twilio-old-token"},
	"graph":     {"secretClientValue", "oldClientValue"},
	"canonical": {"canonical-hmac-key", "canonical-old-key"},
}

type harness struct {
	t       *testing.T
	cluster *kfake.Cluster
	srv     *httptest.Server
	ing     *ingress.Server
	reg     *prometheus.Registry
	cl      *kgo.Client // reads the topics back
}

// newHarness serves every vendor with a webhook on kfake; edit changes the
// config before it is defaulted and validated.
func newHarness(t *testing.T, edit func(*ingress.Config)) *harness {
	t.Helper()
	var routes []ingress.Route
	var topics, names []string
	for _, v := range sources.Vendors() {
		if v.Webhook != nil {
			routes = append(routes, ingress.Route{Vendor: v.Name, Topic: v.DefaultTopic, Webhook: v.Webhook})
			topics = append(topics, v.DefaultTopic)
			names = append(names, v.Name)
		}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	cfg := ingress.Config{Listen: "127.0.0.1:0", PublicURL: public, ProduceTimeout: time.Second, Vendors: map[string]*ingress.VendorConfig{}}
	for name, s := range secrets {
		env := "SALESPULSE_TEST_" + name
		t.Setenv(env, s[0])
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(s[1]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Vendors[name] = &ingress.VendorConfig{SecretEnv: env, PreviousSecretFile: file}
	}
	if edit != nil {
		edit(&cfg)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(names); err != nil {
		t.Fatal(err)
	}
	prod, err := kafkaio.NewWebhookProducer([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	reg := prometheus.NewRegistry()
	ing, err := ingress.New(cfg, routes, prod, reg, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ing.Handler())
	t.Cleanup(srv.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &harness{t: t, cluster: cluster, srv: srv, ing: ing, reg: reg, cl: cl}
}

type response struct {
	code   int
	header http.Header
	body   string
}

// post sends body to target (a path and query under the server) with the
// headers given as name, value pairs.
func (h *harness) post(target, contentType string, body []byte, headers ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k := 0; k+1 < len(headers); k += 2 {
		req.Header.Set(headers[k], headers[k+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// records returns the next n records of the topics, failing if fewer
// arrive within 10 s, or if more arrive within a short grace after.
func (h *harness) records(n int) []*kgo.Record {
	h.t.Helper()
	var out []*kgo.Record
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fs := h.cl.PollFetches(ctx)
		cancel()
		out = append(out, fs.Records()...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	out = append(out, h.cl.PollFetches(ctx).Records()...)
	cancel()
	if len(out) != n {
		h.t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}
