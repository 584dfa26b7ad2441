package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/salespulse/salespulse/schemas"
)

// fakeFeed is an in-memory Feed: records put on it are polled in order;
// parked records come back as park-topic records; commits are recorded.
type fakeFeed struct {
	recs   chan []*Record
	closed chan struct{}
	once   sync.Once

	mu        sync.Mutex
	marked    map[tpKey]int64
	committed map[tpKey]int64
	parkOff   int64
	parkTopic string
}

func newFakeFeed() *fakeFeed {
	return &fakeFeed{recs: make(chan []*Record, 1000), closed: make(chan struct{}), marked: map[tpKey]int64{},
		committed: map[tpKey]int64{}, parkTopic: "sales.alerts.parked"}
}

func (f *fakeFeed) Poll(ctx context.Context) ([]*Record, error) {
	select {
	case r := <-f.recs:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.closed:
		return nil, ErrFeedClosed
	}
}

func (f *fakeFeed) MarkCommit(r *Record) {
	f.mu.Lock()
	f.marked[tpKey{r.Topic, r.Partition}] = r.Offset
	f.mu.Unlock()
}

func (f *fakeFeed) CommitMarked(context.Context) error {
	f.mu.Lock()
	for k, v := range f.marked {
		f.committed[k] = v
	}
	f.mu.Unlock()
	return nil
}

func (f *fakeFeed) Park(r *Record, hs []Header, done func(error)) {
	f.mu.Lock()
	p := &Record{Topic: f.parkTopic, Offset: f.parkOff, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: time.Now()}
	f.parkOff++
	f.mu.Unlock()
	f.recs <- []*Record{p}
	done(nil)
}

func (f *fakeFeed) OnLost(func(map[string][]int32)) {}
func (f *fakeFeed) Close()                          { f.once.Do(func() { close(f.closed) }) }

// committedAlerts is the committed offset of sales.alerts partition 0 (-1: none).
func (f *fakeFeed) committedAlerts() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.marked[tpKey{"sales.alerts", 0}]; ok {
		return v
	}
	return -1
}

// recorder is an http.RoundTripper that keeps every request (no network,
// so synctest's clock applies) and answers status(n) for the n-th.
type recorder struct {
	mu     sync.Mutex
	reqs   []recorded
	status func(n int) int
}

type recorded struct {
	at   time.Time
	hdr  http.Header
	body []byte
}

func (rc *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, recorded{at: time.Now(), hdr: req.Header.Clone(), body: b})
	rc.mu.Unlock()
	code := 200
	if rc.status != nil {
		code = rc.status(n)
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
}

func (rc *recorder) digests(t *testing.T) []Digest {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []Digest
	for _, r := range rc.reqs {
		var d Digest
		if err := json.Unmarshal(r.body, &d); err != nil || d.Kind != "digest" {
			t.Fatalf("not a digest: %s (%v)", r.body, err)
		}
		out = append(out, d)
	}
	return out
}

