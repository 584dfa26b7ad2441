package leads

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/schemas"
)

// runningApp is an app a test started (runApp).
type runningApp struct {
	*app.App
	ctx  context.Context // cancelled by stop
	reg  *prometheus.Registry
	stop func() error // cancels ctx and returns what Run returned
}

// runApp runs the app with c and org, logging warnings only, on a context
// of its own until stop (called at the test's end if the test did not).
func runApp(t *testing.T, c app.Config, org *schemas.Org) *runningApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	a, err := app.New(ctx, c, app.Options{Org: org, Registry: reg,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	r := &runningApp{App: a, ctx: ctx, reg: reg, stop: func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}}
	t.Cleanup(func() { r.stop() })
	return r
}

// createTopic creates a source topic of the suite's partitions.
func createTopic(t *testing.T, in *infra, topic string) {
	t.Helper()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(in.kafka.Addrs()...)))
	if _, err := adm.CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// waitRow polls query every 200 ms until it returns a row, scanned into
// dest, or until: false then.
func waitRow(t *testing.T, db *sql.DB, until time.Time, query string, dest ...any) bool {
	t.Helper()
	for {
		err := db.QueryRow(query).Scan(dest...)
		if err == nil {
			return true
		}
		if err != sql.ErrNoRows {
			t.Logf("query: %v", err)
		}
		if time.Now().After(until) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
