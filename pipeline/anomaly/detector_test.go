package anomaly

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/pipeline/anomaly/matrix"
	"github.com/salespulse/salespulse/schemas"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func testOrg() *schemas.Index {
	return schemas.NewIndex(&schemas.Org{
		Teams: []schemas.Team{
			{ID: "team-01", ManagerID: "mgr-01", Region: "emea"},
			{ID: "team-02", ManagerID: "mgr-02", Region: "na"},
		},
		Reps: []schemas.Rep{
			{ID: "mgr-01", TeamID: "team-01", Role: "manager"},
			{ID: "mgr-02", TeamID: "team-02", Role: "manager"},
			{ID: "dir-01", TeamID: "team-01", Role: "director"},
			{ID: "ae-1", TeamID: "team-01", Role: "ae"},
			{ID: "ae-2", TeamID: "team-01", Role: "ae"},
			{ID: "ae-3", TeamID: "team-01", Role: "ae"},
			{ID: "sdr-1", TeamID: "team-02", Role: "sdr"},
		},
	})
}

type harness struct {
	t     *testing.T
	stage *Stage
	reg   *prometheus.Registry
	det   *Detectors
	off   int64
	seq   int
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarnessDeps(t, cfg, Deps{})
}

func newHarnessDeps(t *testing.T, cfg Config, deps Deps) *harness {
	t.Helper()
	m, err := matrix.Load("testdata/matrix.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d, err := New(cfg, m, testOrg(), deps, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, stage: d.NewStage(), reg: reg, det: d}
}

// run processes events as one batch and returns the alerts it raised.
func (h *harness) run(events ...schemas.Interaction) []schemas.Alert {
	h.t.Helper()
	b := schemas.NewBatch(schemas.Origin{Topic: "in", Partition: 0, FirstOffset: h.off, LastOffset: h.off + int64(len(events)) - 1}, nil)
	h.off += int64(len(events))
	for _, e := range events {
		if e.EventID == "" {
			h.seq++
			e.EventID = fmt.Sprintf("ev-%d", h.seq)
		}
		b.Interactions = append(b.Interactions, e)
	}
	if err := h.stage.Process(h.t.Context(), b); err != nil {
		h.t.Fatal(err)
	}
	return b.Alerts
}

// metric is the value of the counter or gauge name whose labels include
// the given name, value pairs, gathered from reg; 0 when there is none.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k := 0; k+1 < len(labels); k += 2 {
				if have[labels[k]] != labels[k+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// tick is an unrelated event that only moves the watermark.
func tick(at time.Time) schemas.Interaction {
	return schemas.Interaction{Type: schemas.TypeMessageOutbound, OccurredAt: at, RepID: "ae-3", TeamID: "team-01", Channel: schemas.ChannelEmail}
}

func quoteEv(id, rep string, at time.Time, disc, list float64) schemas.Interaction {
	return schemas.Interaction{EventID: id, Type: schemas.TypeQuoteCreated, OccurredAt: at, RepID: rep, AccountID: "acc-1",
		Channel: schemas.ChannelCRM, Has: schemas.HasDiscount | schemas.HasListPrice | schemas.HasAmount,
		DiscountPct: disc, ListPrice: list, Amount: list * (1 - disc/100)}
}

func requestEv(apr, rep string, at time.Time, disc, list float64) schemas.Interaction {
	i := quoteEv("", rep, at, disc, list)
	i.EventID, i.Type, i.ApprovalID, i.ApproverID = "", schemas.TypeApprovalRequested, apr, "mgr-01"
	return i
}

func decideEv(apr, rep, approver string, at time.Time, disc float64, ok bool) schemas.Interaction {
	i := requestEv(apr, rep, at, disc, 10000)
	i.Type, i.ApproverID, i.Has, i.Approved = schemas.TypeApprovalDecided, approver, i.Has|schemas.HasApproved, ok
	return i
}

// brief renders alerts as "rule state subject" for comparison.
func brief(as []schemas.Alert) []string {
	var out []string
	for _, a := range as {
		subj := a.Values["quote_event_id"] + a.Values["lead_id"]
		if strings.HasPrefix(a.Rule, "approval_") || subj == "" {
			subj = a.Values["approval_id"]
		}
		if subj == "" {
			subj = a.RepID
		}
		out = append(out, a.Rule+" "+a.State.String()+" "+subj)
	}
	return out
}

func expect(t *testing.T, got []schemas.Alert, want ...string) {
	t.Helper()
	if g := brief(got); !slices.Equal(g, want) {
		t.Fatalf("alerts:\n  got  %q\n  want %q", g, want)
	}
}

func TestDiscountAuthority(t *testing.T) {
	h := newHarness(t, Config{})
	// At the boundaries nothing fires: 10 % needs no approval, 25 % is
	// within max_pct (it needs approval, requested and approved below).
	expect(t, h.run(quoteEv("q10", "ae-1", t0, 10, 10000)))
	expect(t, h.run(quoteEv("q25", "ae-1", t0, 25, 10000), requestEv("apr-25", "ae-1", t0.Add(5*time.Minute), 25, 10000)))
	expect(t, h.run(decideEv("apr-25", "ae-1", "mgr-01", t0.Add(2*time.Hour), 25, true)))

	a := h.run(quoteEv("q25.5", "ae-1", t0.Add(3*time.Hour), 25.5, 10000))
	expect(t, a, "discount_beyond_authority firing q25.5")
	if a[0].ManagerID != "mgr-01" || a[0].TeamID != "team-01" || a[0].Severity != schemas.SeverityCritical ||
		a[0].Values["max_pct"] != "25" || !slices.Equal(a[0].EventIDs, []string{"q25.5"}) || a[0].ID != AlertID(RuleDiscountBeyondAuthority, "q25.5") {
		t.Fatalf("alert %+v", a[0])
	}
	if strings.Contains(a[0].Summary, "acc-1") {
		t.Fatalf("summary leaks more than needed: %s", a[0].Summary)
	}
	// No request within 1h: fires once the watermark passes q+1h (+1m out of order).
	expect(t, h.run(tick(t0.Add(4*time.Hour+time.Minute))))
	expect(t, h.run(tick(t0.Add(4*time.Hour+time.Minute+time.Millisecond))), "discount_without_approval firing q25.5")
	// A late approval by a manager resolves it, but a manager may approve 25 % only.
	expect(t, h.run(
		requestEv("apr-x", "ae-1", t0.Add(5*time.Hour), 25.5, 10000),
		decideEv("apr-x", "ae-1", "mgr-01", t0.Add(6*time.Hour), 25.5, true),
	), "approval_beyond_authority firing apr-x", "discount_without_approval resolved q25.5")
}

func TestDiscountApprovalOutcomes(t *testing.T) {
	h := newHarness(t, Config{})
	expect(t, h.run(
		quoteEv("q1", "ae-1", t0, 20, 10000),
		requestEv("apr-1", "ae-1", t0.Add(59*time.Minute), 20, 10000),
		decideEv("apr-1", "ae-1", "mgr-01", t0.Add(3*time.Hour), 20, false),
	), "discount_without_approval firing q1")
	// A director may approve 35 % (max_pct 40), yet the AE's quote is beyond their authority.
	expect(t, h.run(
		quoteEv("q2", "ae-1", t0.Add(4*time.Hour), 35, 10000),
		requestEv("apr-2", "ae-1", t0.Add(4*time.Hour+time.Minute), 35, 10000),
		decideEv("apr-2", "ae-1", "dir-01", t0.Add(5*time.Hour), 35, true),
	), "discount_beyond_authority firing q2")
	// An approver missing from the org file has no authority.
	expect(t, h.run(
		quoteEv("q3", "ae-2", t0.Add(6*time.Hour), 12, 10000),
		requestEv("apr-3", "ae-2", t0.Add(6*time.Hour+time.Minute), 12, 10000),
		decideEv("apr-3", "ae-2", "stranger", t0.Add(7*time.Hour), 12, true),
	), "approval_beyond_authority firing apr-3")
	// The quote names its approval: no matching on amounts needed.
	q := quoteEv("q4", "ae-2", t0.Add(8*time.Hour), 12, 10000)
	q.ApprovalID = "apr-4"
	r := requestEv("apr-4", "ae-2", t0.Add(8*time.Hour+time.Minute), 99, 10000) // a different discount on purpose
	expect(t, h.run(q, r, decideEv("apr-4", "ae-2", "mgr-01", t0.Add(9*time.Hour), 12, true)))
}

func TestDiscountMissingData(t *testing.T) {
	h := newHarness(t, Config{})
	noDisc := quoteEv("q1", "ae-1", t0, 0, 10000)
	noDisc.Has = schemas.HasListPrice
	noRep := quoteEv("q2", "", t0, 40, 10000)
	unknownRole := quoteEv("q3", "nobody", t0, 40, 10000)
	derived := quoteEv("q4", "ae-1", t0, 0, 10000)
	derived.Has, derived.Amount = schemas.HasListPrice|schemas.HasAmount, 6000 // 40 %
	expect(t, h.run(noDisc, noRep, unknownRole, derived), "discount_beyond_authority firing q4")
	for reason, n := range map[string]float64{"quote_without_discount": 1, "quote_without_rep": 1, "no_matrix_entry": 1} {
		if got := metric(t, h.reg, "salespulse_anomaly_skipped_total", "reason", reason); got != n {
			t.Errorf("skipped %s = %v, want %v", reason, got, n)
		}
	}
}

func leadEv(typ schemas.Type, id, rep string, at time.Time, ch schemas.Channel) schemas.Interaction {
	return schemas.Interaction{Type: typ, LeadID: id, RepID: rep, TeamID: "team-01", OccurredAt: at, Channel: ch}
}

func TestLeadSLA(t *testing.T) {
	h := newHarness(t, Config{OutOfOrder: time.Nanosecond * 1})
	// Answered at the deadline exactly: in time.
	expect(t, h.run(
		leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelCRM),
		leadEv(schemas.TypeMessageOutbound, "L1", "ae-1", t0.Add(30*time.Minute), schemas.ChannelEmail),
	))
	// One millisecond late: fires at the deadline and resolves at the answer,
	// even though the watermark had not passed the deadline before.
	a := h.run(
		leadEv(schemas.TypeMessageInbound, "L2", "ae-1", t0.Add(time.Hour), schemas.ChannelEmail),
		leadEv(schemas.TypeMessageOutbound, "L2", "ae-1", t0.Add(90*time.Minute+time.Millisecond), schemas.ChannelEmail),
	)
	expect(t, a, "lead_response_sla firing L2", "lead_response_sla resolved L2")
	if !a[0].At.Equal(t0.Add(90*time.Minute)) || !a[1].EndsAt.Equal(t0.Add(90*time.Minute+time.Millisecond)) || a[1].At != a[0].At || a[0].ID != a[1].ID {
		t.Fatalf("times: %+v", a)
	}
	// Never answered: the watermark fires the SLA, then the 4× escalation.
	expect(t, h.run(leadEv(schemas.TypeCallInbound, "L3", "", t0.Add(2*time.Hour), schemas.ChannelPhone)))
	a = h.run(tick(t0.Add(2*time.Hour + 31*time.Minute)))
	expect(t, a, "lead_response_sla firing L3")
	if a[0].ManagerID != "mgr-01" || a[0].RepID != "" {
		t.Fatalf("a lead without rep pages its team's manager: %+v", a[0])
	}
	expect(t, h.run(leadEv(schemas.TypeCallInbound, "L3", "", t0.Add(2*time.Hour+40*time.Minute), schemas.ChannelPhone))) // still waiting: no new clock
	expect(t, h.run(tick(t0.Add(4*time.Hour+time.Millisecond))), "lead_response_sla_escalated firing L3")
	expect(t, h.run(leadEv(schemas.TypeMeetingHeld, "L3", "ae-2", t0.Add(5*time.Hour), schemas.ChannelMeeting)),
		"lead_response_sla resolved L3", "lead_response_sla_escalated resolved L3")
	// An answer to a lead nobody is waiting on, and events without lead, do nothing.
	expect(t, h.run(leadEv(schemas.TypeCallOutbound, "L9", "ae-1", t0.Add(6*time.Hour), schemas.ChannelPhone)))
}

func TestLeadSLAOverrides(t *testing.T) {
	cfg := Config{SLA: SLAConfig{
		Channels:       map[string]time.Duration{"phone": 10 * time.Minute},
		Teams:          map[string]TeamSLA{"team-02": {Default: 2 * time.Hour}},
		EscalateFactor: -1,
	}}
	h := newHarness(t, cfg)
	team2 := leadEv(schemas.TypeLeadCreated, "L2", "sdr-1", t0, schemas.ChannelCRM)
	team2.TeamID = "team-02"
	expect(t, h.run(leadEv(schemas.TypeCallInbound, "L1", "ae-1", t0, schemas.ChannelPhone), team2))
	expect(t, h.run(tick(t0.Add(11*time.Minute+time.Millisecond))), "lead_response_sla firing L1")
	a := h.run(tick(t0.Add(5 * time.Hour)))
	expect(t, a, "lead_response_sla firing L2")
	if a[0].ManagerID != "mgr-02" || a[0].Values["sla"] != "2h0m0s" {
		t.Fatalf("%+v", a[0])
	}
}

func TestApprovalBacklog(t *testing.T) {
	h := newHarness(t, Config{})
	expect(t, h.run(
		requestEv("apr-1", "ae-1", t0, 5, 1000),
		requestEv("apr-2", "ae-1", t0, 5, 1000),
		decideEv("apr-1", "ae-1", "mgr-01", t0.Add(24*time.Hour), 5, true), // exactly 24 h: in time
	))
	expect(t, h.run(tick(t0.Add(24*time.Hour+time.Minute+time.Millisecond))), "approval_backlog firing apr-2")
	expect(t, h.run(decideEv("apr-2", "ae-1", "mgr-01", t0.Add(30*time.Hour), 5, false)), "approval_backlog resolved apr-2")
	// Decided late before the watermark got there: firing and resolved at once.
	expect(t, h.run(
		requestEv("apr-3", "ae-1", t0.Add(31*time.Hour), 5, 1000),
		decideEv("apr-3", "ae-1", "mgr-01", t0.Add(55*time.Hour+time.Millisecond), 5, true),
	), "approval_backlog firing apr-3", "approval_backlog resolved apr-3")
	// A decision for a request we never saw is not a backlog.
	expect(t, h.run(decideEv("apr-old", "ae-1", "mgr-01", t0.Add(60*time.Hour), 5, true)))
}

func TestDiscountOutlier(t *testing.T) {
	h := newHarness(t, Config{Outliers: OutlierConfig{MinTeamSamples: 30, MinRepSamples: 5}, Activity: ActivityConfig{Disabled: true}})
	at := t0
	var evs []schemas.Interaction
	for k := 0; k < 40; k++ { // two reps quoting 2..8 %
		at = at.Add(time.Minute)
		evs = append(evs, quoteEv(fmt.Sprintf("n%d", k), []string{"ae-1", "ae-2"}[k%2], at, float64(2+k%7), 1000))
	}
	expect(t, h.run(evs...))
	// ae-3 quotes 9 % four times: not enough samples, then 9 % is not far
	// off; 24 % medians are.
	evs = evs[:0]
	for k := 0; k < 4; k++ {
		at = at.Add(time.Minute)
		evs = append(evs, quoteEv(fmt.Sprintf("h%d", k), "ae-3", at, 24, 1000))
	}
	expect(t, h.run(evs...))
	a := h.run(quoteEv("h4", "ae-3", at.Add(time.Minute), 24, 1000))
	expect(t, a, "discount_outlier firing ae-3")
	if a[0].Values["rep_samples"] != "5" || a[0].ID != AlertID(RuleDiscountOutlier, "ae-3", "h4") {
		t.Fatalf("%+v", a[0])
	}
	// Back to normal: the rep's median drops and the alert resolves once.
	evs = evs[:0]
	for k := 0; k < 8; k++ {
		at = at.Add(time.Minute)
		evs = append(evs, quoteEv(fmt.Sprintf("b%d", k), "ae-3", at.Add(time.Minute), 4, 1000))
	}
	expect(t, h.run(evs...), "discount_outlier resolved ae-3")
}

func TestActivityDrop(t *testing.T) {
	h := newHarness(t, Config{Outliers: OutlierConfig{Disabled: true}, SLA: SLAConfig{Disabled: true},
		Activity: ActivityConfig{Window: time.Hour, MinExpected: 5, MinWindows: 3}})
	touch := func(rep string, at time.Time) schemas.Interaction {
		return schemas.Interaction{Type: schemas.TypeCallOutbound, RepID: rep, TeamID: "team-01", OccurredAt: at, Channel: schemas.ChannelPhone}
	}
	hourOf := func(h0 int, perRep map[string]int) []schemas.Interaction {
		var evs []schemas.Interaction
		start := t0.Add(time.Duration(h0) * time.Hour)
		for _, rep := range []string{"ae-1", "ae-2", "ae-3"} {
			for k := 0; k < perRep[rep]; k++ {
				evs = append(evs, touch(rep, start.Add(time.Duration(k)*time.Minute)))
			}
		}
		slices.SortFunc(evs, func(a, b schemas.Interaction) int { return a.OccurredAt.Compare(b.OccurredAt) })
		return evs
	}
	normal := map[string]int{"ae-1": 12, "ae-2": 12, "ae-3": 12}
	for hr := 0; hr < 4; hr++ {
		expect(t, h.run(hourOf(hr, normal)...))
	}
	// The night: everybody is quiet, nobody dropped.
	expect(t, h.run(tick(t0.Add(14*time.Hour))))
	expect(t, h.run(hourOf(15, map[string]int{"ae-1": 12, "ae-2": 12, "ae-3": 1})...))
	a := h.run(tick(t0.Add(16*time.Hour + 2*time.Minute)))
	expect(t, a, "activity_drop firing ae-3")
	if a[0].Values["events"] != "1" || !a[0].At.Equal(t0.Add(16*time.Hour)) {
		t.Fatalf("%+v", a[0])
	}
	expect(t, h.run(hourOf(17, normal)...))
	expect(t, h.run(tick(t0.Add(18*time.Hour+2*time.Minute))), "activity_drop resolved ae-3")
}

func TestReplaySameAlertsAndRedelivery(t *testing.T) {
	events := []schemas.Interaction{
		quoteEv("q1", "ae-1", t0, 40, 10000),
		leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelCRM),
		requestEv("apr-1", "ae-2", t0.Add(time.Minute), 5, 1000),
		leadEv(schemas.TypeCallOutbound, "L1", "ae-1", t0.Add(45*time.Minute), schemas.ChannelPhone),
		tick(t0.Add(26 * time.Hour)),
	}
	for k := range events {
		events[k].EventID = fmt.Sprintf("e%d", k)
	}
	all := newHarness(t, Config{}).run(events...)
	one := newHarness(t, Config{})
	var split []schemas.Alert
	for _, e := range events {
		split = append(split, one.run(e)...)
	}
	if len(all) != 5 || fmt.Sprint(all) != fmt.Sprint(split) {
		t.Fatalf("batching changed the alerts:\n%v\n%v", all, split)
	}
	// A redelivered batch does not change state and yields the same rows.
	h := newHarness(t, Config{})
	b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: 0, LastOffset: 4}, nil)
	b.Interactions = events
	h.stage.Process(t.Context(), b)
	first := b.Alerts
	b2 := schemas.NewBatch(b.Origin, nil)
	b2.Interactions = events
	h.stage.Process(t.Context(), b2)
	if fmt.Sprint(first) != fmt.Sprint(b2.Alerts) {
		t.Fatalf("redelivery: %v vs %v", first, b2.Alerts)
	}
	if n := metric(t, h.reg, "salespulse_anomaly_alerts_total", "rule", RuleLeadResponseSLA, "state", "firing", "severity", "warning"); n != 1 {
		t.Fatalf("metric counted %v SLA firings", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"negative out of order":    {OutOfOrder: -1},
		"unknown channel":          {SLA: SLAConfig{Channels: map[string]time.Duration{"fax": time.Minute}}},
		"escalation factor 1":      {SLA: SLAConfig{EscalateFactor: 1}},
		"clear above threshold":    {Outliers: OutlierConfig{Threshold: 2, ClearBelow: 3}},
		"rep window > team window": {Outliers: OutlierConfig{TeamWindow: 5, RepWindow: 10, MinTeamSamples: 3}},
		"drop ratio 1":             {Activity: ActivityConfig{DropRatio: 1}},
	} {
		c.SetDefaults()
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "anomaly.") {
			t.Errorf("%s: %v: the error does not start with its YAML path", name, err)
		}
	}
	var c Config
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Behind the lead topics a partition's clock is its slowest upstream's
// (Batch.Progress, set by the window): an event of a faster upstream far
// ahead must not fire a deadline the slower one may still meet.
func TestLeadSLAFollowsProgress(t *testing.T) {
	m, err := matrix.Load("testdata/matrix.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{OutOfOrder: time.Nanosecond}, m, testOrg(), Deps{Progress: true}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := d.NewStage()
	off := int64(0)
	run := func(progress time.Time, events ...schemas.Interaction) []schemas.Alert {
		t.Helper()
		b := schemas.NewBatch(schemas.Origin{Topic: "leads", FirstOffset: off, LastOffset: off + int64(len(events)) - 1}, nil)
		off += int64(len(events))
		for k, e := range events {
			e.EventID = fmt.Sprintf("p-%d-%d", off, k)
			b.Interactions = append(b.Interactions, e)
		}
		b.Progress = progress
		if err := st.Process(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		return b.Alerts
	}
	expect(t, run(t0,
		leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelCRM),
		tick(t0.Add(5*time.Hour)), // a fast upstream's event
	))
	// The answer comes from the slow upstream, in time.
	expect(t, run(t0.Add(20*time.Minute), leadEv(schemas.TypeCallOutbound, "L1", "ae-1", t0.Add(20*time.Minute), schemas.ChannelPhone)))
	expect(t, run(t0.Add(5*time.Hour), tick(t0.Add(time.Hour))))
	// An unanswered lead fires once progress passes its deadline.
	expect(t, run(t0.Add(5*time.Hour), leadEv(schemas.TypeLeadCreated, "L2", "ae-1", t0.Add(5*time.Hour), schemas.ChannelCRM)))
	expect(t, run(t0.Add(5*time.Hour+29*time.Minute), tick(t0.Add(5*time.Hour))))
	expect(t, run(t0.Add(5*time.Hour+31*time.Minute), tick(t0.Add(5*time.Hour))), "lead_response_sla firing L2")
}

// progressStage is a stage behind the lead topics (Deps.Progress) that
// checkpoints into e: a new one on the same e is a restart.
func progressStage(t *testing.T, e *storeEnv) *Stage {
	t.Helper()
	m, err := matrix.Load("testdata/matrix.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{OutOfOrder: time.Nanosecond}, m, testOrg(), Deps{State: e, Progress: true}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d.NewStage()
}

// Behind the lead topics a lead's events come from many upstreams,
// interleaved as they happen to run. An inbound call at +10 min is part
// of the wait the lead's creation opened, answered at +20 min; applied in
// arrival order after that answer, it opened a second wait that no answer
// ever closed, and paged. The SLA detector holds events back until the
// progress reaches them and applies them in event-time order, so every
// order pages the same, also across a restart while an event is held.
func TestLeadSLAOrderFollowsEventTime(t *testing.T) {
	created := leadEv(schemas.TypeLeadCreated, "L1", "ae-1", t0, schemas.ChannelCRM)
	created.EventID = "created"
	inbound := leadEv(schemas.TypeCallInbound, "L1", "ae-1", t0.Add(10*time.Minute), schemas.ChannelPhone)
	inbound.EventID = "inbound"
	answer := leadEv(schemas.TypeCallOutbound, "L1", "ae-1", t0.Add(20*time.Minute), schemas.ChannelPhone)
	answer.EventID = "answer"
	type step struct {
		progress time.Duration
		events   []schemas.Interaction
	}
	orders := map[string][]step{
		"event-time order": {{0, []schemas.Interaction{created}}, {25 * time.Minute, []schemas.Interaction{inbound, answer}}},
		"answer first":     {{0, []schemas.Interaction{created}}, {0, []schemas.Interaction{answer}}, {25 * time.Minute, []schemas.Interaction{inbound}}},
		"in one batch":     {{0, []schemas.Interaction{created}}, {25 * time.Minute, []schemas.Interaction{answer, inbound}}},
	}
	for name, steps := range orders {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restart=%v", name, restart), func(t *testing.T) {
				e := newStoreEnv()
				detector := func() *Stage { return progressStage(t, e) }
				st := detector()
				off := int64(0)
				var alerts []schemas.Alert
				run := func(progress time.Duration, events ...schemas.Interaction) {
					t.Helper()
					b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: off, LastOffset: off + int64(max(len(events), 1)) - 1}, nil)
					off += int64(max(len(events), 1))
					b.Interactions = append(b.Interactions, events...)
					b.Progress = t0.Add(progress)
					if err := st.Process(t.Context(), b); err != nil {
						t.Fatal(err)
					}
					alerts = append(alerts, b.Alerts...)
				}
				for k, s := range steps {
					if restart && k == len(steps)-1 {
						st = detector()
					}
					run(s.progress, s.events...)
				}
				run(5*time.Hour, tick(t0.Add(5*time.Hour)))
				expect(t, alerts)
				for k, v := range e.records(t, "in", 0) {
					if k[0] != kindHeld {
						continue
					}
					// A key keeps its versions since the committed offset;
					// the latest must say it is gone.
					vers, err := detect.DecodeVersions(v)
					if err != nil {
						t.Fatal(err)
					}
					if vers[len(vers)-1].Val != nil {
						t.Fatalf("held record %x still holds events after the progress passed every event", k)
					}
				}
			})
		}
	}
}

