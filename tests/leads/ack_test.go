package leads

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/salespulse/salespulse/internal/testenv"
	"github.com/salespulse/salespulse/pipeline/anomaly"
	"github.com/salespulse/salespulse/pipeline/anomaly/detect"
	"github.com/salespulse/salespulse/schemas"
)

// Acknowledgement stops escalation (issue 13): two leads breach their SLA
// on a quiet stream at the same wall-clock deadline; the manager
// acknowledges one through the HTTP API, which looks the alert's lead up
// in ClickHouse and writes an alert.acknowledged event to the canonical
// topic. At the escalation deadline only the other lead escalates; the
// acknowledged breach is re-emitted (same id, still firing) with who and
// when. Alert ids are those of the rule, lead and trigger event, as a
// replay computes them.
func TestAckStopsEscalation(t *testing.T) {
	in := startInfra(t)
	const topic = "ack.canonical"
	createTopic(t, in, topic)
	c := appConfig(in, "ack", map[string]string{topic: "canonical"})
	c.Leads.TickAfter = time.Second
	c.Anomaly.OutOfOrder = time.Second
	// An SLA of 6 s and its escalation at 3× (18 s): both deadlines come
	// by on the wall clock within the test.
	c.Anomaly.SLA.Default = 6 * time.Second
	c.Anomaly.SLA.EscalateFactor = 3
	c.Alerts.Ack.Listen = "127.0.0.1:0"
	c.Alerts.Ack.Token = "ack-token"
	org := &schemas.Org{Teams: []schemas.Team{{ID: "t1", ManagerID: "m1"}},
		Reps: []schemas.Rep{{ID: "r1", TeamID: "t1"}, {ID: "m1", TeamID: "t1", Role: "manager"}}}

	r := runApp(t, c, org)
	ctx, reg, stop := r.ctx, r.reg, r.stop

	cl := mustClient(t, kgo.SeedBrokers(in.kafka.Addrs()...))
	produce := func(i schemas.Interaction) {
		t.Helper()
		i.Source = "test"
		i.Normalize()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(i.LeadID), Value: schemas.AppendJSON(nil, &i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	trigger := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	escalation := trigger.Add(18 * time.Second)
	for _, l := range []string{"L-acked", "L-open"} {
		produce(schemas.Interaction{EventID: "trig-" + l, OccurredAt: trigger, Type: schemas.TypeLeadCreated, RepID: "r1", TeamID: "t1", LeadID: l})
	}

	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{in.chAddr}, Protocol: clickhouse.HTTP})
	defer db.Close()
	// waitFor polls query (one count) until it is at least 1.
	waitFor := func(what string, limit time.Time, query string, args ...any) {
		t.Helper()
		for {
			var n uint64
			err := db.QueryRow(query, args...).Scan(&n)
			if err == nil && n > 0 {
				return
			}
			if err != nil && err != sql.ErrNoRows {
				t.Logf("query: %v", err)
			}
			if time.Now().After(limit) {
				t.Fatalf("%s: not there by %s", what, limit.Format(time.TimeOnly))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	breach := detect.AlertID(anomaly.RuleLeadResponseSLA, "L-acked", "trig-L-acked")
	waitFor("both breaches", trigger.Add(6*time.Second+30*time.Second),
		"SELECT count() FROM ack.alerts WHERE rule = 'lead_response_sla' AND state = 'firing' AND id IN (?, ?)",
		breach, detect.AlertID(anomaly.RuleLeadResponseSLA, "L-open", "trig-L-open"))
	if time.Now().After(escalation.Add(-3 * time.Second)) {
		t.Skipf("the breaches came %s before the escalation deadline: too close to test an acknowledgement in time", time.Until(escalation))
	}

	// The manager acknowledges L-acked's breach through the API; the lead
	// comes from the alerts table.
	ackURL := "http://" + r.AckAddr() + "/api/v1/alerts/" + breach + "/ack"
	post := func(token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", ackURL, strings.NewReader(`{"by":"m1"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %s", r.Status)
	}
	resp := post("ack-token")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ack: %s", resp.Status)
	}
	acked := time.Now()
	waitFor("the acknowledged breach", escalation.Add(30*time.Second),
		"SELECT count() FROM ack.alerts WHERE id = ? AND state = 'firing' AND `values`['acknowledged_by'] = 'm1'", breach)

	// The other lead escalates at the wall-clock deadline.
	waitFor("the escalation of L-open", escalation.Add(30*time.Second),
		"SELECT count() FROM ack.alerts WHERE rule = 'lead_response_sla_escalated' AND state = 'firing' AND id = ?",
		detect.AlertID(anomaly.RuleLeadResponseEscalated, "L-open", "trig-L-open"))
	// An answer after the escalation deadline fires a due escalation that
	// has not fired yet before it resolves the breach: once L-acked's
	// breach is resolved, its escalation has had every chance to fire.
	produce(schemas.Interaction{EventID: "answer-L-acked", OccurredAt: escalation.Add(5 * time.Second), Type: schemas.TypeCallOutbound,
		RepID: "r1", TeamID: "t1", LeadID: "L-acked"})
	waitFor("L-acked answered", escalation.Add(60*time.Second),
		"SELECT count() FROM ack.alerts WHERE id = ? AND state = 'resolved'", breach)
	var n uint64
	if err := db.QueryRow("SELECT count() FROM ack.alerts WHERE rule = 'lead_response_sla_escalated' AND `values`['lead_id'] = 'L-acked'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the acknowledged lead escalated (%d rows, %v)", n, err)
	}
	var at string
	var ev []string
	if err := db.QueryRow("SELECT `values`['acknowledged_at'], event_ids FROM ack.alerts FINAL WHERE id = ?", breach).Scan(&at, &ev); err != nil {
		t.Fatal(err)
	}
	ackAt, err := time.Parse(time.RFC3339Nano, at)
	if err != nil || ackAt.Before(acked.Add(-5*time.Second)) || ackAt.After(acked) || len(ev) != 3 || !strings.HasPrefix(ev[1], "ack-") {
		t.Fatalf("acknowledged_at %q (posted %s), event ids %v: %v", at, acked.Format(time.RFC3339Nano), ev, err)
	}
	if got := testenv.SumMetric(reg, "salespulse_anomaly_acks_total", "outcome", "applied"); got != 1 {
		t.Fatalf("applied acknowledgements: %v", got)
	}
	if got := testenv.SumMetric(reg, "salespulse_ack_requests_total", "outcome", "accepted"); got != 1 {
		t.Fatalf("accepted requests: %v", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