func (rc *recorder) messages(t *testing.T) []Message {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []Message
	for _, r := range rc.reqs {
		var m Message
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// harness runs a Dispatcher in a synctest bubble whose wall clock starts
// at base (cfg.Now maps the bubble's clock onto it).
type harness struct {
	t    *testing.T
	feed *fakeFeed
	rec  *recorder
	reg  *prometheus.Registry
	off  int64
	stop func()
}

func startHarness(t *testing.T, base time.Time, hooks []HookConfig, feed *fakeFeed, rec *recorder) *harness {
	t.Helper()
	t0 := time.Now()
	cfg := Config{Hooks: hooks, HTTPClient: &http.Client{Transport: rec}, Now: func() time.Time { return base.Add(time.Since(t0)) }}
	h := &harness{t: t, feed: feed, rec: rec, reg: prometheus.NewRegistry()}
	d, err := NewDispatcher(cfg, feed, h.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	return h
}

// send puts alerts on the feed as the next records of sales.alerts/0.
func (h *harness) send(ms ...Message) {
	var rs []*Record
	for _, m := range ms {
		b, _ := json.Marshal(m)
		rs = append(rs, &Record{Topic: "sales.alerts", Offset: h.off, Key: []byte(m.ID), Value: b, Timestamp: time.Now()})
		h.off++
	}
	h.feed.recs <- rs
	synctest.Wait()
}

// at sleeps until d after the bubble's start and lets everything settle.
func at(t0 time.Time, d time.Duration) {
	time.Sleep(time.Until(t0.Add(d)))
	synctest.Wait()
}

func slaAlert(id, team, rep string, rule string, state schemas.AlertState, at time.Time) Message {
	sev := schemas.SeverityWarning
	if rule == "lead_response_sla_escalated" {
		sev = schemas.SeverityCritical
	}
	a := schemas.Alert{ID: id, Rule: rule, State: state, Severity: sev, RepID: rep, TeamID: team, ManagerID: "mgr-" + team,
		Summary: "Lead " + id + " had no response.", At: at}
	if state == schemas.AlertResolved {
		a.EndsAt = at.Add(time.Minute)
	}
	return FromAlert(&a)
}

func digestHook(mod func(*HookConfig)) []HookConfig {
	h := HookConfig{Name: "managers", Type: HookWebhook, URL: "https://hooks.example.test/d", Secret: "k",
		GroupBy: []string{"team"}, GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: time.Hour}
	if mod != nil {
		mod(&h)
	}
	return []HookConfig{h}
}

func ids(ms []Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.ID)
	}
	return strings.Join(s, ",")
}

// Alertmanager's route semantics
// (https://prometheus.io/docs/alerting/latest/configuration/#route):
// group_wait collects the alerts of a new group into its first
// notification; group_interval batches later ones; repeat_interval re-sends
// an unchanged group; resolved alerts go out with send_resolved.
func TestDigestTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		h := startHarness(t, now, digestHook(nil), newFakeFeed(), &recorder{})
		defer h.stop()
		ev := now.Add(-time.Hour)

		// group_wait collects: three alerts in the first 20s, one notification at 30s.
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, ev))
		at(t0, 10*time.Second)
		h.send(slaAlert("a2", "team-3", "rep-2", "lead_response_sla", schemas.AlertFiring, ev.Add(time.Minute)))
		at(t0, 20*time.Second)
		h.send(slaAlert("a3", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, ev.Add(2*time.Minute)),
			slaAlert("b1", "team-4", "rep-9", "lead_response_sla", schemas.AlertFiring, ev))
		at(t0, 29*time.Second)
		if n := len(h.rec.digests(t)); n != 0 || h.feed.committedAlerts() != -1 {
			t.Fatalf("before group_wait: %d notifications, offset %d marked", n, h.feed.committedAlerts())
		}
		at(t0, 31*time.Second)
		ds := h.rec.digests(t)
		if len(ds) != 1 {
			t.Fatalf("after team-3's group_wait: %d notifications", len(ds))
		}
		if d3 := ds[0]; ids(d3.Firing) != "a1,a2,a3" || d3.Reason != reasonInitial || d3.Title != "Team team-3: 3 leads past SLA" {
			t.Fatalf("first digest: %+v", d3)
		}
		if h.feed.committedAlerts() != 2 { // b1 (offset 3) waits for team-4's group
			t.Fatalf("offsets marked after the first digest: %d", h.feed.committedAlerts())
		}
		at(t0, 51*time.Second) // team-4's group began at 20s
		if ds = h.rec.digests(t); len(ds) != 2 || ds[1].GroupLabels["team"] != "team-4" || h.feed.committedAlerts() != 3 {
			t.Fatalf("offsets marked after the digests: %d", h.feed.committedAlerts())
		}

		// group_interval batches later alerts: a4 at 1m and a resolution
		// at 2m go out together at 30s + 5m, not before.
		at(t0, time.Minute)
		h.send(slaAlert("a4", "team-3", "rep-3", "lead_response_sla", schemas.AlertFiring, ev.Add(3*time.Minute)))
		at(t0, 2*time.Minute)
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertResolved, ev.Add(4*time.Minute)))
		at(t0, 5*time.Minute+29*time.Second)
		if n := len(h.rec.digests(t)); n != 2 {
			t.Fatalf("before group_interval: %d notifications", n)
		}
		at(t0, 5*time.Minute+31*time.Second)
		ds = h.rec.digests(t)
		if len(ds) != 3 || ids(ds[2].Firing) != "a2,a3,a4" || ids(ds[2].Resolved) != "a1" || ds[2].Reason != reasonUpdate ||
			ds[2].Title != "Team team-3: 3 leads past SLA, 1 resolved" {
			t.Fatalf("update: %+v", ds[len(ds)-1])
		}

		// repeat_interval (1h) re-sends the unchanged group at the first
		// group_interval tick after it (Alertmanager compares strictly):
		// last sent at 5m30s, re-sent at 1h10m30s; team-4 (sent at 50s)
		// at 1h5m50s.
		at(t0, time.Hour+5*time.Minute+29*time.Second)
		if n := len(h.rec.digests(t)); n != 3 {
			t.Fatalf("before repeat_interval: %d notifications", n)
		}
		at(t0, time.Hour+10*time.Minute+31*time.Second)
		ds = h.rec.digests(t)
		if len(ds) != 5 || ds[3].GroupLabels["team"] != "team-4" || ds[4].Reason != reasonRepeat ||
			ids(ds[4].Firing) != "a2,a3,a4" || len(ds[4].Resolved) != 0 {
			t.Fatalf("repeats: %+v", ds[3:])
		}
		if err := testutil.CollectAndCompare(h.reg, strings.NewReader(`
# HELP salespulse_alert_digests_total Digest notifications delivered by hooks with group_by, by reason (initial, update, repeat).
# TYPE salespulse_alert_digests_total counter
salespulse_alert_digests_total{hook="managers",reason="initial"} 2
salespulse_alert_digests_total{hook="managers",reason="repeat"} 2
salespulse_alert_digests_total{hook="managers",reason="update"} 1
# HELP salespulse_alert_held Consumed alert deliveries waiting in a group for its next flush (group_wait, group_interval, quiet hours); their offsets are not committed yet.
# TYPE salespulse_alert_held gauge
salespulse_alert_held{hook="managers"} 0
# HELP salespulse_alert_groups Open alert groups of a digest hook.
# TYPE salespulse_alert_groups gauge
salespulse_alert_groups{hook="managers"} 2
`), "salespulse_alert_digests_total", "salespulse_alert_held", "salespulse_alert_groups"); err != nil {
			t.Fatal(err)
		}

		// Every alert resolved: one last notification, then the group is gone.
		// (A resolution older than the firing it would end — by version —
		// is ignored, as a parked transition coming back late.)
		late := ev.Add(10 * time.Minute)
		h.send(slaAlert("a2", "team-3", "", "lead_response_sla", schemas.AlertResolved, late),
			slaAlert("a3", "team-3", "", "lead_response_sla", schemas.AlertResolved, late),
			slaAlert("a4", "team-3", "", "lead_response_sla", schemas.AlertResolved, late))
		at(t0, time.Hour+15*time.Minute+31*time.Second)
		ds = h.rec.digests(t)
		if last := ds[len(ds)-1]; len(last.Firing) != 0 || ids(last.Resolved) != "a2,a3,a4" || last.Title != "Team team-3: 3 resolved" {
			t.Fatalf("all resolved: %+v", last)
		}
		if g := testutil.ToFloat64(h.gauge(t, "salespulse_alert_groups")); g != 1 {
			t.Fatalf("groups left: %v", g)
		}
	})
}

