package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/embedded/chdb"
	"github.com/salespulse/salespulse/internal/kafkaio"
	"github.com/salespulse/salespulse/pipeline"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/schemas"
	"github.com/salespulse/salespulse/sinks/alert"
	"github.com/salespulse/salespulse/sinks/clickhouse"
	"github.com/salespulse/salespulse/sources/gen"
)

// chEngine starts the embedded ClickHouse (one engine per test process) or
// skips/fails per SALESPULSE_EMBEDDED_TESTS.
func chEngine(t *testing.T) string {
	t.Helper()
	p := chdb.ResolveLibPath("")
	if _, err := os.Stat(p); err != nil {
		if envTrue("SALESPULSE_EMBEDDED_TESTS") {
			t.Fatalf("SALESPULSE_EMBEDDED_TESTS is set but libchdb.so is missing at %s: run scripts/fetch-chdb.sh", p)
		}
		t.Skipf("libchdb.so not found at %s (scripts/fetch-chdb.sh; SALESPULSE_EMBEDDED_TESTS=1 makes this fatal)", p)
	}
	dir, err := os.MkdirTemp("", "alerts-e2e-chdb-")
	if err != nil {
		t.Fatal(err)
	}
	e, err := chdb.Open(chdb.Config{DataDir: dir, Conns: 2})
	if err != nil {
		t.Fatalf("open chdb: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); chdb.NewServer(e, nil).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		e.Close() // an open chDB connection crashes the process at exit
		os.RemoveAll(dir)
	})
	engine = e
	return ln.Addr().String()
}

var engine *chdb.Engine

// alertmanagerURL returns the real Alertmanager to check, or "" (skipped
// locally; CI=true makes a missing one fatal).
func alertmanagerURL(t *testing.T) string {
	u := os.Getenv("SALESPULSE_ALERTMANAGER_URL")
	if u == "" && envTrue("CI") {
		t.Fatal("CI=true but SALESPULSE_ALERTMANAGER_URL is unset: run scripts/alertmanager.sh start and export it")
	}
	return u
}

