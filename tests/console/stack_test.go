package console

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/console/web"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/canonical"
	"github.com/salespulse/salespulse/sources/gen"
)

// This file is the one place that knows how the console is started: the
// embedded stack (kfake + chDB + the app, as `salespulse dev` runs it) with
// the generator's data and the console on a loopback port.
//
// CONSOLE_URL=http://127.0.0.1:8090/ drives a console that runs already
// (`make dev`'s) instead: then the test cannot fire an alert, and the
// personal data it looks for is that of the generator's default config.

// enableConsole sets c so that the app serves the console, with its UI,
// on a free loopback port.
func enableConsole(c *devstack.Config) error {
	c.App.Console.Listen = "127.0.0.1:0"
	c.Options.ConsoleAssets = web.Assets
	return nil
}

// consoleAddr is the console's host:port once the stack runs.
func consoleAddr(st *devstack.Stack) string { return st.App().ConsoleAddr() }

// genDays is the generator's span: the 28-day dataset, on which
// the closing note reports page load times. CONSOLE_GEN_DAYS=5 is quicker.
func genDays(t *testing.T) int {
	if s := os.Getenv("CONSOLE_GEN_DAYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CONSOLE_GEN_DAYS=%q: want a number of days >= 1", s)
		}
		return n
	}
	return 28
}

// liveSLA is the SLA of the chat channel, which the generator never uses:
// the live lead FireAlert makes breaches it on the wall clock within
// seconds, and the generator's leads keep the business-hours SLA.
const liveSLA = 3 * time.Second

// chDB allows one engine per process: the package's tests share one stack,
// stopped by TestMain.
var (
	shared    *consoleStack
	stopStack func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopStack != nil {
		stopStack()
	}
	os.Exit(code)
}

func startConsole(t *testing.T) *consoleStack {
	t.Helper()
	if shared != nil {
		return shared
	}
	if u := os.Getenv("CONSOLE_URL"); u != "" {
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		shared = &consoleStack{URL: u, Personal: contacts(t, gen.DefaultConfig())}
		return shared
	}

	ac := devstack.AppDefaults()
	ac.Anomaly.SLA.Channels = map[string]time.Duration{"chat": liveSLA}
	ac.Anomaly.SLA.ChannelClocks = map[string]anomaly.Clock{"chat": anomaly.ClockWall}
	// Deadlines come by on wall-clock ticks once the generator's stream
	// has gone quiet (tests/leads/ack_test.go does the same).
	ac.Leads.TickAfter = time.Second
	// A tick puts the watermark this far behind wall time (default 10 s):
	// the live lead's deadline then passes a second after it is due.
	ac.Leads.TickLag = time.Second
	ac.Anomaly.OutOfOrder = time.Second
	// Acknowledgement on loopback, without a token: the console forwards
	// its Acknowledge button to this handler.
	ac.Alerts.Ack.Listen = "127.0.0.1:0"

	gc := gen.DefaultConfig()
	gc.Days = genDays(t)
	// The generator's days end yesterday: the live leads (today) make
	// today the newest day in the data, and the pages' default range, the
	// last 28 days ending with it, must hold the generator's days on any
	// date CI runs (with the default start, 2026-11-02, it would not).
	today := time.Now().UTC().Truncate(24 * time.Hour)
	gc.Start = today.AddDate(0, 0, -gc.Days)
	// Market signals for the signals page (the generator's default is
	// none), a few of them unmatched. Forecasts are on by default.
	gc.Signals.PerDay = 10
	sc := devstack.Config{
		KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 4, Generator: true, Gen: gc, App: ac,
	}
	if err := enableConsole(&sc); err != nil {
		if testenv.Required(envBrowser) {
			t.Fatalf("%s is set but the console cannot be started: %v", envBrowser, err)
		}
		t.Skipf("console not available: %v", err)
	}
	requireCHDB(t)
	dir, err := os.MkdirTemp("", "salespulse-console-")
	if err != nil {
		t.Fatal(err)
	}
	sc.DataDir = dir
	// A deal-risk model, so the deal scores page has scores: trained on
	// other generated days, as tests/ops does.
	if sc.App.Anomaly.DealRisk.ModelFile, err = trainDealModel(dir); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("train the deal-risk model: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := devstack.Start(ctx, sc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		t.Fatalf("start stack: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	stopStack = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "stack stopped with:", err)
		}
		os.RemoveAll(dir)
	}

	// The pages are tested on the whole dataset: wait until the generator
	// has produced it and the pipeline has consumed it.
	start := time.Now()
	// Not consumer lag 0: with wall-clock ticks every second the lead
	// topics always carry a few fresh tick records.
	var last int64 = -1
	lastStored := -1.0
	for stable := 0; stable < 3; {
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("the generator's %d days not consumed after %s (produced %d)", gc.Days, time.Since(start), st.Produced())
		}
		time.Sleep(time.Second)
		p := st.Produced()
		stored := testenv.SumMetric(st.Registry(), "salespulse_pipeline_interactions_stored_total")
		if p > 0 && p == last && stored > 0 && stored == lastStored {
			stable++
		} else {
			stable = 0
		}
		last, lastStored = p, stored
	}
	t.Logf("stack: %d generator events over %d days consumed in %s", last, gc.Days, time.Since(start).Round(time.Second))

	org := st.Generator().Org()
	var n atomic.Int64
	shared = &consoleStack{
		URL:      "http://" + consoleAddr(st) + "/",
		Personal: contacts(t, gc),
		FireAlert: func(t *testing.T) string {
			t.Helper()
			return fireLiveLead(t, st, org, fmt.Sprintf("console-live-%d-%d", time.Now().Unix(), n.Add(1)))
		},
	}
	// The generator's events are weeks old: one live lead now gives the
	// overview's last 60 minutes a point and the alerts a live breach.
	shared.FireAlert(t)
	return shared
}