func (h *harness) gauge(t *testing.T, name string) prometheus.Collector {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

// The rep gets the reminder at the SLA, the manager the escalation.
func TestRoutingRepAndManager(t *testing.T) {
	routed := HookConfig{Name: "slack", Type: HookSlack, URL: "https://hooks.slack.test/x", Routes: []RouteConfig{
		{Rules: []string{"lead_response_sla"}, Recipient: RecipientRep},
		{Rules: []string{"lead_response_sla_escalated"}, Recipient: RecipientManager},
	}}
	plain := HookConfig{Name: "ops", Type: HookWebhook, URL: "https://ops.test/x", Secret: "k", MinSeverity: "critical"}
	c := Config{Hooks: []HookConfig{routed, plain}}
	c.SetDefaults()
	sla := slaAlert("l1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now)
	esc := slaAlert("l1e", "team-3", "rep-1", "lead_response_sla_escalated", schemas.AlertFiring, now)
	noRep := slaAlert("l2", "team-3", "", "lead_response_sla", schemas.AlertFiring, now)
	f := func(h *HookConfig, m Message, want ...Recipient) {
		t.Helper()
		got := recipients(h, &m)
		if len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) {
			t.Errorf("%s, %s: %v, want %v", h.Name, m.Rule, got, want)
		}
	}
	f(&c.Hooks[0], sla, Recipient{RecipientRep, "rep-1"})
	f(&c.Hooks[0], esc, Recipient{RecipientManager, "mgr-team-3"})
	f(&c.Hooks[0], noRep) // nobody to remind: not delivered by the rep route
	// Without routes a hook delivers as before: its own filters, no recipient.
	f(&c.Hooks[1], sla)
	f(&c.Hooks[1], esc, Recipient{})

	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := startHarness(t, now, []HookConfig{{Name: "w", Type: HookWebhook, URL: "https://w.test/x", Secret: "k", Routes: routed.Routes}}, newFakeFeed(), rec)
		defer h.stop()
		h.send(sla, esc)
		time.Sleep(time.Second) // rate_per_second
		synctest.Wait()
		ms := rec.messages(t)
		if len(ms) != 2 || ms[0].Recipient == nil || *ms[0].Recipient != (Recipient{"rep", "rep-1"}) ||
			ms[1].Recipient == nil || *ms[1].Recipient != (Recipient{"manager", "mgr-team-3"}) {
			t.Fatalf("deliveries: %+v", ms)
		}
		if k := rec.reqs[1].hdr.Get("Idempotency-Key"); k != "l1e:firing:manager:mgr-team-3" {
			t.Fatalf("idempotency key %q", k)
		}
		// One alert, one page, counted by its recipient's role.
		h.pages(t, "w", map[string]int{"rep": 1, "manager": 1})
	})
}

