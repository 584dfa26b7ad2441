package kafkaio

import (
	"strconv"
	"testing"
	"time"

	"github.com/salespulse/salespulse/schemas"
)

// benchAlerts are n alerts shaped like the detectors' (a 32-hex id, a
// sentence, five or six values, one or two evidence ids), a third of them
// resolved.
func benchAlerts(n int) []schemas.Alert {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	out := make([]schemas.Alert, n)
	for k := range out {
		rep := "rep-" + strconv.Itoa(k%320)
		at := t0.Add(time.Duration(k) * 1537 * time.Millisecond)
		a := schemas.Alert{
			ID: strconv.FormatUint(uint64(k)*0x9e3779b97f4a7c15, 16) + "0123456789abcdef"[:16-k%3], Rule: "lead_response_sla",
			State: schemas.AlertFiring, Severity: schemas.SeverityWarning,
			RepID: rep, TeamID: "team-" + strconv.Itoa(k%40), ManagerID: "mgr-" + strconv.Itoa(k%40),
			Summary:  "Lead L-" + strconv.Itoa(k) + " assigned to " + rep + " had no response within 5m0s of 2026-11-02T09:00:00Z.",
			EventIDs: []string{"evt-" + strconv.Itoa(k), "evt-" + strconv.Itoa(k+1)},
			Values: map[string]string{
				"lead_id": "L-" + strconv.Itoa(k), "sla": "5m0s", "created_at": at.Format(time.RFC3339Nano),
				"deadline": at.Add(5 * time.Minute).Format(time.RFC3339Nano), "channel": "crm",
			},
			At: at,
		}
		if k%3 == 2 {
			a.State, a.EndsAt = schemas.AlertResolved, at.Add(17*time.Minute+250*time.Millisecond)
			a.Values["answered_by"] = "evt-" + strconv.Itoa(k+7)
		}
		out[k] = a
	}
	return out
}

// BenchmarkAlertRecords encodes the alerts of one batch as Kafka records
// (the CPU AlertProducer.Write spends before producing): 354 alerts, those
// of a 2,000-event batch at the 177,000 alerts per million events of
// issue 17. One op is one batch.
//
//	go test ./internal/kafkaio -run '^$' -bench AlertRecords -count=8 | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkAlertRecords(b *testing.B) {
	alerts := benchAlerts(354)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if _, buf, err = alertRecords("sales.alerts", alerts, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(alerts)), "ns/alert")
}