// requireCHDB is testenv.RequireCHDB, except that SALESPULSE_BROWSER_TESTS
// also makes a missing engine fatal: the browser suite needs the stack.
func requireCHDB(t *testing.T) {
	t.Helper()
	if p := chdb.ResolveLibPath(""); testenv.Required(envBrowser) {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is set but libchdb.so is missing at %s: run scripts/fetch-chdb.sh", envBrowser, p)
		}
	}
	testenv.RequireCHDB(t)
}

// fireLiveLead writes an inbound chat from a new lead, now: unanswered, it
// breaches the chat SLA (liveSLA) and lead_response_sla fires.
func fireLiveLead(t *testing.T, st *devstack.Stack, org *schemas.Org, lead string) string {
	t.Helper()
	var rep schemas.Rep
	for _, r := range org.Reps {
		if r.Role != "manager" && r.Role != "director" {
			rep = r
			break
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	i := schemas.Interaction{EventID: "evt-" + lead, OccurredAt: time.Now().Truncate(time.Millisecond), Source: "console-test",
		Type: schemas.TypeMessageInbound, Channel: schemas.ChannelChat, RepID: rep.ID, TeamID: rep.TeamID, LeadID: lead}
	i.Normalize()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: canonical.DefaultTopic, Key: []byte(lead), Value: schemas.AppendJSON(nil, &i)}).FirstErr(); err != nil {
		t.Fatalf("produce the live lead: %v", err)
	}
	return lead
}

// contacts replays the generator and returns its contacts' e-mails and
// phone numbers by personalKey.
func contacts(t *testing.T, gc gen.Config) map[string]bool {
	t.Helper()
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var i schemas.Interaction
	for {
		if _, ok := g.Next(&i); !ok {
			break
		}
		for _, s := range []string{i.Contact.Email, i.Contact.Phone, i.Contact.Mobile} {
			// Eight digits and more: shorter runs occur in any number.
			if k := personalKey(s); strings.Contains(k, "@") || len(k) >= 8 {
				out[k] = true
			}
		}
		i.Reset()
	}
	return out
}

// trainDealModel trains a deal-risk model on 60 generated days of another
// seed and writes it to dir; it returns the file's path.
func trainDealModel(dir string) (string, error) {
	mc := gen.DefaultConfig()
	mc.Seed, mc.Days, mc.Teams, mc.RepsPerTeam = 7, 60, 2, 4
	p := filepath.Join(dir, "deal-model.json")
	return p, app.WriteGeneratedDealModel(mc, p)
}
