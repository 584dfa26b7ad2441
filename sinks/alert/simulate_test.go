package alert

import (
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

func simMsg(id, rule, state, sev, rep, mgr string, at time.Time) Message {
	st := map[string]schemas.AlertState{"firing": schemas.AlertFiring, "resolved": schemas.AlertResolved}[state]
	return Message{ID: id, Rule: rule, State: state, Severity: sev, RepID: rep, TeamID: "t1", ManagerID: mgr,
		At: at, Version: uint64(at.UnixMilli())*4 + uint64(st)}
}

func TestSimulatePagesAsTheDispatcherGroups(t *testing.T) {
	t0 := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	cfg := Config{Hooks: []HookConfig{
		{Name: "reps", Type: HookSlack, Routes: []RouteConfig{{Rules: []string{"lead_response_sla"}, Recipient: RecipientRep}}},
		{Name: "managers", Type: HookSlack, Routes: []RouteConfig{{Rules: []string{"lead_response_sla_escalated"}, Recipient: RecipientManager}},
			GroupBy: []string{"recipient"}, GroupWait: time.Minute, GroupInterval: time.Hour, RepeatInterval: 24 * time.Hour},
	}}
	msgs := []Message{
		simMsg("e2", "lead_response_sla_escalated", "firing", "critical", "r2", "m1", t0.Add(30*time.Second)),
		simMsg("s1", "lead_response_sla", "firing", "warning", "r1", "m1", t0),
		simMsg("e1", "lead_response_sla_escalated", "firing", "critical", "r1", "m1", t0),
		simMsg("e3", "lead_response_sla_escalated", "firing", "critical", "r1", "m1", t0.Add(10*time.Minute)),
		simMsg("e1", "lead_response_sla_escalated", "resolved", "critical", "r1", "m1", t0.Add(20*time.Minute)),
	}
	pages, err := Simulate(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	// reps: s1 alone. managers: e1+e2 after group_wait (09:01); e3 and
	// e1's resolution at the next group_interval tick (10:01); the firing
	// e2, e3 never resolve and leave after resolve_after (24h), before the
	// repeat_interval tick that would re-send them (24h01 after 10:01).
	want := []struct {
		hook, rcpt string
		at         time.Time
		firing     int
		resolved   int
	}{
		{"reps", "rep:r1", t0, 1, 0},
		{"managers", "manager:m1", t0.Add(time.Minute), 2, 0},
		{"managers", "manager:m1", t0.Add(61 * time.Minute), 2, 1},
	}
	if len(pages) != len(want) {
		t.Fatalf("got %d pages, want %d: %+v", len(pages), len(want), pages)
	}
	for k, w := range want {
		p := pages[k]
		if p.Hook != w.hook || p.Recipient.String() != w.rcpt || !p.At.Equal(w.at) || len(p.Firing) != w.firing || len(p.Resolved) != w.resolved {
			t.Errorf("page %d = %+v, want %+v", k, p, w)
		}
	}
	if !pages[1].Digest || pages[1].Severity != "critical" || pages[1].Reason != reasonInitial || pages[2].Reason != reasonUpdate {
		t.Errorf("digest pages: %+v", pages[1:])
	}
}

func TestSimulateQuietHoursHoldTheFlush(t *testing.T) {
	night := time.Date(2026, 11, 3, 22, 0, 0, 0, time.UTC)
	cfg := Config{Hooks: []HookConfig{{Name: "managers", Type: HookWebhook, GroupBy: []string{"recipient"},
		Routes:     []RouteConfig{{Recipient: RecipientManager}},
		QuietHours: []QuietHours{{From: "20:00", To: "08:00"}}}}}
	pages, err := Simulate(cfg, []Message{simMsg("e1", "lead_response_sla_escalated", "firing", "critical", "r1", "m1", night)})
	if err != nil {
		t.Fatal(err)
	}
	// Held to 08:00; repeated every repeat_interval (4h) at the next
	// group_interval (5m) tick; the 20:15 repeat falls into the night and
	// is held to 08:00, when the alert has passed resolve_after (24h).
	day := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)
	want := []time.Time{day, day.Add(4*time.Hour + 5*time.Minute), day.Add(8*time.Hour + 10*time.Minute)}
	if len(pages) != len(want) {
		t.Fatalf("pages %+v, want %v", pages, want)
	}
	for k, w := range want {
		if !pages[k].At.Equal(w) {
			t.Errorf("page %d at %s, want %s", k, pages[k].At, w)
		}
	}
}

// A lead answered a minute after its SLA, before its rep's digest went
// out, is still in the digest (as resolved): Alertmanager would send
// nothing for a group that never notified and has nothing firing.
func TestSimulateSendsAlertsThatResolvedBeforeTheFirstFlush(t *testing.T) {
	t0 := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	hook := HookConfig{Name: "reps", Type: HookSlack, GroupBy: []string{"recipient"}, GroupWait: 5 * time.Minute,
		Routes: []RouteConfig{{Rules: []string{"lead_response_sla"}, Recipient: RecipientRep}}}
	msgs := []Message{
		simMsg("s1", "lead_response_sla", "firing", "warning", "r1", "m1", t0),
		simMsg("s1", "lead_response_sla", "resolved", "warning", "r1", "m1", t0.Add(time.Minute)),
	}
	pages, err := Simulate(Config{Hooks: []HookConfig{hook}}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || len(pages[0].Resolved) != 1 || len(pages[0].Firing) != 0 || !pages[0].At.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("pages %+v, want one at group_wait carrying s1 resolved", pages)
	}
	off := false
	hook.SendResolved = &off
	if pages, err = Simulate(Config{Hooks: []HookConfig{hook}}, msgs); err != nil || len(pages) != 0 {
		t.Fatalf("without send_resolved: pages %+v, err %v; want none", pages, err)
	}
}

// An alert held by quiet hours longer than resolve_after (a Friday
// evening's, quiet over the weekend) still goes out when they end.
func TestSimulateQuietWeekendKeepsUnsentAlerts(t *testing.T) {
	fri := time.Date(2026, 11, 27, 17, 50, 0, 0, time.UTC)
	cfg := Config{Hooks: []HookConfig{{Name: "reps", Type: HookSlack, GroupBy: []string{"recipient"}, GroupWait: 15 * time.Minute,
		Routes:     []RouteConfig{{Recipient: RecipientRep}},
		QuietHours: []QuietHours{{From: "18:00", To: "08:00", Weekends: true}}}}}
	pages, err := Simulate(cfg, []Message{simMsg("s1", "lead_response_sla", "firing", "warning", "r1", "m1", fri)})
	if err != nil {
		t.Fatal(err)
	}
	mon := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	if len(pages) == 0 || !pages[0].At.Equal(mon) || len(pages[0].Firing) != 1 {
		t.Fatalf("pages %+v, want the first on Monday 08:00 carrying s1", pages)
	}
}
