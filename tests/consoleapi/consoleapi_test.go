// Package consoleapi drives the console's JSON API on the embedded stack
// (kfake, chDB, the app, the generator's default 28 days: 4 teams, 32
// sellers, as `salespulse dev` makes them): every endpoint answers with
// rows whose totals agree with direct SQL over the KBI views, no answer
// carries a generated contact's e-mail or phone, the alert stream delivers
// a newly fired alert within seconds, and TestLatency reports each
// endpoint's p50 and p99.
package consoleapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/app"
	"github.com/salespulse/salespulse/internal/devstack"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sources/gen"
)

// The generated days (UTC dates of 2026-11-02 .. 2026-11-29) and a range
// that covers them in every team's zone.
const rangeQuery = "from=2026-11-01&to=2026-11-30"

type stack struct {
	*devstack.Stack
	base     string          // http://console-addr
	contacts map[string]bool // every generated contact's e-mail, phone and mobile, raw
	org      *schemas.Org
}

var (
	once     sync.Once
	st       *stack
	stErr    error
	stopFunc func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopFunc != nil {
		stopFunc()
	}
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// genConfig is salespulse dev's data: the default generator, 28 days.
func genConfig() gen.Config {
	c := gen.DefaultConfig()
	c.Days = 28
	// Market signals for /api/v1/signals (the generator's default is
	// none), a few of them unmatched.
	c.Signals.PerDay = 10
	return c
}

// trainDealModel trains a deal-risk model on 60 generated days of another
// seed (as tests/ops does) so that deal_scores fills, and writes it to
// dir.
func trainDealModel(dir string) (string, error) {
	mc := gen.DefaultConfig()
	mc.Seed, mc.Days, mc.Teams, mc.RepsPerTeam = 7, 60, 2, 4
	p := filepath.Join(dir, "deal-model.json")
	return p, app.WriteGeneratedDealModel(mc, p)
}

func startStack(t *testing.T) *stack {
	t.Helper()
	testenv.RequireCHDB(t)
	once.Do(func() { st, stErr = newStack() })
	if stErr != nil {
		t.Fatalf("embedded stack: %v", stErr)
	}
	return st
}

func newStack() (*stack, error) {
	gc := genConfig()
	g, err := gen.New(gc)
	if err != nil {
		return nil, err
	}
	contacts := map[string]bool{}
	n := 0
	for {
		var i schemas.Interaction
		if _, ok := g.Next(&i); !ok {
			break
		}
		n++
		for _, v := range []string{i.Contact.Email, i.Contact.Phone, i.Contact.Mobile} {
			if v != "" {
				contacts[v] = true
			}
		}
	}
	var ac app.Config
	ac.Console.Listen = "127.0.0.1:0"
	ac.Alerts.Ack.Listen = "127.0.0.1:0" // the console forwards to it
	// SLAs per team and channel, which the response KBI's attainment must
	// follow: 5 min for team-01's e-mail leads, 10 min for its others,
	// 30 min (the default) elsewhere.
	ac.Anomaly.SLA.Teams = map[string]anomaly.TeamSLA{"team-01": {Default: 10 * time.Minute, Channels: map[string]time.Duration{"email": 5 * time.Minute}}}
	ac.Anomaly.MatrixFile = filepath.Join(repoRoot(), "deploy/examples/authorization-matrix.yml")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dir, err := os.MkdirTemp("", "salespulse-consoleapi-")
	if err != nil {
		return nil, err
	}
	if ac.Anomaly.DealRisk.ModelFile, err = trainDealModel(dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("train the deal-risk model: %w", err)
	}
	ds, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: dir, KafkaAddr: "127.0.0.1:0", ClickHouseAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Partitions: 4, Generator: true, Gen: gc, App: ac, Options: app.Options{Registry: reg},
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ds.Run(ctx) }()
	stopFunc = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "stack stopped with:", err)
		}
		os.RemoveAll(dir)
	}
	s := &stack{Stack: ds, base: "http://" + ds.App().ConsoleAddr(), contacts: contacts, org: g.Org()}
	adm, err := kgo.NewClient(kgo.SeedBrokers(ds.KafkaAddrs()...))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	for {
		got := s.query("SELECT count() FROM salespulse.interactions")
		if got == strconv.Itoa(n) && testenv.SumMetric(reg, "salespulse_kafka_consumer_lag") == 0 && caughtUp(kadm.NewClient(adm)) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out waiting for %d generated interactions (have %s)", n, got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "consoleapi: %d generated interactions stored and processed in %s\n", n, time.Since(start).Round(time.Second))
	return s, nil
}