// A catch-up's batch holds back thousands of events: they are saved in
// chunks that fit a Kafka record, and all come back after a restart.
func TestLeadSLAHeldEventsChunked(t *testing.T) {
	e := newStoreEnv()
	detector := func() *Stage { return progressStage(t, e) }
	const n = 5000 // ~60 bytes each: three chunks
	b := schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: 0, LastOffset: n - 1}, nil)
	for k := range n {
		x := leadEv(schemas.TypeLeadCreated, fmt.Sprintf("L%04d", k), "ae-1", t0.Add(time.Duration(k)*time.Second), schemas.ChannelCRM)
		x.EventID = fmt.Sprintf("created-%04d", k)
		b.Interactions = append(b.Interactions, x)
	}
	b.Progress = t0.Add(-time.Minute)
	if err := detector().Process(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for k, v := range e.records(t, "in", 0) {
		if k[0] == kindHeld {
			chunks++
			if len(v) > heldChunk+4096 {
				t.Errorf("record %x: %d bytes", k, len(v))
			}
		}
	}
	if chunks < 2 {
		t.Fatalf("%d held records, want the batch's events in chunks", chunks)
	}
	// After a restart every lead is opened and pages at its deadline.
	b = schemas.NewBatch(schemas.Origin{Topic: "in", FirstOffset: n, LastOffset: n}, nil)
	b.Interactions = append(b.Interactions, tick(t0.Add(5*time.Hour)))
	b.Progress = t0.Add(5 * time.Hour)
	if err := detector().Process(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	fired := 0
	for _, a := range b.Alerts {
		if a.Rule == RuleLeadResponseSLA && a.State == schemas.AlertFiring {
			fired++
		}
	}
	if fired != n {
		t.Fatalf("%d leads paged after the restart, want %d", fired, n)
	}
}