// pages checks salespulse_alert_pages_total of a hook: want by role, 0
// for the roles it leaves out.
func (h *harness) pages(t *testing.T, hook string, want map[string]int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# HELP salespulse_alert_pages_total Notifications delivered (one alert, or one digest), by hook and recipient role (rep, manager, team; none: the hook's own channel).\n# TYPE salespulse_alert_pages_total counter\n")
	for _, role := range []string{"manager", "none", "rep", "team"} {
		fmt.Fprintf(&b, "salespulse_alert_pages_total{hook=%q,role=%q} %d\n", hook, role, want[role])
	}
	if err := testutil.CollectAndCompare(h.reg, strings.NewReader(b.String()), "salespulse_alert_pages_total"); err != nil {
		t.Fatal(err)
	}
}

// Digests go per recipient: group_by [recipient] gives each rep and
// manager their own digest.
func TestDigestPerRecipient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		rec := &recorder{}
		h := startHarness(t, now, digestHook(func(c *HookConfig) {
			c.GroupBy = []string{"recipient"}
			c.Routes = []RouteConfig{{Rules: []string{"lead_response_sla"}, Recipient: RecipientRep},
				{Rules: []string{"lead_response_sla_escalated"}, Recipient: RecipientManager}}
		}), newFakeFeed(), rec)
		defer h.stop()
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now),
			slaAlert("a2", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now),
			slaAlert("a3", "team-3", "rep-2", "lead_response_sla", schemas.AlertFiring, now),
			slaAlert("a1e", "team-3", "rep-1", "lead_response_sla_escalated", schemas.AlertFiring, now),
			slaAlert("a3e", "team-3", "rep-2", "lead_response_sla_escalated", schemas.AlertFiring, now))
		at(t0, 31*time.Second)
		got := map[string]string{}
		for _, d := range rec.digests(t) {
			got[d.Recipient.String()] = ids(d.Firing) + " / " + d.Title
		}
		want := map[string]string{
			"rep:rep-1":          "a1,a2 / Rep rep-1: 2 leads past SLA",
			"rep:rep-2":          "a3 / Rep rep-2: 1 leads past SLA",
			"manager:mgr-team-3": "a1e,a3e / Manager mgr-team-3: 2 leads past escalation",
		}
		if len(got) != len(want) {
			t.Fatalf("digests %v", got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
		// A digest is one page: two reps' digests, one manager's.
		h.pages(t, "managers", map[string]int{"rep": 2, "manager": 1})
	})
}