func caughtUp(adm *kadm.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := kafkaio.GroupsCaughtUp(ctx, adm, "salespulse", "salespulse.contacts", "salespulse.leads")
	return err == nil && ok
}

// query runs sql on the embedded engine: trimmed TabSeparated, "" on error.
func (s *stack) query(sql string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.Engine().Query(ctx, sql, "TabSeparated")
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

func (s *stack) num(t *testing.T, sql string) float64 {
	t.Helper()
	out := s.query(sql)
	v, err := strconv.ParseFloat(out, 64)
	if err != nil {
		t.Fatalf("%s: %q", sql, out)
	}
	return v
}

// get fetches path, wants 200, and decodes the body into v; it returns
// the body.
func (s *stack) get(t *testing.T, path string, v any) string {
	t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: content type %q", path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	return string(b)
}

type rows[T any] struct {
	Rows []T `json:"rows"`
}

func sum[T any](rs []T, f func(T) float64) float64 {
	var s float64
	for _, r := range rs {
		s += f(r)
	}
	return s
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-6*max(1, abs(a), abs(b)) && -d < 1e-6*max(1, abs(a), abs(b))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

const where = "day BETWEEN '2026-11-01' AND '2026-11-30'"

// Every endpoint answers 200 with rows, and its totals are those of the
// views (the API reads the fact tables and rollups itself for quantiles
// and SLAs, so this checks its grouping against the views' own).
func TestEndpointsAgreeWithViews(t *testing.T) {
	s := startStack(t)
	check := func(what string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s: API %v, SQL %v", what, got, want)
		}
		if want == 0 {
			t.Errorf("%s: 0 in SQL too: the data should have some", what)
		}
	}

	t.Run("meta", func(t *testing.T) {
		var m struct {
			Teams []struct {
				ID   string
				Reps []struct{ ID string }
			}
			Days struct{ First, Last string }
			Norm float64 `json:"norm_interactions_per_day"`
			Ack  bool
		}
		s.get(t, "/api/v1/meta", &m)
		reps := 0
		for _, tm := range m.Teams {
			reps += len(tm.Reps)
		}
		if len(m.Teams) != 4 || reps != len(s.org.Reps) || m.Norm != 147 || !m.Ack {
			t.Errorf("meta: %d teams, %d reps (org %d), norm %v, ack %v", len(m.Teams), reps, len(s.org.Reps), m.Norm, m.Ack)
		}
		if want := s.query("SELECT min(day), max(day) FROM salespulse.kbi_activity_daily"); m.Days.First+"\t"+m.Days.Last != want {
			t.Errorf("days %s..%s, SQL %s", m.Days.First, m.Days.Last, want)
		}
	})
	t.Run("overview", func(t *testing.T) {
		var o struct {
			Stored      float64 `json:"stored_rows"`
			LastStoreAt *string `json:"last_store_at"`
			Series      struct {
				PerMin [][2]float64 `json:"events_per_min"`
			}
		}
		s.get(t, "/api/v1/overview", &o)
		check("stored_rows", o.Stored, s.num(t, "SELECT count() FROM salespulse.interactions"))
		if o.LastStoreAt == nil || len(o.Series.PerMin) == 0 {
			t.Errorf("overview: last_store_at %v, %d minutes", o.LastStoreAt, len(o.Series.PerMin))
		}
		check("events in the last hour", sum(o.Series.PerMin, func(p [2]float64) float64 { return p[1] }),
			s.num(t, "SELECT sum(interactions) FROM salespulse.activity_per_minute WHERE minute > (SELECT max(minute) FROM salespulse.activity_per_minute) - INTERVAL 1 HOUR"))
	})
	type resp struct {
		Day         string
		TeamID      string `json:"team_id"`
		RepID       string `json:"rep_id"`
		Leads       float64
		Answered    float64
		Unanswered  float64
		P50         *float64 `json:"p50_s"`
		WithinSLA   float64  `json:"within_sla"`
		SLA         float64  `json:"sla_s"`
		Attainment  *float64
		Provisional bool
	}
	for _, path := range []string{"/api/v1/kbi/response?", "/api/v1/kbi/response/reps?"} {
		t.Run(path, func(t *testing.T) {
			var r rows[resp]
			s.get(t, path+rangeQuery, &r)
			if len(r.Rows) == 0 {
				t.Fatal("no rows")
			}
			final := slices.DeleteFunc(slices.Clone(r.Rows), func(x resp) bool { return x.Provisional })
			check("leads", sum(r.Rows, func(x resp) float64 { return x.Leads }), s.num(t, "SELECT sum(leads) FROM salespulse.kbi_response_time_daily WHERE "+where))
			check("final answered", sum(final, func(x resp) float64 { return x.Answered }), s.num(t, "SELECT sum(answered) FROM salespulse.kbi_response_time_daily WHERE provisional = 0 AND "+where))
			check("unanswered", sum(r.Rows, func(x resp) float64 { return x.Unanswered }), s.num(t, "SELECT sum(unanswered) FROM salespulse.kbi_response_time_daily WHERE "+where))
			check("final within SLA", sum(final, func(x resp) float64 { return x.WithinSLA }),
				s.num(t, "SELECT countIf(is_answered = 1 AND response_s <= multiIf(team_id = 'team-01' AND trigger_channel = 'email', 300, team_id = 'team-01', 600, 1800)) FROM salespulse.lead_response_facts WHERE "+where))
			for _, x := range r.Rows {
				if want := map[bool]float64{true: 600, false: 1800}[x.TeamID == "team-01"]; x.SLA != want {
					t.Fatalf("row %+v: sla_s %v, want %v", x, x.SLA, want)
				}
				if x.WithinSLA > x.Answered || x.Answered > 0 && x.P50 == nil || x.Attainment == nil {
					t.Fatalf("row %+v", x)
				}
			}
			// One team, one day: the exact median of the view's own facts.
			if path == "/api/v1/kbi/response?" {
				var one rows[resp]
				s.get(t, path+"from=2026-11-03&to=2026-11-03&team=team-01", &one)
				for _, x := range one.Rows {
					if x.Provisional || x.TeamID != "team-01" || x.Day != "2026-11-03" {
						t.Fatalf("filtered row %+v", x)
					}
					want := s.num(t, "SELECT quantileExact(0.5)(response_s) FROM salespulse.lead_response_facts WHERE is_answered = 1 AND day = '2026-11-03' AND team_id = 'team-01'")
					check("p50 of team-01 on 2026-11-03", *x.P50, want)
				}
			}
		})
	}
	t.Run("activity", func(t *testing.T) {
		type act struct{ Interactions, Emails, Calls float64 }
		var r rows[act]
		s.get(t, "/api/v1/kbi/activity?"+rangeQuery, &r)
		check("interactions", sum(r.Rows, func(x act) float64 { return x.Interactions }), s.num(t, "SELECT sum(interactions) FROM salespulse.kbi_activity_daily WHERE "+where))
		check("emails", sum(r.Rows, func(x act) float64 { return x.Emails }), s.num(t, "SELECT sum(emails) FROM salespulse.kbi_activity_daily WHERE "+where))
		check("calls", sum(r.Rows, func(x act) float64 { return x.Calls }), s.num(t, "SELECT sum(calls) FROM salespulse.kbi_activity_daily WHERE "+where))
	})
	t.Run("accounts", func(t *testing.T) {
		type acc struct {
			RepID      string `json:"rep_id"`
			TeamID     string `json:"team_id"`
			Accounts   float64
			Target     *float64
			Attainment *float64
		}
		var r rows[acc]
		s.get(t, "/api/v1/kbi/accounts?"+rangeQuery, &r)
		check("accounts", sum(r.Rows, func(x acc) float64 { return x.Accounts }),
			s.num(t, "SELECT count() FROM (SELECT DISTINCT rep_id, team_id, account_id FROM salespulse.rep_accounts_daily WHERE account_id != '' AND "+where+")"))
		// The generator gives every team the same accounts_target.
		check("rows with a target", sum(r.Rows, func(x acc) float64 {
			if x.Target == nil {
				return 0
			}
			return 1
		}), s.num(t, "SELECT count() FROM (SELECT DISTINCT rep_id, team_id FROM salespulse.rep_accounts_daily WHERE account_id != '' AND "+where+
			") WHERE team_id IN (SELECT team_id FROM salespulse.team_targets GROUP BY team_id HAVING argMax(accounts_target, updated_at) > 0)"))
		for _, x := range r.Rows {
			if x.Target != nil {
				want := s.num(t, "SELECT argMax(accounts_target, updated_at) FROM salespulse.team_targets WHERE team_id = '"+x.TeamID+"'")
				if *x.Target != want || x.Attainment == nil || !near(*x.Attainment, x.Accounts/want) {
					t.Errorf("row %+v: want target %v, attainment accounts/target", x, want)
				}
			} else if x.Attainment != nil {
				t.Errorf("row %+v: attainment without a target", x)
			}
		}
	})
	t.Run("forecast", func(t *testing.T) {
		type fc struct {
			RepID       string  `json:"rep_id"`
			PeriodKind  string  `json:"period_kind"`
			PeriodStart string  `json:"period_start"`
			ClosedWon   float64 `json:"closed_won"`
			Forecast    *float64
			Accuracy    *float64
			InProgress  bool `json:"in_progress"`
		}
		var r rows[fc]
		s.get(t, "/api/v1/kbi/forecast?"+rangeQuery, &r)
		// November's periods: the month, and the quarter it ends.
		const periods = "period_start <= '2026-11-30' AND if(period_kind = 'quarter', addQuarters(period_start, 1), addMonths(period_start, 1)) > '2026-11-01'"
		check("rows", float64(len(r.Rows)), s.num(t, "SELECT count() FROM salespulse.kbi_forecast_accuracy WHERE "+periods))
		check("team rows", sum(r.Rows, func(x fc) float64 {
			if x.RepID == "" {
				return 1
			}
			return 0
		}), s.num(t, "SELECT count() FROM salespulse.kbi_forecast_accuracy WHERE rep_id = '' AND "+periods))
		check("closed won", sum(r.Rows, func(x fc) float64 { return x.ClosedWon }), s.num(t, "SELECT sum(closed_won) FROM salespulse.kbi_forecast_accuracy WHERE "+periods))
		withAcc := sum(r.Rows, func(x fc) float64 {
			if x.Accuracy == nil {
				return 0
			}
			return 1
		})
		if want := s.num(t, "SELECT count() FROM salespulse.kbi_forecast_accuracy WHERE accuracy IS NOT NULL AND "+periods); withAcc != want {
			t.Errorf("rows with an accuracy: API %v, SQL %v", withAcc, want)
		}
		// A period is in progress until a day after it has data.
		for _, x := range r.Rows {
			want := s.query("SELECT (SELECT max(day) FROM salespulse.activity_daily) < if('"+x.PeriodKind+"' = 'quarter', addQuarters(toDate('"+x.PeriodStart+"'), 1), addMonths(toDate('"+x.PeriodStart+"'), 1))") == "1"
			if x.InProgress != want {
				t.Errorf("row %+v: in_progress %v, SQL %v", x, x.InProgress, want)
				break
			}
		}
	})
	t.Run("scores", func(t *testing.T) {
		type deal struct {
			OpportunityID string `json:"opportunity_id"`
			Probability   float64
			Reasons       []string
		}
		var r struct {
			Deals        []deal
			Total        float64
			Distribution []float64
		}
		s.get(t, "/api/v1/deals/scores?limit=50", &r)
		total := s.num(t, "SELECT count() FROM salespulse.deal_scores_open")
		check("open scored deals", r.Total, total)
		check("distribution", sum(r.Distribution, func(n float64) float64 { return n }), total)
		if float64(len(r.Deals)) != min(50, total) || len(r.Distribution) != 10 {
			t.Errorf("%d deals, %d buckets; want %v and 10", len(r.Deals), len(r.Distribution), min(50, total))
		}
		if !slices.IsSortedFunc(r.Deals, func(x, y deal) int { return cmpFloat(x.Probability, y.Probability) }) {
			t.Error("deals not least likely first")
		}
		if len(r.Deals) > 0 {
			want := s.num(t, "SELECT min(probability) FROM salespulse.deal_scores_open")
			if !near(r.Deals[0].Probability, want) || len(r.Deals[0].Reasons) == 0 {
				t.Errorf("first deal %+v: want probability %v and reasons", r.Deals[0], want)
			}
		}
	})
	t.Run("signals", func(t *testing.T) {
		var r struct {
			Tasks []struct {
				AccountID string `json:"account_id"`
				Kind, At  string
			}
			Total, Unmatched float64
		}
		s.get(t, "/api/v1/signals?limit=20&"+rangeQuery, &r)
		total := s.num(t, "SELECT count() FROM salespulse.alerts FINAL WHERE rule = 'market_signal' AND toDate(at) BETWEEN '2026-11-01' AND '2026-11-30'")
		check("tasks", r.Total, total)
		check("unmatched", r.Unmatched, s.num(t, "SELECT count() FROM salespulse.unmatched_signals WHERE toDate(occurred_at) BETWEEN '2026-11-01' AND '2026-11-30'"))
		if float64(len(r.Tasks)) != min(20, total) {
			t.Errorf("%d tasks, want %v", len(r.Tasks), min(20, total))
		}
		for _, x := range r.Tasks {
			if x.AccountID == "" || x.Kind == "" {
				t.Errorf("task %+v without account or kind", x)
			}
		}
	})
	t.Run("discounts", func(t *testing.T) {
		type disc struct {
			Quotes        float64
			AuthorityPct  *float64 `json:"authority_pct"`
			OverAuthority *float64 `json:"over_authority"`
			MaxPct        *float64 `json:"discount_max_pct"`
		}
		var r rows[disc]
		s.get(t, "/api/v1/kbi/discounts?"+rangeQuery, &r)
		check("quotes", sum(r.Rows, func(x disc) float64 { return x.Quotes }), s.num(t, "SELECT sum(quotes) FROM salespulse.kbi_discounts_daily WHERE "+where))
		over := 0.0
		for _, x := range r.Rows {
			if x.AuthorityPct != nil && x.OverAuthority != nil {
				over += *x.OverAuthority
			}
		}
		// The generator plants discounts of 35-50 %, beyond every role's
		// authority in the example matrix: each is a
		// discount_beyond_authority alert.
		check("over authority", over, s.num(t, "SELECT count() FROM salespulse.alerts FINAL WHERE rule = 'discount_beyond_authority' AND toDate(at) BETWEEN '2026-11-01' AND '2026-11-30'"))
	})
	t.Run("approvals", func(t *testing.T) {
		type appr struct{ Requests, Decided, Expired float64 }
		var r rows[appr]
		s.get(t, "/api/v1/kbi/approvals?"+rangeQuery, &r)
		check("requests", sum(r.Rows, func(x appr) float64 { return x.Requests }), s.num(t, "SELECT sum(requests) FROM salespulse.kbi_approvals_daily WHERE "+where))
		check("decided", sum(r.Rows, func(x appr) float64 { return x.Decided }), s.num(t, "SELECT sum(decided) FROM salespulse.kbi_approvals_daily WHERE "+where))
	})
	t.Run("deals", func(t *testing.T) {
		type deal struct {
			Won, Lost float64
			WonAmount float64  `json:"won_amount"`
			Cycle     *float64 `json:"cycle_days_avg"`
		}
		var r rows[deal]
		s.get(t, "/api/v1/kbi/deals?"+rangeQuery, &r)
		check("won", sum(r.Rows, func(x deal) float64 { return x.Won }), s.num(t, "SELECT sum(won) FROM salespulse.kbi_deals_daily WHERE "+where))
		check("lost", sum(r.Rows, func(x deal) float64 { return x.Lost }), s.num(t, "SELECT sum(lost) FROM salespulse.kbi_deals_daily WHERE "+where))
		check("won amount", sum(r.Rows, func(x deal) float64 { return x.WonAmount }), s.num(t, "SELECT sum(won_amount) FROM salespulse.kbi_deals_daily WHERE "+where))
		if !slices.ContainsFunc(r.Rows, func(x deal) bool { return x.Cycle != nil && *x.Cycle >= 0 }) {
			t.Error("no deal has a cycle length")
		}
	})
	t.Run("alerts", func(t *testing.T) {
		var a struct {
			Alerts []struct {
				ID, Rule, At string
			}
		}
		s.get(t, "/api/v1/alerts?limit=50", &a)
		if want := min(50, s.num(t, "SELECT count() FROM salespulse.alerts FINAL")); float64(len(a.Alerts)) != want {
			t.Errorf("alerts: %d, want %v", len(a.Alerts), want)
		}
		if !slices.IsSortedFunc(a.Alerts, func(x, y struct{ ID, Rule, At string }) int { return strings.Compare(y.At, x.At) }) {
			t.Error("alerts not newest first")
		}
	})
	t.Run("ack", func(t *testing.T) {
		// Forwarded to the acknowledgement endpoint, which knows no such
		// alert (docs/alerts.md "Acknowledgement").
		resp, err := http.Post(s.base+"/api/v1/alerts/0123456789abcdef0123456789abcdef/ack", "application/json", strings.NewReader(`{"by":"rep-01-00"}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("ack of an unknown alert: %d %s", resp.StatusCode, b)
		}
		t.Logf("ack of an unknown alert: %d %s", resp.StatusCode, b)
	})
	t.Run("journey", func(t *testing.T) {
		lead := s.query("SELECT lead_id FROM salespulse.interactions WHERE lead_id != '' GROUP BY lead_id ORDER BY count() DESC, lead_id LIMIT 1")
		var j struct {
			LeadID string `json:"lead_id"`
			Events []struct{ At, Type, EventID string }
		}
		s.get(t, "/api/v1/leads/"+lead+"/journey", &j)
		check("journey events", float64(len(j.Events)), s.num(t, "SELECT count() FROM salespulse.interactions FINAL WHERE lead_id = '"+lead+"'"))
		if !slices.IsSortedFunc(j.Events, func(x, y struct{ At, Type, EventID string }) int { return strings.Compare(x.At, y.At) }) {
			t.Error("journey not in time order")
		}
	})
}

// paths are what the UI calls, for the personal-data and latency checks.
func (s *stack) paths(t *testing.T) []string {
	lead := s.query("SELECT lead_id FROM salespulse.interactions WHERE lead_id != '' GROUP BY lead_id ORDER BY count() DESC, lead_id LIMIT 1")
	return []string{
		"/api/v1/meta", "/api/v1/overview",
		"/api/v1/kbi/response", "/api/v1/kbi/response/reps", "/api/v1/kbi/activity", "/api/v1/kbi/accounts",
		"/api/v1/kbi/discounts", "/api/v1/kbi/approvals", "/api/v1/kbi/deals",
		"/api/v1/kbi/forecast", "/api/v1/deals/scores?limit=1000", "/api/v1/signals?limit=1000",
		"/api/v1/alerts?limit=1000", "/api/v1/leads/" + lead + "/journey",
	}
}

// No answer carries a generated contact's e-mail address or phone number.
func TestNoPersonalData(t *testing.T) {
	s := startStack(t)
	if len(s.contacts) == 0 {
		t.Fatal("the generator made no contacts")
	}
	var bodies []string
	for _, p := range s.paths(t) {
		bodies = append(bodies, s.get(t, p, nil))
	}
	// A few more journeys: the leads with alerts.
	for _, lead := range strings.Fields(s.query("SELECT DISTINCT `values`['lead_id'] FROM salespulse.alerts WHERE `values`['lead_id'] != '' ORDER BY 1 LIMIT 20")) {
		bodies = append(bodies, s.get(t, "/api/v1/leads/"+lead+"/journey", nil))
	}
	all := strings.Join(bodies, "\n")
	if len(all) < 10000 {
		t.Fatalf("only %d bytes of answers", len(all))
	}
	for c := range s.contacts {
		if strings.Contains(all, c) {
			t.Errorf("an answer contains the contact datum %q", c)
		}
		if strings.Contains(c, "@") && strings.Contains(all, strings.ToLower(c)) {
			t.Errorf("an answer contains the e-mail %q", strings.ToLower(c))
		}
	}
}

// A quote beyond its rep's authority, produced now, is on the alert
// stream within seconds.
func TestStreamDeliversNewAlert(t *testing.T) {
	s := startStack(t)
	var rep string
	for _, r := range s.org.Reps {
		if r.Role == "ae" {
			rep = r.ID
			break
		}
	}
	if rep == "" {
		t.Fatal("no ae in the generated org")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/api/v1/alerts/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()

	eventID := fmt.Sprintf("console-quote-%d", time.Now().UnixNano())
	now := time.Now().UTC()
	value := fmt.Sprintf(`{"event_id":%q,"occurred_at":%q,"source":"crm","type":"quote.created","rep_id":%q,"account_id":"acct-console","currency":"EUR","amount":5000,"list_price":10000,"discount_pct":50}`,
		eventID, now.Format(time.RFC3339Nano), rep)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produced := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sales.canonical", Key: []byte(rep), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case d, ok := <-events:
			if !ok {
				t.Fatal("stream closed")
			}
			var a struct {
				Rule  string
				RepID string `json:"rep_id"`
			}
			json.Unmarshal([]byte(d), &a)
			if a.Rule == "discount_beyond_authority" && a.RepID == rep {
				took := time.Since(produced)
				t.Logf("the alert was on the stream %s after the quote was produced: %s", took.Round(time.Millisecond), d)
				if took > 15*time.Second {
					t.Errorf("took %s, want seconds", took)
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("no discount_beyond_authority alert for %s on the stream within 60 s", rep)
		}
	}
}

// TestLatency calls each endpoint 50 times, one after another, with its
// default range (the 28 generated days), and logs p50 and p99 (with 50
// calls, the slowest). On the
// shared 2-core machine the numbers move with the other work on it; the
// test fails only beyond the query bound (5 s).
func TestLatency(t *testing.T) {
	s := startStack(t)
	const calls = 50
	for _, p := range s.paths(t) {
		var d []time.Duration
		for range calls {
			start := time.Now()
			s.get(t, p, nil)
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		p50, p99 := d[calls/2], d[calls*99/100]
		name, _, _ := strings.Cut(p, "?")
		if strings.HasPrefix(name, "/api/v1/leads/") {
			name = "/api/v1/leads/{id}/journey"
		}
		t.Logf("%-32s p50 %7.1f ms   p99 %7.1f ms   max %7.1f ms", name, ms(p50), ms(p99), ms(d[calls-1]))
		if p99 > 5*time.Second {
			t.Errorf("%s: p99 %s beyond max_execution_time", name, p99)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// An acknowledgement through the console reaches internal/ack (202), and
// the alert is listed as acknowledged once the event is stored.
func TestAcknowledgementShows(t *testing.T) {
	s := startStack(t)
	id := s.query("SELECT id FROM salespulse.alerts FINAL WHERE rule = 'lead_response_sla' ORDER BY at DESC, id LIMIT 1")
	if len(id) != 32 {
		t.Fatalf("no lead_response_sla alert: %q", id)
	}
	resp, err := http.Post(s.base+"/api/v1/alerts/"+id+"/ack", "application/json", strings.NewReader(`{"by":"`+s.org.Teams[0].ManagerID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ack: %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var a struct {
			Alerts []struct {
				ID           string
				Acknowledged bool
			}
		}
		s.get(t, "/api/v1/alerts?limit=1000", &a)
		i := slices.IndexFunc(a.Alerts, func(x struct {
			ID           string
			Acknowledged bool
		}) bool {
			return x.ID == id
		})
		if i < 0 {
			t.Fatalf("alert %s not among the newest 1000", id)
		}
		if a.Alerts[i].Acknowledged {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert %s not acknowledged in the list 30 s after the ack", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
