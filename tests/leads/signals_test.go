package leads

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
)

// repHook is one rep's webhook: the market_signal tasks delivered to it.
type repHook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []alert.Message
}

func newRepHook(t *testing.T) *repHook {
	h := &repHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m alert.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("hook body: %v", err)
		}
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// tasks are the distinct signal event ids delivered, sorted, with the
// recipient each named.
func (h *repHook) tasks() (ids, recipients []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.got {
		if m.Rule != anomaly.RuleMarketSignal || slices.Contains(ids, m.EventIDs[0]) {
			continue
		}
		ids = append(ids, m.EventIDs[0])
		rc := ""
		if m.Recipient != nil {
			rc = m.Recipient.String()
		}
		recipients = append(recipients, rc)
	}
	slices.Sort(ids)
	return ids, recipients
}

// TestMarketSignalsReachTheOwnersHook runs market signals through the
// whole app (kfake, the lead hop, chDB, the alert dispatcher; docs/signals.md):
// account ownership arrives as canonical account.updated, signals as
// canonical signals on their topic and as a SMARTe webhook body. Each
// rep's task reaches that rep's own webhook (a route per team: one rep
// each), a second funding round of the same account inside the cooldown
// raises none, a signal for an unknown domain is counted, stays in
// unmatched_signals, and a signal parked for a domain is delivered once
// an account with that domain appears.
func TestMarketSignalsReachTheOwnersHook(t *testing.T) {
	in := startInfra(t)
	const canon, sigs, smarte = "sig.canonical", "sig.signals", "sig.smarte"
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(in.kafka.Addrs()...)))
	for _, topic := range []string{canon, sigs, smarte} {
		if _, err := adm.CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	c := appConfig(in, "sig", map[string]string{canon: "canonical", sigs: "signals", smarte: "smarte"})
	c.Anomaly.Signals.Cooldown = 72 * time.Hour
	hooks := map[string]*repHook{"r1": newRepHook(t), "r2": newRepHook(t)}
	for rep, team := range map[string]string{"r1": "t1", "r2": "t2"} {
		c.Alerts.Hooks = append(c.Alerts.Hooks, alert.HookConfig{Name: "tasks-" + rep, Type: alert.HookWebhook,
			URL: hooks[rep].srv.URL, Secret: "whsec", Routes: []alert.RouteConfig{
				{Rules: []string{anomaly.RuleMarketSignal}, Teams: []string{team}, Recipient: alert.RecipientRep}}})
	}
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}, {ID: "t2", ManagerID: "m2"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "r2", TeamID: "t2"},
			{ID: "m1", TeamID: "t1", Role: "manager"}, {ID: "m2", TeamID: "t2", Role: "manager"}}}

	r := runApp(t, c, org)
	ctx, reg, stop := r.ctx, r.reg, r.stop

	cl := mustClient(t, kgo.SeedBrokers(in.kafka.Addrs()...))
	produce := func(topic, key, value string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(at time.Time, acc, rep, team, domain string) {
		i := schemas.Interaction{EventID: "own-" + acc, OccurredAt: at, Source: "crm", Type: schemas.TypeAccountUpdated,
			AccountID: acc, RepID: rep, TeamID: team, Attributes: map[string]string{schemas.AttrAccountDomain: domain}}
		i.Normalize()
		produce(canon, acc, string(schemas.AppendJSON(nil, &i)))
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	now := time.Now().Truncate(time.Second).UTC()
	owner(now.Add(-time.Hour), "acc-1", "r1", "t1", "https://www.acme.example.com/")
	owner(now.Add(-time.Hour), "acc-2", "r2", "t2", "beta.example.com")
	produce(sigs, "acme.example.com", `{"signal_id":"s1","occurred_at":"`+ts(now)+`","kind":"funding_round","source":"crunchbase","url":"https://news.example.net/s1","domain":"https://www.Acme.example.com/news"}`)
	// Published two days ago: still a task (the window never sets signals
	// aside as late: pipeline/window TestAccountEventsAreNeverLate).
	produce(smarte, "beta.example.com", `{"company_domain":"beta.example.com ","data":{"news_events":[{"id":"s2","title":"t","description":"d","publishDate":"`+
		now.Add(-48*time.Hour).Format("2006-01-02 15:04:05")+`","category":"Key Personnel Change","url":"https://news.example.net/s2"}]}}`)
	// Inside acc-1's funding-round cooldown: no task.
	produce(sigs, "acme.example.com", `{"signal_id":"s3","occurred_at":"`+ts(now.Add(time.Hour))+`","kind":"funding_round","source":"crunchbase","domain":"acme.example.com"}`)
	// No account has these domains (yet).
	produce(sigs, "gamma.example.com", `{"signal_id":"s4","occurred_at":"`+ts(now)+`","kind":"news","source":"crunchbase","domain":"gamma.example.com"}`)
	produce(sigs, "delta.example.com", `{"signal_id":"s5","occurred_at":"`+ts(now)+`","kind":"hiring_surge","source":"crunchbase","domain":"delta.example.com","name":"Delta"}`)

	waitTasks := func(rep string, want []string) {
		t.Helper()
		limit := time.Now().Add(60 * time.Second)
		for {
			ids, rcs := hooks[rep].tasks()
			if slices.Equal(ids, want) {
				for _, rc := range rcs {
					if rc != "rep:"+rep {
						t.Fatalf("%s's hook got a task for %q", rep, rc)
					}
				}
				return
			}
			if len(ids) > len(want) || time.Now().After(limit) {
				t.Fatalf("%s's hook got tasks %v, want %v", rep, ids, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitTasks("r1", []string{"s1"})
	waitTasks("r2", []string{"s2"})

	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{in.chAddr}, Protocol: clickhouse.HTTP})
	defer db.Close()
	unmatched := func() []string {
		t.Helper()
		rows, err := db.Query("SELECT event_id FROM sig.unmatched_signals ORDER BY event_id")
		if err != nil {
			t.Logf("unmatched_signals: %v", err)
			return nil
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	waitRows := func(want []string) {
		t.Helper()
		limit := time.Now().Add(30 * time.Second)
		for got := unmatched(); !slices.Equal(got, want); got = unmatched() {
			if time.Now().After(limit) {
				t.Fatalf("unmatched_signals %v, want %v", got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitRows([]string{"s4", "s5"})

	// An account with s4's domain appears: s4 becomes r2's task.
	owner(now.Add(2*time.Hour), "acc-3", "r2", "t2", "gamma.example.com")
	waitTasks("r2", []string{"s2", "s4"})
	waitRows([]string{"s5"})
	waitTasks("r1", []string{"s1"}) // s3 never came

	sum := func(outcome string) float64 {
		return testenv.SumMetric(reg, "salespulse_anomaly_signals_total", "outcome", outcome)
	}
	// s1 and s2 may have waited for their owner's account.updated (other
	// topics, other partitions): matched at once or late, three tasks in
	// all. s4 and s5 were unmatched (s1, s2 perhaps too).
	if got := sum("matched") + sum("late_matched"); got != 3 {
		t.Errorf("tasks counted: %v, want 3", got)
	}
	if got := sum("suppressed"); got != 1 {
		t.Errorf("suppressed: %v, want 1", got)
	}
	if got := sum("unmatched"); got < 2 {
		t.Errorf("unmatched: %v, want at least 2", got)
	}
	var n uint64
	if err := db.QueryRow("SELECT count() FROM sig.alerts FINAL WHERE rule = 'market_signal' AND severity = 'info' AND state = 'firing'").Scan(&n); err != nil || n != 3 {
		t.Errorf("market_signal alerts in ClickHouse: %d, %v", n, err)
	}
	var url, owner3 string
	if err := db.QueryRow("SELECT `values`['url'], rep_id FROM sig.alerts FINAL WHERE rule = 'market_signal' AND has(event_ids, 's2')").Scan(&url, &owner3); err != nil ||
		url != "https://news.example.net/s2" || owner3 != "r2" {
		t.Errorf("s2's task: url %q rep %q, %v", url, owner3, err)
	}
	if err := stop(); err != nil && err != sql.ErrConnDone {
		t.Fatal(err)
	}
}