// Quiet hours hold a group's flush to the end of the quiet period, then
// deliver what collected in one digest; a critical alert breaks through
// when configured to.
func TestQuietHours(t *testing.T) {
	// A Thursday; the group_wait of an alert now ends at 20:00:15 UTC,
	// 21:00:15 in Berlin: in quiet hours, which end at 09:00 Berlin,
	// 08:00 UTC, 12h00m15s later.
	thu1959 := time.Date(2026, 11, 26, 19, 59, 45, 0, time.UTC)
	quiet := func(c *HookConfig) {
		c.QuietHours = []QuietHours{{Teams: []string{"team-3"}, From: "21:00", To: "09:00", TimeZone: "Europe/Berlin"}}
	}
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		rec := &recorder{}
		h := startHarness(t, thu1959, digestHook(quiet), newFakeFeed(), rec)
		defer h.stop()
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, thu1959),
			slaAlert("b1", "team-4", "rep-9", "lead_response_sla", schemas.AlertFiring, thu1959)) // team-4 has no quiet hours
		at(t0, 2*time.Hour) // 21:59 UTC = 22:59 Berlin
		h.send(slaAlert("a2", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, thu1959))
		// Berlin 09:00 is 08:00 UTC: 12h01m after the start.
		team3 := func() (out []Digest) {
			for _, d := range rec.digests(t) {
				if d.GroupLabels["team"] == "team-3" {
					out = append(out, d)
				}
			}
			return out
		}
		at(t0, 12*time.Hour)
		if ds := team3(); len(ds) != 0 || len(rec.digests(t)) == 0 {
			t.Fatalf("in quiet hours: %+v", ds)
		}
		if h.feed.committedAlerts() != -1 {
			t.Fatal("held alerts must stay uncommitted")
		}
		at(t0, 12*time.Hour+2*time.Minute)
		ds := team3()
		if len(ds) != 1 || ids(ds[0].Firing) != "a1,a2" || !ds[0].At.Equal(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)) {
			t.Fatalf("after quiet hours: %+v", ds)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		rec := &recorder{}
		h := startHarness(t, thu1959, digestHook(func(c *HookConfig) { quiet(c); c.BreakThrough = "critical" }), newFakeFeed(), rec)
		defer h.stop()
		at(t0, 2*time.Hour)
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, thu1959))
		at(t0, 3*time.Hour)
		if n := len(rec.digests(t)); n != 0 {
			t.Fatalf("warning in quiet hours: %d notifications", n)
		}
		h.send(slaAlert("a1e", "team-3", "rep-1", "lead_response_sla_escalated", schemas.AlertFiring, thu1959))
		ds := rec.digests(t)
		if len(ds) != 1 || ids(ds[0].Firing) != "a1,a1e" {
			t.Fatalf("critical breaks through at once with the group: %+v", ds)
		}
		if v := testutil.ToFloat64(h.gauge(t, "salespulse_alert_held")); v != 0 {
			t.Fatalf("held after break-through: %v", v)
		}
	})
	q := QuietHours{From: "20:00", To: "08:00", Weekends: true, TimeZone: "UTC"}
	c := Config{Hooks: digestHook(func(c *HookConfig) { c.QuietHours = []QuietHours{q} })}
	c.SetDefaults()
	g := &grouper{cfg: &c.Hooks[0]}
	ag := &aggGroup{}
	fri := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at, end time.Time
	}{
		{fri, fri},
		{fri.Add(90 * time.Minute), time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}, // Friday night to Monday 08:00
		{time.Date(2026, 11, 30, 7, 59, 30, 0, time.UTC), time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)},
	} {
		end := tc.at
		if g.quietAt(ag, tc.at) {
			end = g.quietEnd(ag, tc.at)
		}
		if !end.Equal(tc.end) {
			t.Errorf("quiet end after %v: %v, want %v", tc.at, end, tc.end)
		}
	}
}

