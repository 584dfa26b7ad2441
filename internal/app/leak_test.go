package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/privacy"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sources/canonical"
)

var errInjected = errors.New("injected failure")

// TestNewClosesWhatItOpenedOnEveryError fails New after each of its
// construction steps in turn and checks that no goroutine of the app
// outlives the failed New: every client, connection pool and background
// loop it opened was closed. The embedded services' own goroutines (kfake,
// the chDB engine, the ClickHouse HTTP server's accept loop) are started
// first and ignored; a connection the app left open would still show, as
// its client-side goroutines.
func TestNewClosesWhatItOpenedOnEveryError(t *testing.T) {
	testenv.RequireCHDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))

	cluster, _, chAddr := startServices(t, log, "sales.canonical")
	services := []goleak.Option{
		goleak.IgnoreCurrent(),
		// The server's accept loop, which may not have started yet; the
		// goroutines serving the app's connections are not ignored.
		goleak.IgnoreAnyFunction("github.com/salespulse/salespulse/embedded/chdb.(*Server).Serve.func1"),
	}

	var cfg Config
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Topics = map[string]string{canonical.DefaultTopic: canonical.Name}
	cfg.ClickHouse.Addresses = []string{chAddr}
	cfg.ClickHouse.Protocol = "http"
	cfg.ClickHouse.Compression = "none"
	cfg.Privacy.Key = privacy.DevKey()
	// A hook, so New builds the alert dispatcher (a consumer group client).
	cfg.Alerts.Hooks = []alert.HookConfig{{Name: "leak", Type: alert.HookWebhook, URL: "http://127.0.0.1:1/hook", Secret: "s"}}
	// And the acknowledgement endpoint (its listener).
	cfg.Alerts.Ack.Listen = "127.0.0.1:0"

	leaked := func(what string) {
		t.Helper()
		if err := goleak.Find(services...); err != nil {
			t.Fatalf("%s: %v", what, err) // later steps would only repeat it
		}
	}

	// A successful New names the steps; Close releases an App that never ran.
	// (It also sets the alert budget's denominators from the org: two
	// teams under one manager, three reps.)
	var steps []string
	reg := prometheus.NewRegistry()
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}, {ID: "t2", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "r2", TeamID: "t1"}, {ID: "r3", TeamID: "t2"}}}
	a, err := New(ctx, cfg, Options{Logger: log, Registry: reg, Org: org, failAfter: func(step string) error {
		steps = append(steps, step)
		return nil
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP salespulse_alert_recipients People of the org file by recipient role (rep, manager, team: teams): what pages per recipient divide by.
# TYPE salespulse_alert_recipients gauge
salespulse_alert_recipients{role="manager"} 1
salespulse_alert_recipients{role="rep"} 3
salespulse_alert_recipients{role="team"} 2
`), "salespulse_alert_recipients"); err != nil {
		t.Error(err)
	}
	if err := a.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	leaked("New, then Close")
	for _, want := range []string{"clickhouse sink", "kafka source", "topics", "state store", "window", "anomaly", "alert feed", "alert dispatcher", "pipeline", "ack listener"} {
		if !slices.Contains(steps, want) {
			t.Errorf("New reported steps %v, missing %q", steps, want)
		}
	}

	for _, step := range steps {
		_, err := New(ctx, cfg, Options{Logger: log, failAfter: func(s string) error {
			if s == step {
				return errInjected
			}
			return nil
		}})
		if !errors.Is(err, errInjected) {
			t.Fatalf("New failing after %s returned %v, want the injected failure", step, err)
		}
		leaked("New failing after " + step)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// startServices starts kfake with topic (2 partitions) and the embedded
// ClickHouse engine served over HTTP, both stopped by t.Cleanup; it
// returns the cluster, the engine and its HTTP address.
func startServices(t *testing.T, log *slog.Logger, topic string) (*kfake.Cluster, *chdb.Engine, string) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	engine, err := chdb.Open(chdb.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- chdb.NewServer(engine, log).Serve(srvCtx, ln) }()
	t.Cleanup(func() { stopSrv(); <-srvDone })
	return cluster, engine, ln.Addr().String()
}
