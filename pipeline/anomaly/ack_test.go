package anomaly

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

// ackEv is an alert.acknowledged of lead's alert of rule, whose trigger
// was the event trig, by a Slack user (no rep of the org).
func ackEv(lead, rule, trig string, at time.Time) schemas.Interaction {
	return schemas.Interaction{EventID: "ack-" + lead, Type: schemas.TypeAlertAcknowledged, LeadID: lead, OccurredAt: at,
		Channel: schemas.ChannelCRM, ApprovalID: detect.AlertID(rule, lead, trig), ApproverID: "slack:U024BE7LH"}
}

func created(lead string, at time.Time) schemas.Interaction {
	i := leadEv(schemas.TypeLeadCreated, lead, "ae-1", at, schemas.ChannelCRM)
	i.EventID = "trig-" + lead
	return i
}

// An acknowledgement between the SLA breach and the escalation deadline:
// the breach alert is re-emitted, same id and At, still firing, with who
// and when; the escalation never fires; the answer resolves the breach.
func TestAckBeforeEscalationStopsIt(t *testing.T) {
	h := newHarness(t, Config{OutOfOrder: time.Nanosecond})
	expect(t, h.run(created("L1", t0), created("L2", t0)))
	fired := h.run(tick(t0.Add(31 * time.Minute)))
	expect(t, fired, "lead_response_sla firing L1", "lead_response_sla firing L2")

	a := h.run(ackEv("L1", RuleLeadResponseSLA, "trig-L1", t0.Add(40*time.Minute)))
	expect(t, a, "lead_response_sla firing L1")
	if a[0].ID != fired[0].ID || !a[0].At.Equal(fired[0].At) || a[0].Values["acknowledged_at"] != "2026-11-02T09:40:00Z" ||
		a[0].Values["acknowledged_by"] != "slack:U024BE7LH" || a[0].EventIDs[len(a[0].EventIDs)-1] != "ack-L1" {
		t.Fatalf("re-emitted breach: %+v", a[0])
	}
	// Past the 4× deadline (2 h): only the unacknowledged lead escalates.
	expect(t, h.run(tick(t0.Add(3*time.Hour))), "lead_response_sla_escalated firing L2")
	expect(t, h.run(leadEv(schemas.TypeCallOutbound, "L1", "ae-1", t0.Add(4*time.Hour), schemas.ChannelPhone)),
		"lead_response_sla resolved L1")
	if n := metric(t, h.reg, "salespulse_anomaly_acks_total", "outcome", "applied"); n != 1 {
		t.Fatalf("applied acks = %v", n)
	}
}

// Acknowledged after the escalation deadline: the escalation fires (at its
// deadline, first if the watermark had not reached it) and both alerts
// only gain the values. Unknown leads, alerts of another episode and
// repeats change nothing and are counted by outcome.
func TestAckAfterEscalationChangesOnlyValues(t *testing.T) {
	h := newHarness(t, Config{OutOfOrder: time.Minute})
	expect(t, h.run(created("L1", t0)))
	expect(t, h.run(tick(t0.Add(32*time.Minute))), "lead_response_sla firing L1")
	// The watermark is at 1h59m: the escalation (2 h) has not fired yet.
	a := h.run(tick(t0.Add(2 * time.Hour)))
	expect(t, a)
	a = h.run(ackEv("L1", RuleLeadResponseSLA, "trig-L1", t0.Add(2*time.Hour+30*time.Second)))
	expect(t, a, "lead_response_sla_escalated firing L1", "lead_response_sla firing L1")
	if !a[0].At.Equal(t0.Add(2*time.Hour)) || a[0].Values["acknowledged_by"] != "slack:U024BE7LH" || a[1].Values["acknowledged_at"] != "2026-11-02T11:00:30Z" {
		t.Fatalf("%+v", a)
	}
	expect(t, h.run(tick(t0.Add(5*time.Hour))))

	expect(t, h.run(ackEv("L1", RuleLeadResponseEscalated, "trig-L1", t0.Add(5*time.Hour))))                                       // repeated
	expect(t, h.run(ackEv("L9", RuleLeadResponseSLA, "trig-L9", t0.Add(5*time.Hour))))                                             // unknown lead
	expect(t, h.run(created("L3", t0.Add(5*time.Hour)), ackEv("L3", RuleLeadResponseSLA, "old", t0.Add(5*time.Hour+time.Minute)))) // an earlier episode's alert
	expect(t, h.run(tick(t0.Add(8*time.Hour))), "lead_response_sla firing L3", "lead_response_sla_escalated firing L3")
	for outcome, want := range map[string]float64{"after_escalation": 1, "repeated": 1, "unknown_lead": 1, "other_alert": 1, "applied": 0} {
		if n := metric(t, h.reg, "salespulse_anomaly_acks_total", "outcome", outcome); n != want {
			t.Errorf("%s acks = %v, want %v", outcome, n, want)
		}
	}
}