// An alert consumed but not yet in a delivered digest is redelivered
// after a restart: its offset is committed only by the flush.
func TestDigestRestartRedelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		feed := newFakeFeed()
		rec := &recorder{}
		h := startHarness(t, now, digestHook(nil), feed, rec)
		msgs := []Message{slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now),
			slaAlert("a2", "team-3", "rep-2", "lead_response_sla", schemas.AlertFiring, now)}
		h.send(msgs...)
		time.Sleep(10 * time.Second) // within group_wait
		stopAt := time.Now()
		h.stop()
		if d := time.Since(stopAt); d > time.Second {
			t.Errorf("stop waited %v for held alerts: they are not in progress, the next run gets them again", d)
		}
		if len(rec.digests(t)) != 0 || feed.committedAlerts() != -1 {
			t.Fatalf("stopped within group_wait: %d digests, committed %d", len(rec.digests(t)), feed.committedAlerts())
		}

		// The next run reads from the committed offset: everything again.
		t1 := time.Now()
		feed2 := newFakeFeed()
		h2 := startHarness(t, now, digestHook(nil), feed2, rec)
		defer h2.stop()
		h2.send(msgs...)
		at(t1, 31*time.Second)
		ds := rec.digests(t)
		if len(ds) != 1 || ids(ds[0].Firing) != "a1,a2" || feed2.committedAlerts() != 1 {
			t.Fatalf("after restart: %+v, committed %d", ds, feed2.committedAlerts())
		}
	})
}

// A digest the hook refuses is parked alert by alert; the parked alerts
// come back into their group and go out in a later digest.
func TestDigestParkedComesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		rec := &recorder{status: func(n int) int {
			if n == 0 {
				return 503
			}
			return 200
		}}
		h := startHarness(t, now, digestHook(func(c *HookConfig) { c.MaxAttempts = 1 }), newFakeFeed(), rec)
		defer h.stop()
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now))
		at(t0, 31*time.Second)
		if h.feed.committedAlerts() != 0 {
			t.Fatalf("parked alert's offset not committed: %d", h.feed.committedAlerts())
		}
		at(t0, 5*time.Minute+31*time.Second) // park_delay 30s, then the group_interval tick
		ds := rec.digests(t)
		if len(ds) != 2 || ids(ds[1].Firing) != "a1" {
			t.Fatalf("after parking: %+v", ds)
		}
		if v := testutil.ToFloat64(h.gauge(t, "salespulse_alert_held")); v != 0 {
			t.Fatalf("parked delivery still held: %v", v)
		}
	})
}