func TestEndToEndPlantedAnomaliesPageTheRightHooks(t *testing.T) {
	chAddr := chEngine(t)
	amURL := alertmanagerURL(t)
	c := newCluster(t)

	gcfg := genConfig(5)
	g, err := gen.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	org := g.Org()
	idx := schemas.NewIndex(org)
	matrix, err := matrix.Load("testdata/matrix.yml")
	if err != nil {
		t.Fatal(err)
	}
	const sla = 16 * time.Hour
	det, err := anomaly.New(anomaly.Config{
		SLA: anomaly.SLAConfig{Default: sla},
		// The generator's reps are alike by construction: the outlier and
		// activity detectors run with their defaults and must stay quiet.
	}, matrix, idx, anomaly.Deps{}, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	chSink, err := clickhouse.NewSink(ctx, clickhouse.Config{Addresses: []string{chAddr}, Protocol: "http", Database: "salespulse"}, prometheus.NewRegistry(), testLogger(t))
	if err != nil {
		t.Fatalf("clickhouse sink: %v", err)
	}
	t.Cleanup(func() { chSink.Close() })
	prod := newProducer(t, c)
	sink := &countingSink{sinks: []pipeline.Sink{chSink, kafkaio.NewAlertProducer(prod.cl, "sales.alerts")}}
	startPipeline(t, c, det, sink)

	// Hooks: everything to the signed webhook and the Alertmanager mock,
	// two teams to Slack, critical alerts only to PagerDuty.
	web := newReceiver(t, checkWebhook)
	slk := newReceiver(t, checkSlack)
	pd := newReceiver(t, checkPagerDuty)
	am := newReceiver(t, checkAlertmanager)
	dig := newReceiver(t, checkDigest)
	hooks := []alert.HookConfig{
		// Per-recipient digests: reps get their SLA reminders, managers
		// their escalations (docs/alerts.md, "Digests").
		{Name: "digests", Type: alert.HookWebhook, URL: dig.srv.URL, Secret: secret, GroupBy: []string{"recipient"},
			GroupWait: time.Second, GroupInterval: 2 * time.Second, Routes: []alert.RouteConfig{
				{Rules: []string{anomaly.RuleLeadResponseSLA}, Recipient: alert.RecipientRep},
				{Rules: []string{anomaly.RuleLeadResponseEscalated}, Recipient: alert.RecipientManager},
			}},
		{Name: "ops-webhook", Type: alert.HookWebhook, URL: web.srv.URL, Secret: secret},
		{Name: "slack-emea", Type: alert.HookSlack, URL: slk.srv.URL, Teams: []string{"team-01", "team-02"}},
		{Name: "pagerduty", Type: alert.HookPagerDuty, URL: pd.srv.URL, Secret: "pd-routing-key", MinSeverity: "critical"},
		{Name: "am-mock", Type: alert.HookAlertmanager, URL: am.srv.URL},
	}
	if amURL != "" {
		hooks = append(hooks, alert.HookConfig{Name: "alertmanager", Type: alert.HookAlertmanager, URL: amURL, RatePerSecond: 200})
	}
	for k := range hooks {
		if hooks[k].RatePerSecond == 0 {
			hooks[k].RatePerSecond = 500
		}
	}
	disp := startDispatcher(t, c, alert.Config{Hooks: hooks}, prometheus.NewRegistry())

	// Produce the week and predict its alerts.
	or := newOracle(sla)
	var i schemas.Interaction
	for {
		key, ok := g.Next(&i)
		if !ok {
			break
		}
		or.observe(partitionOf(key), &i)
		prod.send(t, key, &i)
	}
	prod.flush(t)
	or.finish(idx.TeamOf)
	st := g.Stats()
	t.Logf("generated %d events: %d planted discounts, %d never-answered leads, %d slow approvals; expecting %d alert transitions",
		st.Events, st.BeyondAuthority.Count, st.NeverAnswered.Count, st.SlowApprovals.Count, len(or.want))

	// The planted truth is a subset of what the oracle expects.
	for _, q := range st.BeyondAuthority.IDs {
		if _, ok := or.want[anomaly.AlertID(anomaly.RuleDiscountBeyondAuthority, q)+" firing"]; !ok {
			t.Errorf("planted quote %s not expected", q)
		}
	}
	for _, a := range st.SlowApprovals.IDs {
		if _, ok := or.want[anomaly.AlertID(anomaly.RuleApprovalBacklog, a)+" firing"]; !ok {
			t.Errorf("slow approval %s not expected", a)
		}
	}
	expectedRules := map[string]int{}
	for _, a := range or.want {
		expectedRules[a.Rule+" "+a.State.String()]++
	}
	t.Logf("expected: %v", expectedRules)
	if expectedRules[anomaly.RuleLeadResponseSLA+" firing"] == 0 || expectedRules[anomaly.RuleDiscountWithoutApproval+" firing"] == 0 ||
		expectedRules[anomaly.RuleApprovalBeyondAuthority+" firing"] == 0 || expectedRules[anomaly.RuleApprovalBacklog+" firing"] == 0 {
		t.Fatalf("the generated week exercises too few rules: %v", expectedRules)
	}

	want := func(filter func(schemas.Alert) bool) map[string]int {
		m := map[string]int{}
		for k, a := range or.want {
			if filter(a) {
				m[k] = 1
			}
		}
		return m
	}
	all := want(func(schemas.Alert) bool { return true })
	wantSlack := want(func(a schemas.Alert) bool { return a.TeamID == "team-01" || a.TeamID == "team-02" })
	wantPD := want(func(a schemas.Alert) bool { return a.Severity == schemas.SeverityCritical })

	// Wait until every receiver has everything and the dispatcher is idle,
	// then a little longer to catch any extra alert.
	deadline := time.Now().Add(90 * time.Second)
	for {
		wg, _ := web.snapshot()
		sg, _ := slk.snapshot()
		pg, _ := pd.snapshot()
		ag, _ := am.snapshot()
		if len(wg) >= len(all) && len(sg) >= len(wantSlack) && len(pg) >= len(wantPD) && len(ag) >= len(all) && disp.InFlight() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("timeout: webhook %d/%d slack %d/%d pagerduty %d/%d am %d/%d in flight %d",
				len(wg), len(all), len(sg), len(wantSlack), len(pg), len(wantPD), len(ag), len(all), disp.InFlight())
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)

	// What the pipeline wrote is exactly what the oracle predicted.
	wrote := map[string]int{}
	for _, a := range sink.written() {
		wrote[a.ID+" "+a.State.String()]++
	}
	compare(t, "pipeline output", wrote, all, or.want)
	for _, r := range []struct {
		name string
		rc   *receiver
		want map[string]int
	}{{"webhook", web, all}, {"slack", slk, wantSlack}, {"pagerduty", pd, wantPD}, {"alertmanager mock", am, all}} {
		got, bad := r.rc.snapshot()
		if len(bad) > 0 {
			t.Errorf("%s rejected %d payloads, e.g. %s", r.name, len(bad), bad[0])
		}
		compare(t, r.name, got, r.want, or.want)
	}

	// ClickHouse holds every alert once, in its final state.
	final := map[string]string{}
	for k := range all {
		id, state, _ := strings.Cut(k, " ")
		if final[id] != "resolved" {
			final[id] = state
		}
	}
	wantCH := map[string]int{}
	for id, state := range final {
		wantCH[or.want[id+" "+state].Rule+" "+state]++
	}
	out, err := engine.Query(ctx, "SELECT rule, state, count() FROM salespulse.alerts FINAL GROUP BY rule, state ORDER BY rule, state", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	gotCH := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var rule, state string
		var n int
		if _, err := fmt.Sscanf(line, "%s\t%s\t%d", &rule, &state, &n); err == nil {
			gotCH[rule+" "+state] = n
		}
	}
	if fmt.Sprint(gotCH) != fmt.Sprint(wantCH) {
		t.Errorf("salespulse.alerts FINAL:\n got  %v\n want %v", gotCH, wantCH)
	}

	if amURL != "" {
		checkRealAlertmanager(t, amURL, final)
	}

	// Digests: every SLA alert still firing reached its rep, every
	// escalation its manager, in a digest to that recipient only. (One that
	// fired and resolved between two flushes need not appear: Alertmanager
	// semantics.)
	byID := map[string]schemas.Alert{}
	for _, a := range sink.written() {
		byID[a.ID] = a
	}
	wantDig := map[string]int{}
	for id, state := range final {
		a := byID[id]
		switch {
		case state != "firing":
		case a.Rule == anomaly.RuleLeadResponseSLA && a.RepID != "":
			wantDig["rep:"+a.RepID+" "+id+" firing"] = 1
		case a.Rule == anomaly.RuleLeadResponseEscalated && a.ManagerID != "":
			wantDig["manager:"+a.ManagerID+" "+id+" firing"] = 1
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		got, bad := dig.snapshot()
		var missing, wrong []string
		for k := range wantDig {
			if got[k] == 0 {
				missing = append(missing, k)
			}
		}
		for k := range got {
			f := strings.Fields(k)
			a := byID[f[1]]
			if (a.Rule == anomaly.RuleLeadResponseSLA && f[0] != "rep:"+a.RepID) ||
				(a.Rule == anomaly.RuleLeadResponseEscalated && f[0] != "manager:"+a.ManagerID) ||
				(a.Rule != anomaly.RuleLeadResponseSLA && a.Rule != anomaly.RuleLeadResponseEscalated) {
				wrong = append(wrong, k)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			if len(missing) > 0 || len(wrong) > 0 || len(bad) > 0 {
				t.Errorf("digests: %d missing %v, %d to the wrong recipient %v, %d rejected %v", len(missing), head(missing), len(wrong), head(wrong), len(bad), bad)
			}
			t.Logf("digests: %d requests carried the %d firing SLA alerts and escalations", dig.hits.Load(), len(wantDig))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkDigest verifies the signature and returns "recipient id state" for
// each alert of the digest.
func checkDigest(r *http.Request, body []byte) ([]string, error) {
	if err := alert.Verify([]byte(secret), r.Header.Get(alert.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		return nil, err
	}
	var d alert.Digest
	if err := json.Unmarshal(body, &d); err != nil || d.Kind != "digest" || d.Recipient == nil || d.Title == "" {
		return nil, fmt.Errorf("not a digest to a recipient: %.200s (%v)", body, err)
	}
	var keys []string
	for _, l := range [][]alert.Message{d.Firing, d.Resolved} {
		for _, m := range l {
			keys = append(keys, d.Recipient.String()+" "+m.ID+" "+m.State)
		}
	}
	return keys, nil
}

func compare(t *testing.T, what string, got, want map[string]int, info map[string]schemas.Alert) {
	t.Helper()
	var missing, extra, dup []string
	for k := range want {
		if got[k] == 0 {
			missing = append(missing, k+" "+info[k].Rule)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			extra = append(extra, k)
		} else if n > 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%s: %d missing, %d unexpected (of %d expected)\n missing %v\n extra %v", what, len(missing), len(extra), len(want), head(missing), head(extra))
	}
	if len(dup) > 0 {
		// At least once: allowed, but a clean run should not need it.
		t.Logf("%s: %d transitions delivered more than once", what, len(dup))
	}
}

func head(s []string) []string { return s[:min(len(s), 10)] }

// checkRealAlertmanager asks GET /api/v2/alerts for the alerts it holds:
// every alert still firing is there and active; resolved ones are not
// active any more.
func checkRealAlertmanager(t *testing.T, base string, final map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(strings.TrimRight(base, "/") + "/api/v2/alerts?filter=source%3D%22salespulse%22")
		if err != nil {
			t.Fatalf("alertmanager: %v", err)
		}
		var as []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&as)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("alertmanager: decode: %v", err)
		}
		active := map[string]bool{}
		for _, a := range as {
			if a.Status.State == "active" {
				active[a.Labels["alert_id"]] = true
			}
		}
		var missing, stale []string
		for id, state := range final {
			switch {
			case state == "firing" && !active[id]:
				missing = append(missing, id)
			case state == "resolved" && active[id]:
				stale = append(stale, id)
			}
		}
		if len(missing) == 0 && len(stale) == 0 {
			t.Logf("alertmanager lists all %d firing alerts as active", len(active))
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Errorf("alertmanager: %d firing alerts not active %v, %d resolved still active %v", len(missing), head(missing), len(stale), head(stale))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}