// The acknowledgement is in the lead's checkpoint: a new process restored
// from the store does not queue the escalation of an acknowledged lead.
func TestAckSurvivesRestore(t *testing.T) {
	env := newStoreEnv()
	cfg := Config{OutOfOrder: time.Nanosecond}
	s := env.detector(t, cfg).NewStage()
	b := func(off int64, ev ...schemas.Interaction) testBatch {
		return testBatch{origin: schemas.Origin{Topic: "in", FirstOffset: off, LastOffset: off + int64(len(ev)) - 1}, events: ev}
	}
	expect(t, process(t, s, b(0, created("L1", t0), created("L2", t0))))
	expect(t, process(t, s, b(2, tick(t0.Add(31*time.Minute)))), "lead_response_sla firing L1", "lead_response_sla firing L2")
	expect(t, process(t, s, b(3, ackEv("L2", RuleLeadResponseSLA, "trig-L2", t0.Add(35*time.Minute)))), "lead_response_sla firing L2")
	env.commit(0, 4)

	s = env.detector(t, cfg).NewStage() // deploy: state from the store
	expect(t, process(t, s, b(4, tick(t0.Add(3*time.Hour)))), "lead_response_sla_escalated firing L1")
}

// A lead record written before acknowledgements existed (no trailing
// field) still decodes, and escalates as it did.
func TestOldLeadCheckpointDecodes(t *testing.T) {
	h := newHarness(t, Config{OutOfOrder: time.Nanosecond})
	// The layout of a lead record before the acknowledgement field.
	v := []byte{1}                 // codec version
	v = binary.AppendUvarint(v, 7) // gen
	v = detect.AppendTime(v, t0)
	v = detect.AppendStrs(v, "trig-L1", "ae-1", "team-01")
	v = append(v, byte(schemas.ChannelCRM))
	v = binary.AppendVarint(v, int64(30*time.Minute))
	v = detect.AppendTracked(v, nil)
	v = detect.AppendTracked(v, nil)

	p := h.det.r.NewPartition(schemas.Origin{Topic: "in"})
	k := detect.Key{Kind: kindLead, ID: "L1"}
	if err := p.Decode(k, v); err != nil {
		t.Fatalf("old record: %v", err)
	}
	if again := p.Encode(nil, k); string(again) != string(v) {
		t.Fatalf("an unacknowledged lead no longer encodes as before:\n%x\n%x", again, v)
	}
	l := slaOf(t, p).leads["L1"]
	if l == nil || !l.ackAt.IsZero() || l.gen != 7 || l.event != "trig-L1" {
		t.Fatalf("decoded %+v", l)
	}
	// With the field: it round-trips; a zero time there is corrupt.
	l.ackAt, l.ackBy = t0.Add(time.Hour), "ae-2"
	acked := p.Encode(nil, k)
	q := h.det.r.NewPartition(schemas.Origin{Topic: "in"})
	if err := q.Decode(k, acked); err != nil {
		t.Fatal(err)
	}
	if m := slaOf(t, q).leads["L1"]; !m.ackAt.Equal(l.ackAt) || m.ackBy != "ae-2" {
		t.Fatalf("acked lead decoded as %+v", m)
	}
	bad := detect.AppendStrs(detect.AppendTime(append([]byte(nil), v...), time.Time{}), "x")
	if err := h.det.r.NewPartition(schemas.Origin{}).Decode(k, bad); err == nil {
		t.Fatal("a zero acknowledgement time was accepted")
	}
}

func slaOf(t *testing.T, p *detect.Partition) *slaPart {
	t.Helper()
	for _, st := range p.States() {
		if s, ok := st.(*slaPart); ok {
			return s
		}
	}
	t.Fatal("no SLA detector")
	return nil
}