func TestDigestConfigValidate(t *testing.T) {
	f := func(name string, mod func(*HookConfig), want error) {
		t.Helper()
		c := Config{Hooks: digestHook(mod)}
		if err := c.Validate(); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	f("valid", nil, nil)
	f("unknown group label", func(c *HookConfig) { c.GroupBy = []string{"region"} }, ErrGroupLabel)
	f("alertmanager groups itself", func(c *HookConfig) { c.Type = HookAlertmanager }, ErrAMGrouping)
	f("quiet hours without groups", func(c *HookConfig) { c.GroupBy = nil; c.QuietHours = []QuietHours{{Weekends: true}} }, ErrQuietNoDigest)
	f("bad clock", func(c *HookConfig) { c.QuietHours = []QuietHours{{From: "8pm", To: "08:00"}} }, ErrClock)
	f("half a period", func(c *HookConfig) { c.QuietHours = []QuietHours{{From: "20:00"}} }, ErrRequired)
	f("bad zone", func(c *HookConfig) { c.QuietHours = []QuietHours{{Weekends: true, TimeZone: "Mars/Olympus"}} }, ErrTimeZone)
	f("bad recipient", func(c *HookConfig) { c.Routes = []RouteConfig{{Recipient: "ceo"}} }, ErrRecipient)
	f("bad route severity", func(c *HookConfig) { c.Routes = []RouteConfig{{MinSeverity: "urgent"}} }, ErrSeverity)
	f("bad break_through", func(c *HookConfig) { c.BreakThrough = "loud" }, ErrSeverity)
	f("pending in digests", func(c *HookConfig) { c.Pending = true }, ErrPendingDigest)
	f("negative group_wait", func(c *HookConfig) { c.GroupWait = -time.Second }, ErrNotPositive)
}

func TestDigestPayloads(t *testing.T) {
	d := &Digest{Kind: "digest", GroupKey: "g1", GroupLabels: map[string]string{"team": "team-3"}, Title: "Team team-3: 2 leads past SLA",
		Firing: []Message{testMessage(schemas.AlertFiring), testMessage(schemas.AlertFiring)}, Resolved: []Message{}, Reason: reasonInitial, At: now}
	d.Firing[1].ID, d.Firing[1].Severity = "def", "critical"
	req, err := slack{url: "http://s"}.digest(context.Background(), d, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(req.Body)
	if !strings.Contains(string(b), `"text":"Team team-3: 2 leads past SLA"`) || strings.Count(string(b), "lead_response_sla") != 2 {
		t.Fatalf("slack digest %s", b)
	}
	req, _ = pagerDuty{url: "http://pd", routingKey: "rk"}.digest(context.Background(), d, now)
	var pd map[string]any
	_ = json.NewDecoder(req.Body).Decode(&pd)
	if pd["dedup_key"] != "g1" || pd["event_action"] != "trigger" || pd["payload"].(map[string]any)["severity"] != "critical" {
		t.Fatalf("pagerduty digest %v", pd)
	}
	d.Resolved, d.Firing = d.Firing, nil
	req, _ = pagerDuty{url: "http://pd", routingKey: "rk"}.digest(context.Background(), d, now)
	pd = nil
	_ = json.NewDecoder(req.Body).Decode(&pd)
	if pd["event_action"] != "resolve" {
		t.Fatalf("pagerduty digest of resolved alerts %v", pd)
	}
	req, _ = webhook{url: "http://w", secret: []byte("k")}.digest(context.Background(), d, now)
	if req.Header.Get("Idempotency-Key") != "g1:"+strconv.FormatInt(now.UnixMilli(), 10) || req.Header.Get(SignatureHeader) == "" {
		t.Fatalf("webhook digest headers %v", req.Header)
	}
}

// Without send_resolved a group whose alerts all resolved sends nothing
// more, and resolved alerts stay out of digests.
func TestDigestWithoutSendResolved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		rec := &recorder{}
		no := false
		h := startHarness(t, now, digestHook(func(c *HookConfig) { c.SendResolved = &no }), newFakeFeed(), rec)
		defer h.stop()
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now),
			slaAlert("a2", "team-3", "rep-1", "lead_response_sla", schemas.AlertFiring, now))
		at(t0, time.Minute)
		h.send(slaAlert("a1", "team-3", "rep-1", "lead_response_sla", schemas.AlertResolved, now.Add(time.Minute)))
		at(t0, 6*time.Minute)
		h.send(slaAlert("a2", "team-3", "rep-1", "lead_response_sla", schemas.AlertResolved, now.Add(time.Minute)))
		at(t0, 20*time.Minute)
		ds := rec.digests(t)
		if len(ds) != 1 || ids(ds[0].Firing) != "a1,a2" || h.feed.committedAlerts() != 3 {
			t.Fatalf("digests %+v, committed %d", ds, h.feed.committedAlerts())
		}
		if v := testutil.ToFloat64(h.gauge(t, "salespulse_alert_groups")); v != 0 {
			t.Fatalf("groups left %v", v)
		}
	})
}
